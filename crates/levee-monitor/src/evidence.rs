//! Each incident's packets, kept as a capture for whoever investigates it.
//!
//! The monitor copies the first [`SNAPLEN`] bytes of every packet into a ring of the last
//! [`RING_PACKETS`] packets (fixed slots, allocated once: a copy of a few hundred bytes a
//! packet, no allocation); a monitor fed by flow exports keeps each export datagram whole
//! instead ([`Recent::for_exports`]: a record cut short is a damaged one). When an attack starts, the ring is written to a new capture in the
//! evidence directory (the traffic of the moments before and as it began), and the packets
//! that follow go on being written to it until it holds [`SAMPLE_PACKETS`] packets or the
//! attack ends. A capture is never written over: a later start of the same incident gets a
//! file of its own.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use levee_capture::PcapWriter;

/// Bytes of each packet kept: headers to layer 4 and the start of a payload.
pub const SNAPLEN: usize = 256;
/// Packets the ring holds: the moments before an attack's start, at flood rates.
pub const RING_PACKETS: usize = 16_384;
/// Packets one incident's capture holds at most.
pub const SAMPLE_PACKETS: u64 = 50_000;

/// Bytes of each export datagram kept (as a raw IP packet): a jumbo frame's, so none is cut.
pub const EXPORT_SNAPLEN: usize = 9216;
/// Export datagrams the ring holds: seconds of a router's exports (19 MiB).
pub const RING_EXPORTS: usize = 2048;

/// One packet in the ring (its bytes are the slot's stretch of [`Recent::bytes`]).
#[derive(Clone, Copy, Default)]
struct Slot {
    ts_nanos: i64,
    linktype: u32,
    orig_len: u32,
    len: u16,
}

/// The last packets seen.
pub struct Recent {
    slots: Vec<Slot>,
    /// `snaplen` bytes a slot.
    bytes: Vec<u8>,
    snaplen: usize,
    /// Where the next packet goes.
    head: usize,
    /// Packets held (up to the ring's size).
    held: usize,
}

impl Default for Recent {
    fn default() -> Recent {
        Recent::new()
    }
}

impl Recent {
    /// An empty ring of [`RING_PACKETS`] slots of [`SNAPLEN`] bytes.
    pub fn new() -> Recent {
        Recent::with_size(RING_PACKETS, SNAPLEN)
    }

    /// An empty ring of [`RING_EXPORTS`] export datagrams, whole.
    pub fn for_exports() -> Recent {
        Recent::with_size(RING_EXPORTS, EXPORT_SNAPLEN)
    }

    fn with_size(packets: usize, snaplen: usize) -> Recent {
        let snaplen = snaplen.clamp(1, usize::from(u16::MAX));
        Recent {
            slots: vec![Slot::default(); packets.max(1)],
            bytes: vec![0; packets.max(1) * snaplen],
            snaplen,
            head: 0,
            held: 0,
        }
    }

    /// Bytes kept of each packet.
    pub fn snaplen(&self) -> usize {
        self.snaplen
    }

    /// Keeps `data`'s first bytes.
    #[inline]
    pub fn push(&mut self, ts_nanos: i64, linktype: u32, data: &[u8], orig_len: u32) {
        let n = data.len().min(self.snaplen);
        let at = self.head * self.snaplen;
        self.bytes[at..at + n].copy_from_slice(&data[..n]);
        self.slots[self.head] = Slot {
            ts_nanos,
            linktype,
            orig_len,
            len: n as u16,
        };
        let size = self.slots.len();
        self.head = (self.head + 1) % size;
        self.held = (self.held + 1).min(size);
    }

    /// The packets held, oldest first: (ts, linktype, bytes kept, length on the wire).
    fn oldest_first(&self) -> impl Iterator<Item = (i64, u32, &[u8], u32)> {
        let size = self.slots.len();
        let start = (self.head + size - self.held) % size;
        (0..self.held).map(move |i| {
            let k = (start + i) % size;
            let s = &self.slots[k];
            let at = k * self.snaplen;
            (
                s.ts_nanos,
                s.linktype,
                &self.bytes[at..at + s.len as usize],
                s.orig_len,
            )
        })
    }
}

/// An incident's capture being written.
struct Sample {
    path: PathBuf,
    writer: PcapWriter<BufWriter<File>>,
    linktype: u32,
    /// Bytes kept of each packet, as the ring keeps them (and the file's header says).
    snaplen: usize,
    packets: u64,
}

/// The captures of the incidents whose attacks are going on.
pub struct Samples {
    dir: PathBuf,
    open: HashMap<i64, Sample>,
}

impl Samples {
    /// Captures written to `dir` (created when missing).
    pub fn new(dir: &Path) -> io::Result<Samples> {
        std::fs::create_dir_all(dir)?;
        Ok(Samples {
            dir: dir.to_path_buf(),
            open: HashMap::new(),
        })
    }

