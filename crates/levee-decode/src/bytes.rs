//! Byte readers shared by the header decoders (link, IP, tunnels, TCP).

/// The big-endian 16-bit number at `at` (the caller has checked the length).
#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
