//! Analysis for levee: what a capture holds, computed in one pass with bounded memory.
//!
//! * [`sketch`]: the bounded-memory counters every statistic is built on: a Misra-Gries
//!   heavy-hitter table for top-k (sources, destinations, conversations) and a HyperLogLog for
//!   distinct counts. Neither keeps a map keyed by every address, so a flood of five million
//!   spoofed sources costs the same memory as five.
//! * [`summary`]: `levee summary`: totals, protocol hierarchy, top talkers, per-second series
//!   and counts of damaged and undecodable packets.

pub mod sketch;
pub mod summary;

pub use summary::{Summary, SummaryBuilder};