    /// Starts incident `id`'s capture with the ring's packets; returns its path and how many
    /// packets it took from the ring. Nothing when one is open for it already.
    pub fn start(&mut self, id: i64, recent: &Recent) -> io::Result<Option<(PathBuf, u64)>> {
        if self.open.contains_key(&id) {
            return Ok(None);
        }
        let Some((_, linktype, _, _)) = recent.oldest_first().last() else {
            return Ok(None);
        };
        // A new file, never one that exists.
        let mut n = 1;
        let (path, file) = loop {
            let name = if n == 1 {
                format!("incident-{id}.pcap")
            } else {
                format!("incident-{id}-{n}.pcap")
            };
            let path = self.dir.join(name);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(f) => break (path, f),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 10_000 => n += 1,
                Err(e) => return Err(e),
            }
        };
        let snaplen = recent.snaplen();
        let mut writer = PcapWriter::new(BufWriter::new(file), linktype, snaplen as u32)?;
        let mut packets = 0;
        // One link type a pcap file: the ring's newest packet's (others are left out).
        for (ts, lt, data, orig) in recent.oldest_first() {
            if lt == linktype {
                writer.write_frame(ts, data, orig)?;
                packets += 1;
            }
        }
        writer.flush()?;
        self.open.insert(
            id,
            Sample {
                path: path.clone(),
                writer,
                linktype,
                snaplen,
                packets,
            },
        );
        Ok(Some((path, packets)))
    }

    /// Whether any capture is being written.
    #[inline]
    pub fn any_open(&self) -> bool {
        !self.open.is_empty()
    }

    /// Adds a packet to every open capture not yet full. A capture that cannot be written is
    /// closed, and its error given.
    pub fn add(
        &mut self,
        ts_nanos: i64,
        linktype: u32,
        data: &[u8],
        orig_len: u32,
    ) -> Vec<(i64, io::Error)> {
        let mut failed = Vec::new();
        for (&id, s) in self.open.iter_mut() {
            if s.packets < SAMPLE_PACKETS && s.linktype == linktype {
                let kept = &data[..data.len().min(s.snaplen)];
                match s.writer.write_frame(ts_nanos, kept, orig_len) {
                    Ok(()) => s.packets += 1,
                    Err(e) => failed.push((id, e)),
                }
            }
        }
        for (id, _) in &failed {
            self.open.remove(id);
        }
        failed
    }

    /// Closes incident `id`'s capture: its path and packets.
    pub fn finish(&mut self, id: i64) -> Option<io::Result<(PathBuf, u64)>> {
        let s = self.open.remove(&id)?;
        Some(s.writer.finish().map(|_| (s.path, s.packets)))
    }

    /// The incidents whose captures are open.
    pub fn open_ids(&self) -> Vec<i64> {
        self.open.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_last_packets_oldest_first_and_cut() {
        let mut r = Recent::new();
        for i in 0..(RING_PACKETS as i64 + 5) {
            r.push(i, 1, &[i as u8; 300], 1500);
        }
        let kept: Vec<_> = r.oldest_first().collect();
        assert_eq!(kept.len(), RING_PACKETS);
        assert_eq!(kept[0].0, 5);
        assert_eq!(kept.last().unwrap().0, RING_PACKETS as i64 + 4);
        assert_eq!(kept[0].2.len(), SNAPLEN);
        assert_eq!(kept[0].3, 1500);
        // Export datagrams are kept whole.
        let mut r = Recent::for_exports();
        r.push(1, 101, &[7u8; 1428], 1428);
        assert_eq!(r.oldest_first().next().unwrap().2, &[7u8; 1428][..]);
    }

    #[test]
    fn packets_added_to_a_sample_are_cut_as_the_ring_cuts_them() {
        const T: i64 = 1_768_478_400_000_000_000;
        let dir = tempfile::tempdir().unwrap();
        let mut r = Recent::new();
        r.push(T, 1, &[0xab; 60], 60);
        let mut s = Samples::new(dir.path()).unwrap();
        let (path, _) = s.start(1, &r).unwrap().unwrap();
        assert!(s.add(T + 1, 1, &[0xcd; 1000], 1000).is_empty());
        s.finish(1).unwrap().unwrap();
        let mut reader = levee_capture::CaptureReader::open(&path).unwrap();
        let mut lengths = Vec::new();
        while let Some(levee_capture::Item::Frame(f)) = reader.next_item() {
            lengths.push((f.data.len(), f.orig_len));
        }
        assert_eq!(lengths, [(60, 60), (SNAPLEN, 1000)]);
    }

    #[test]
    fn a_sample_starts_with_the_ring_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("incident-7.pcap"), "someone's file").unwrap();
        let mut r = Recent::new();
        // Non-zero bytes at a plausible time: the reader takes zero-filled records for a
        // preallocated file's damage.
        const T: i64 = 1_768_478_400_000_000_000;
        for i in 0..10 {
            r.push(T + i, 1, &[0xab; 60], 60);
        }
        let mut s = Samples::new(dir.path()).unwrap();
        let (path, from_ring) = s.start(7, &r).unwrap().unwrap();
        assert_eq!(path, dir.path().join("incident-7-2.pcap"));
        assert_eq!(from_ring, 10);
        assert!(s.start(7, &r).unwrap().is_none(), "one capture at a time");
        assert!(s.add(T + 1_000_000_000, 1, &[0xcd; 60], 60).is_empty());
        assert_eq!(s.finish(7).unwrap().unwrap(), (path.clone(), 11));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("incident-7.pcap")).unwrap(),
            "someone's file"
        );
        let mut reader = levee_capture::CaptureReader::open(&path).unwrap();
        let (mut frames, mut damaged) = (0, 0);
        while let Some(item) = reader.next_item() {
            match item {
                levee_capture::Item::Frame(_) => frames += 1,
                levee_capture::Item::Damaged(_) => damaged += 1,
            }
        }
        assert_eq!((frames, damaged), (11, 0));
    }
}
