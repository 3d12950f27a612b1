//! Logs as they are kept: plain, or compressed with gzip or zstd (rotated logs), told apart
//! by their first bytes.

use std::io::{BufRead, BufReader, Read};

/// A byte stream decompressed by what its first bytes say (gzip, zstd or none), and the
/// name of the compression.
pub fn decompressed(
    raw: Box<dyn Read + Send>,
) -> std::io::Result<(Box<dyn BufRead + Send>, &'static str)> {
    let mut raw = BufReader::with_capacity(1 << 16, raw);
    let magic = raw.fill_buf()?;
    Ok(if magic.starts_with(&[0x1f, 0x8b]) {
        let gz = flate2::bufread::MultiGzDecoder::new(raw);
        (Box::new(BufReader::with_capacity(1 << 16, gz)), "gzip")
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let z = zstd::stream::read::Decoder::with_buffer(raw)?;
        (Box::new(BufReader::with_capacity(1 << 16, z)), "zstd")
    } else {
        (Box::new(raw), "none")
    })
}
