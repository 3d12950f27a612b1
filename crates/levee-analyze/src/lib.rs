//! Analysis for levee: what a capture holds and what is attacking it, computed in streaming
//! passes with bounded memory.
//!
//! * [`sketch`] and [`bloom`]: the bounded-memory counters every statistic is built on: a
//!   Misra-Gries heavy-hitter table for top-k, a HyperLogLog for distinct counts, a blocked
//!   Bloom filter for "was this flow seen". None keeps a map keyed by every address, so a flood
//!   of five million spoofed sources costs the same memory as five.
//! * [`summary`]: `levee summary`: totals, protocol hierarchy, top talkers, per-second series
//!   and counts of damaged and undecodable packets.
//! * `levee analyze`: [`vector`] classifies each packet into the attack vector it could belong
//!   to; [`analyze`] gathers per-class statistics and evidence in a first pass; [`detect`]
//!   decides which classes hold attacks; [`signature`] builds rule candidates from the header
//!   histograms; [`measure`] counts each attack and each candidate in a second pass (over
//!   every packet, or over the uniform [`sample`] a large capture is measured on) and writes
//!   the [`report::Analysis`] document, each signature also measured on a built-in
//!   [`reference`](mod@reference) of benign traffic every network needs; on request, [`detail`] gathers in the same
//!   pass what `levee report` shows beyond it (timeline, histograms, sample packets).
//! * Parallel runs: each thread has its own [`Analyzer`]; their statistics are merged
//!   ([`Analyzer::merge_stats`]) before detection. Threads that read different stretches of
//!   one capture also learn their neighbours' border traffic ([`Analyzer::teach_frame`]) and
//!   merge their flow filters ([`Analyzer::merge_filters`]) before the second pass.
//! * [`simulate`]: rules applied to the same packets, with what they stop of each attack and
//!   of everything else (`levee simulate`, and the mitigation figures of `levee report`).

#![warn(missing_docs)]

pub mod analyze;
pub mod bloom;
pub mod detail;
pub mod detect;
pub mod evidence;
pub mod measure;
mod pages;
pub mod reference;
pub mod report;
pub mod sample;
pub mod signature;
pub mod simulate;
pub mod stats;
pub mod summary;
pub mod target;
pub mod units;
pub mod vector;

/// The bounded-memory counters, from their own crate.
pub use levee_sketch as sketch;

pub use analyze::{AnalyzeConfig, Analyzer};
pub use measure::Plan;
pub use report::Analysis;
pub use summary::{Summary, SummaryBuilder};
