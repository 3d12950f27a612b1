//! `levee synth`: deterministic (seeded) labelled traffic for tests, benchmarks and the demo.
//!
//! A scenario is a mix of *benign* traffic (web sessions with full TCP handshakes, HTTP and
//! TLS requests, server responses and teardown; DNS lookups) and *attack* traffic, all to one
//! victim network. Packets are produced in timestamp order and written as pcap; the truth is
//! written beside it as a run-length label file (`first,last,label` per run of packets), so a
//! test can check a detector or a rule packet by packet.
//!
//! The same seed gives the same bytes on every platform (ChaCha8 generator).

#![warn(missing_docs)]

mod attacks;
pub mod http;
pub mod http_capture;
mod packets;
pub mod reference;

pub use packets::{client_hello_record, sni_extension};
mod scenario;

pub use attacks::{AttackVector, REFLECTIONS};
pub use scenario::{generate, Background, Scenario, SynthConfig, SynthError, SynthStats};

/// Victim address of every scenario (the same the real attack captures were rewritten to).
pub const VICTIM: [u8; 4] = [10, 10, 10, 10];
/// The victim's DNS resolver.
pub const RESOLVER: [u8; 4] = [10, 10, 10, 53];

/// The resolver of a victim network: `.53` of the victim's /24.
pub fn resolver_of(victim: [u8; 4]) -> [u8; 4] {
    [victim[0], victim[1], victim[2], 53]
}
