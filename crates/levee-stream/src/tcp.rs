//! One direction of a TCP connection put back in sequence order.
//!
//! Segments arrive retransmitted, overlapping and out of order. [`Half`] delivers each byte
//! once, in order, from the first segment it saw; segments ahead of the next expected byte
//! wait (up to a bound), and when the bound is reached or the connection ends the missing
//! bytes are declared lost with [`Chunk::Gap`] so the parser above can find its feet again.

/// Out-of-order bytes held per direction at most.
pub const MAX_HELD_BYTES: usize = 256 * 1024;
/// Out-of-order segments held per direction at most.
pub const MAX_HELD_SEGMENTS: usize = 64;

/// What a direction delivers.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// The next bytes of the stream.
    Data(&'a [u8]),
    /// Bytes that were never captured: the next data does not follow what came before.
    Gap,
}

/// One direction of a connection.
#[derive(Debug, Default)]
pub struct Half {
    /// The sequence number of the next byte to deliver, once known.
    next: Option<u32>,
    /// Segments ahead of `next`: (sequence number, bytes).
    held: Vec<(u32, Vec<u8>)>,
    held_bytes: usize,
    /// Times bytes were declared lost.
    pub gaps: u64,
}

/// `a - b` in sequence space (wrapping), as a signed distance.
fn distance(a: u32, b: u32) -> i64 {
    i64::from(a.wrapping_sub(b) as i32)
}

impl Half {
    /// Takes a segment: `syn` when it carries the SYN flag (which uses one sequence number),
    /// `data` its payload. In-order bytes go to `deliver`.
    pub fn segment(
        &mut self,
        seq: u32,
        syn: bool,
        data: &[u8],
        deliver: &mut dyn FnMut(Chunk<'_>),
    ) {
        let seq = if syn {
            self.next = Some(seq.wrapping_add(1));
            seq.wrapping_add(1)
        } else {
            seq
        };
        if data.is_empty() {
            return;
        }
        let next = *self.next.get_or_insert(seq);
        let ahead = distance(seq, next);
        if ahead <= 0 {
            // In order, or a retransmission that may reach past what was delivered.
            let skip = (-ahead) as usize;
            if skip < data.len() {
                deliver(Chunk::Data(&data[skip..]));
                self.next = Some(seq.wrapping_add(data.len() as u32));
                self.drain(deliver);
            }
            return;
        }
        // Ahead of a hole: hold it, unless too much is held already; then give the hole up.
        if self.held.len() >= MAX_HELD_SEGMENTS || self.held_bytes + data.len() > MAX_HELD_BYTES {
            self.skip_hole(deliver);
            self.segment(seq, false, data, deliver);
            return;
        }
        self.held_bytes += data.len();
        self.held.push((seq, data.to_vec()));
    }

    /// Delivers held segments that now follow in order.
    fn drain(&mut self, deliver: &mut dyn FnMut(Chunk<'_>)) {
        while let Some(next) = self.next {
            let Some(i) = self.held.iter().position(|(s, _)| distance(*s, next) <= 0) else {
                return;
            };
            let (s, bytes) = self.held.swap_remove(i);
            self.held_bytes -= bytes.len();
            let skip = (-distance(s, next)) as usize;
            if skip < bytes.len() {
                deliver(Chunk::Data(&bytes[skip..]));
                self.next = Some(s.wrapping_add(bytes.len() as u32));
            }
        }
    }

    /// Declares the bytes before the earliest held segment lost and goes on from there.
    fn skip_hole(&mut self, deliver: &mut dyn FnMut(Chunk<'_>)) {
        let (Some(next), false) = (self.next, self.held.is_empty()) else {
            return;
        };
        let earliest = self
            .held
            .iter()
            .map(|(s, _)| *s)
            .min_by_key(|s| distance(*s, next))
            .expect("held is not empty");
        self.gaps += 1;
        deliver(Chunk::Gap);
        self.next = Some(earliest);
        self.drain(deliver);
    }

    /// The connection ended: whatever is held follows a hole.
    pub fn close(&mut self, deliver: &mut dyn FnMut(Chunk<'_>)) {
        while !self.held.is_empty() {
            self.skip_hole(deliver);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(h: &mut Half, segs: &[(u32, bool, &[u8])]) -> Vec<String> {
        let mut out = Vec::new();
        for &(seq, syn, data) in segs {
            h.segment(seq, syn, data, &mut |c| {
                out.push(match c {
                    Chunk::Data(d) => String::from_utf8_lossy(d).into_owned(),
                    Chunk::Gap => "<gap>".into(),
                })
            });
        }
        h.close(&mut |c| {
            out.push(match c {
                Chunk::Data(d) => String::from_utf8_lossy(d).into_owned(),
                Chunk::Gap => "<gap>".into(),
            })
        });
        out
    }

    #[test]
    fn out_of_order_and_retransmitted_segments_come_out_once_in_order() {
        let mut h = Half::default();
        let out = run(
            &mut h,
            &[
                (99, true, b""),
                (106, false, b"world"),
                (100, false, b"hello "),
                (100, false, b"hello "),
                (103, false, b"lo wor"),
                (111, false, b"!"),
            ],
        );
        assert_eq!(out.concat(), "hello world!");
        assert_eq!(h.gaps, 0);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut h = Half::default();
        let out = run(&mut h, &[(u32::MAX - 2, false, b"abc"), (0, false, b"def")]);
        assert_eq!(out.concat(), "abcdef");
    }

    #[test]
    fn a_hole_never_filled_is_a_gap_at_the_end() {
        let mut h = Half::default();
        let out = run(&mut h, &[(1, false, b"ab"), (10, false, b"xy")]);
        assert_eq!(out, vec!["ab", "<gap>", "xy"]);
        assert_eq!(h.gaps, 1);
    }

    #[test]
    fn too_much_held_gives_the_hole_up() {
        let mut h = Half::default();
        let mut segs: Vec<(u32, bool, &[u8])> = vec![(0, false, b"a")];
        for i in 0..(MAX_HELD_SEGMENTS as u32 + 1) {
            segs.push((10 + i, false, b"b"));
        }
        let out = run(&mut h, &segs);
        assert_eq!(out[0], "a");
        assert_eq!(out[1], "<gap>");
        assert_eq!(
            out.iter().filter(|s| *s == "b").count(),
            MAX_HELD_SEGMENTS + 1
        );
    }
}
