//! Writes classic pcap files (little-endian, nanosecond timestamps), for `levee synth` and tests,
//! and pcapng files, for tests.

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
        self.write_frame(ts_nanos, packet, packet.len() as u32)
    }

    /// Writes a frame that was `orig_len` bytes on the wire, of which `data` was kept (cut
    /// again to the snapshot length).
    pub fn write_frame(&mut self, ts_nanos: i64, data: &[u8], orig_len: u32) -> io::Result<()> {
        let caplen = data.len().min(self.snaplen as usize);
        let ts = ts_nanos.max(0) as u64;
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&((ts / 1_000_000_000) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&((ts % 1_000_000_000) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(caplen as u32).to_le_bytes());
        h[12..16].copy_from_slice(&orig_len.max(caplen as u32).to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(&data[..caplen])
    }

    /// Flushes what was written so far to the sink, which a reader may then read whole.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes the file and gives back the writer it was written to.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A pcapng writer (little-endian, one section, nanosecond timestamps on every interface), for
/// tests and tools that need pcapng input. Interfaces may be described at any point, as in the
/// files of capture tools that add interfaces while capturing.
pub struct PcapngWriter<W: Write> {
    out: W,
    interfaces: u32,
}

impl<W: Write> PcapngWriter<W> {
    /// Writes the section header block.
    pub fn new(mut out: W) -> io::Result<PcapngWriter<W>> {
        let mut body = 0x1a2b_3c4du32.to_le_bytes().to_vec();
        body.extend(1u16.to_le_bytes()); // version 1.0
        body.extend(0u16.to_le_bytes());
        body.extend((-1i64).to_le_bytes()); // section length not given
        write_block(&mut out, 0x0A0D_0D0A, &body)?;
        Ok(PcapngWriter { out, interfaces: 0 })
    }

    /// Describes an interface of `linktype` and returns its id.
    pub fn add_interface(&mut self, linktype: u16, snaplen: u32) -> io::Result<u32> {
        let mut body = linktype.to_le_bytes().to_vec();
        body.extend(0u16.to_le_bytes());
        body.extend(snaplen.to_le_bytes());
        // if_tsresol = 9: timestamps in nanoseconds.
        body.extend(9u16.to_le_bytes());
        body.extend(1u16.to_le_bytes());
        body.extend([9, 0, 0, 0]);
        body.extend([0, 0, 0, 0]); // end of options
        write_block(&mut self.out, 1, &body)?;
        self.interfaces += 1;
        Ok(self.interfaces - 1)
    }

    /// Writes one packet captured on `interface` at `ts_nanos` (nanoseconds since 1970).
    pub fn write(&mut self, interface: u32, ts_nanos: i64, packet: &[u8]) -> io::Result<()> {
        self.write_frame(interface, ts_nanos, packet, packet.len() as u32)
    }

    /// Writes the first bytes (`data`) of a packet of `orig_len` bytes on the wire.
    pub fn write_frame(
        &mut self,
        interface: u32,
        ts_nanos: i64,
        data: &[u8],
        orig_len: u32,
    ) -> io::Result<()> {
        let ts = ts_nanos.max(0) as u64;
        let mut body = interface.to_le_bytes().to_vec();
        body.extend(((ts >> 32) as u32).to_le_bytes());
        body.extend((ts as u32).to_le_bytes());
        body.extend((data.len() as u32).to_le_bytes());
        body.extend(orig_len.max(data.len() as u32).to_le_bytes());
        body.extend(data);
        write_block(&mut self.out, 6, &body)
    }

    /// Flushes the file and gives back the writer it was written to.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// One pcapng block: type, length, the body padded to 32 bits, the length again.
fn write_block<W: Write>(out: &mut W, kind: u32, body: &[u8]) -> io::Result<()> {
    let padding = (4 - body.len() % 4) % 4;
    let len = (12 + body.len() + padding) as u32;
    out.write_all(&kind.to_le_bytes())?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(body)?;
    out.write_all(&[0; 3][..padding])?;
    out.write_all(&len.to_le_bytes())
}
