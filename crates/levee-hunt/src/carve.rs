//! The flows that hold hits, and a capture of every frame of them (`levee hunt --carve`):
//! the evidence a responder hands on, the conversation whole rather than the frames that
//! matched.

use std::collections::HashSet;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

use levee_capture::{CaptureReader, Item, PcapWriter};
use levee_decode::Packet;

/// Flows kept at most for one file: a hit on a network that a spoofed flood fills would
/// otherwise keep one for each of millions of sources. Past it, no flow is added, and the
/// file's summary says so.
pub const MAX_FLOWS: usize = 1 << 20;

/// A flow in both directions: protocol and the two endpoints in order (ports 0 for a protocol
/// without them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    proto: u8,
    low: (IpAddr, u16),
    high: (IpAddr, u16),
}

impl FlowKey {
    /// The flow of `p`, if it has IP addresses.
    pub fn of(p: &Packet<'_>) -> Option<FlowKey> {
        let ip = p.ip.as_ref()?;
        let (sp, dp) = p.ports().unwrap_or((0, 0));
        Some(FlowKey::new(ip.proto, (ip.src, sp), (ip.dst, dp)))
    }

    /// The flow between `a` and `b` over `proto`, either way.
    pub fn new(proto: u8, a: (IpAddr, u16), b: (IpAddr, u16)) -> FlowKey {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        FlowKey { proto, low, high }
    }
}

/// The flows of one file that hold hits.
#[derive(Debug, Default, Clone)]
pub struct Flows {
    set: HashSet<FlowKey, foldhash::fast::FixedState>,
    /// Flows left out past [`MAX_FLOWS`].
    pub left_out: u64,
}

impl Flows {
    /// Keeps `key`, unless [`MAX_FLOWS`] are kept already.
    pub fn insert(&mut self, key: FlowKey) {
        if self.set.len() < MAX_FLOWS {
            self.set.insert(key);
        } else if !self.set.contains(&key) {
            self.left_out += 1;
        }
    }

    /// Keeps the flow given, if any.
    pub fn extend(&mut self, key: Option<FlowKey>) {
        if let Some(k) = key {
            self.insert(k);
        }
    }

    /// Flows kept.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether no flow is kept.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Whether `key` is kept.
    pub fn contains(&self, key: &FlowKey) -> bool {
        self.set.contains(key)
    }
}

/// What a carve wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Carved {
    /// Frames written.
    pub frames: u64,
    /// Frames of the flows left out because their link type is not the first one's (a pcap
    /// holds one).
    pub other_link_types: u64,
}

/// Writes every frame of the capture at `path` that belongs to one of `flows` to `out`, as a
/// pcap of the link type of the first such frame.
pub fn carve(path: &Path, flows: &Flows, out: impl Write) -> std::io::Result<Carved> {
    let mut reader = CaptureReader::open(path).map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut out = Some(out);
    let mut writer: Option<(u32, PcapWriter<_>)> = None;
    let mut carved = Carved::default();
    while let Some(item) = reader.next_item() {
        let Item::Frame(f) = item else { continue };
        let keep = levee_decode::with_decoded(f.linktype, f.data, f.orig_len, |p| {
            FlowKey::of(p).is_some_and(|k| flows.contains(&k))
        });
        if !keep {
            continue;
        }
        if writer.is_none() {
            let w = PcapWriter::new(out.take().expect("written once"), f.linktype, 262_144)?;
            writer = Some((f.linktype, w));
        }
        let (linktype, w) = writer.as_mut().expect("made above");
        if *linktype != f.linktype {
            carved.other_link_types += 1;
            continue;
        }
        w.write_frame(f.ts_nanos, f.data, f.orig_len)?;
        carved.frames += 1;
    }
    if let Some((_, w)) = writer {
        w.finish()?;
    }
    Ok(carved)
}
