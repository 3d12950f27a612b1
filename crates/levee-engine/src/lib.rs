//! levee's analysis pipeline, for every consumer: the command line, the report, and the live
//! monitor.
//!
//! * [`read`]: inputs to frames. Capture files are opened, merged in time order and handed on
//!   frame by frame; what goes wrong (an input that cannot be opened or is empty, damaged
//!   records) and progress are told to an [`Observer`] as they happen, and the reading says
//!   what it gave ([`Reading`]). No message is printed here: the binary prints.
//! * [`passes`]: both passes of an offline analysis over inputs that can be read twice, behind
//!   one call ([`analyze`]) whatever the threading: the calling thread alone; one plain file
//!   read in parts, a thread per part (`parts`); or packets dealt out to threads by flow
//!   (`dealt`). Each design says in its own module why it is built so and what it measured.
//! * [`stream`]: the same analysis fed packet by packet, for traffic that never ends: window
//!   summaries and attack start, update and end events as they happen, and at the end (or at
//!   any time) the analysis an offline run of the same packets gives.
//!
//! * [`simulate`]: rules run over inputs, beside an analysis of the same packets or alone,
//!   and the report's pass that measures the rules it recommends.
//! * [`requests`]: the requests of a layer-7 analysis, from access logs or reassembled from
//!   the TCP of captures, read once per pass.
//! * [`logs`]: access logs read request by request, what goes wrong told to a
//!   [`logs::LogObserver`], and `levee logs`'s summary of them.
//! * [`spool`]: the requests of a first pass kept on disk for the second, so that a log is
//!   read and parsed once.
//!
//! Everything here is built on `levee-analyze` (what the passes compute) and `levee-capture`
//! (reading); this crate owns only the plumbing between them.

#![warn(missing_docs)]

mod dealt;
pub mod flows;
pub mod logs;
mod parts;
pub mod passes;
pub mod read;
pub mod requests;
pub mod simulate;
pub mod spool;
pub mod stream;

pub use passes::{analyze, Passes};
pub use read::{DamageSink, Inputs, Observer, ReadError, Reading, Silent};
pub use stream::{AttackEvent, Event, Stream, StreamConfig, WindowSummary};
