//! A log's clients dealt out to several readers of the same log ([`Share`]), so that each
//! reader parses the lines of its own clients only and every client's requests are read by one
//! reader, in the log's order. What a client did is then whole in one place, exactly as one
//! reader would have seen it, and the readers need nothing from each other until they are done.

use std::hash::BuildHasher;
use std::net::IpAddr;

use crate::request::parse_client;

/// One reader's share of a log's clients: those whose client field falls in share `index` of
/// `of` ([`share_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// This reader's share, from 0.
    pub index: u32,
    /// How many shares the clients are dealt into.
    pub of: u32,
}

impl Share {
    /// Every client: one reader.
    pub const WHOLE: Share = Share { index: 0, of: 1 };

    /// Whether the log's clients are dealt out at all.
    pub fn is_whole(&self) -> bool {
        self.of <= 1
    }

    /// Whether the client field `client` is this share's.
    pub fn holds(&self, client: &str) -> bool {
        self.holds_bytes(client.as_bytes())
    }

    /// Whether the client field `client`, as the line's bytes hold it, is this share's. A
    /// field that is not UTF-8 is taken as the reader takes the line, with U+FFFD for bad
    /// bytes, so that its share is the one of the client the parsed request names.
    pub fn holds_bytes(&self, client: &[u8]) -> bool {
        if self.is_whole() {
            return true;
        }
        share_of_field(client, self.of) == self.index
    }
}

/// The share, of `of`, of the client field `client` as the line's bytes hold it (see
/// [`Share::holds_bytes`]).
pub(crate) fn share_of_field(client: &[u8], of: u32) -> u32 {
    if client.is_ascii() {
        share_of(client, of)
    } else {
        share_of(String::from_utf8_lossy(client).as_bytes(), of)
    }
}

/// The share, of `of`, that the client field `client` falls in.
///
/// A field without a `:` is dealt by its bytes: a dotted IPv4 address has one way to be
/// written that levee reads as one (it refuses leading zeros), and a name is its text. One
/// with a `:` is read as an IPv6 address first, which can be written many ways. Hashing the
/// bytes rather than reading every address keeps the dealing cheap: it is done for every line
/// by every reader (reading the address was 9 % of a two-thread analysis in `perf`).
pub fn share_of(client: &[u8], of: u32) -> u32 {
    let v6 = || {
        let text = std::str::from_utf8(client).ok()?;
        match parse_client(text)? {
            IpAddr::V6(a) => Some(u128::from(a)),
            IpAddr::V4(_) => None,
        }
    };
    let h = match client.contains(&b':').then(v6).flatten() {
        Some(v) => (v as u64) ^ ((v >> 64) as u64).rotate_left(17),
        None if client.len() <= 16 => short_hash(client),
        None => foldhash::fast::FixedState::with_seed(0x5eed).hash_one(client),
    };
    // Mixed (foldhash's low bits and an address's high ones are the weak ones), then taken
    // into `0..of` by the multiply-shift that needs no division.
    let mixed = (h ^ (h >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    (((mixed >> 32) * u64::from(of)) >> 32) as u32
}

/// A hash of a field of at most 16 bytes (a dotted IPv4 address, most lines of most logs):
/// its bytes as two words, multiplied together and folded, as foldhash does inside but
/// without its general path, which was the most of dealing a line (26 ns a line in `perf`).
fn short_hash(field: &[u8]) -> u64 {
    let mut b = [0u8; 16];
    b[..field.len()].copy_from_slice(field);
    let lo = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
    let hi = u64::from_le_bytes(b[8..].try_into().expect("8 bytes"));
    let m = u128::from(lo ^ 0x243f_6a88_85a3_08d3)
        * u128::from(hi ^ 0x1319_8a2e_0370_7344 ^ ((field.len() as u64) << 56));
    (m as u64) ^ ((m >> 64) as u64)
}

/// What a line is to a reader of shares, from the bytes a reader keeps of it (at most
/// [`crate::MAX_LINE`] + 1, its end included): one rule for the readers that pass over the
/// other shares' lines and for the dealer that hands each reader its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineKind<'a> {
    /// Blank, or a `#` comment: counted apart, read by none.
    Skipped,
    /// Longer than [`crate::MAX_LINE`]: told as malformed by the first share alone.
    TooLong,
    /// A line whose client field (in common and combined logs) is this first word.
    Client(&'a [u8]),
}

/// What the line whose kept bytes are `kept` is (see [`LineKind`]).
pub(crate) fn line_kind(kept: &[u8]) -> LineKind<'_> {
    let content = kept.trim_ascii();
    if content.is_empty() || content[0] == b'#' {
        LineKind::Skipped
    } else if kept.len() > crate::MAX_LINE {
        LineKind::TooLong
    } else {
        LineKind::Client(first_word(kept))
    }
}

/// The first space-separated word of a line: the client field of common and combined logs,
/// exactly as the parser takes it (only the line's end, `\n` and `\r`, is cut; a `\r` or a
/// tab inside the word stays part of it, or the line would be dealt by another client's name).
pub(crate) fn first_word(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|&c| c != b'\n' && c != b'\r')
        .map_or(0, |i| i + 1);
    let line = &line[..end];
    let start = line.iter().position(|&c| c != b' ').unwrap_or(line.len());
    let rest = &line[start..];
    let end = memchr::memchr(b' ', rest).unwrap_or(rest.len());
    &rest[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_falls_in_exactly_one_share_and_the_shares_are_even() {
        for of in [2u32, 3, 8] {
            let mut counts = vec![0u32; of as usize];
            for i in 0..30_000u32 {
                let client = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
                let holders: Vec<u32> = (0..of)
                    .filter(|&index| Share { index, of }.holds(&client))
                    .collect();
                assert_eq!(holders.len(), 1, "{client} in {holders:?} of {of}");
                counts[holders[0] as usize] += 1;
            }
            let even = 30_000 / of;
            for c in counts {
                assert!(c > even * 9 / 10 && c < even * 11 / 10, "{c} of {even}");
            }
        }
    }

    #[test]
    fn one_address_written_two_ways_is_one_client_and_names_are_dealt_too() {
        for index in 0..4 {
            let s = Share { index, of: 4 };
            assert_eq!(s.holds("2001:db8::1"), s.holds("2001:0db8:0:0::0001"));
            assert_eq!(
                s.holds("crawl-66-249-66-1.googlebot.com"),
                s.holds_bytes(b"crawl-66-249-66-1.googlebot.com")
            );
        }
        assert!(Share::WHOLE.holds("anything"));
        let names = (0..1000)
            .filter(|i| Share { index: 0, of: 2 }.holds(&format!("host{i}.example")))
            .count();
        assert!((400..600).contains(&names), "{names}");
    }

    #[test]
    fn the_first_word_is_the_client_field() {
        assert_eq!(first_word(b"  1.2.3.4 - - [x]"), b"1.2.3.4");
        assert_eq!(first_word(b"1.2.3.4\r\n"), b"1.2.3.4");
        assert_eq!(first_word(b""), b"");
        // A carriage return inside the field is part of it, as the parser reads it (found by
        // the fuzz target: the line was dealt by "-" and parsed as client "-\r").
        assert_eq!(
            first_word(b"-\r [x\r] - - [01/Feb/2026:00:00:00 +0000]\n"),
            b"-\r"
        );
        assert_eq!(first_word(b"-\t\r\n"), b"-\t");
        assert_eq!(first_word(b"\r\n"), b"");
    }
}
