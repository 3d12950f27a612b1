//! Writes classic pcap files (little-endian, nanosecond timestamps), for `levee synth` and tests.

use std::io::{self, Write};

/// A pcap writer over any byte sink. Call [`PcapWriter::finish`] to flush.
pub struct PcapWriter<W: Write> {
    out: W,
    snaplen: u32,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header for `linktype` (1 = Ethernet, 101 = raw IP...).
    pub fn new(mut out: W, linktype: u32, snaplen: u32) -> io::Result<PcapWriter<W>> {
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&0xa1b2_3c4du32.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        h[16..20].copy_from_slice(&snaplen.to_le_bytes());
        h[20..24].copy_from_slice(&linktype.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter { out, snaplen })
    }

    /// Writes one packet captured at `ts_nanos` (nanoseconds since 1970), cut to the snapshot
    /// length.
    pub fn write(&mut self, ts_nanos: i64, packet: &[u8]) -> io::Result<()> {
        let caplen = packet.len().min(self.snaplen as usize);
        let ts = ts_nanos.max(0) as u64;
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&((ts / 1_000_000_000) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&((ts % 1_000_000_000) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(caplen as u32).to_le_bytes());
        h[12..16].copy_from_slice(&(packet.len() as u32).to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(&packet[..caplen])
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}
