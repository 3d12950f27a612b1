//! A common or combined log read once and its lines dealt out to the readers of its client
//! shares ([`SharedDeal`], [`crate::LogReader::fed`]).
//!
//! Readers of shares that each read the whole log ([`crate::LogReader::set_share`]) each
//! read every line, split it from the next and look at its first word, only to pass over the
//! lines of the other shares: on the 1.3-million-line benchmark log that was 109 ms of every
//! thread's first pass, against some 200 ms of parsing shared between them. Dealt, a log is
//! read, split and looked at once, and each share gets its own lines in blocks; the readers
//! parse only.
//!
//! The readers deal the log themselves: the one whose lines run out reads and deals the next
//! block (for every share) while the others parse. The reader with less to parse (its
//! clients sent fewer requests) so takes on more of the dealing, and no third thread
//! competes for the cores: on two cores, with a thread of its own the dealer left the
//! readers of the benchmark's two shares (0.43 and 0.38 s of parsing) waiting on it or on each
//! other for a tenth of the pass.
//!
//! A dealt reader gives exactly what a reader of its share gives: the same lines in the same
//! order with the same numbers, the same counts (lines, blank and comment lines, requests,
//! malformed lines) and the same error at the same place. Only logs whose format is fixed
//! from their first line are dealt (common and combined, found by the first line or given):
//! in other formats a line's client is known only once it is parsed.

use std::collections::VecDeque;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::share::{line_kind, share_of_field, LineKind};
use crate::MAX_LINE;

/// Bytes read at a time.
const BLOCK: usize = 1 << 18;

/// Blocks dealt to a share and not yet parsed, past which no more is dealt until its reader
/// takes some (memory stays bounded when one share's reader is slower than the others').
const WAITING_AT_MOST: usize = 16;

/// Blocks a reader keeps dealt ahead of its parsing, when no other share is backed up.
const DEAL_AHEAD: usize = 2;

/// One of a share's lines in a [`Batch`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct DealtLine {
    /// Its number in the log, from 1.
    pub line: u64,
    /// Where it is in the batch's block (with its line end); empty when `too_long`.
    pub start: u32,
    pub end: u32,
    /// Longer than [`MAX_LINE`]: not kept, told as malformed (by the first share).
    pub too_long: bool,
}

/// A block of the log and the lines of one share in it, with the counts of the whole log up
/// to the block's end.
#[derive(Debug)]
pub struct Batch {
    pub(crate) block: Arc<Vec<u8>>,
    pub(crate) lines: Vec<DealtLine>,
    /// Lines read, and blank or comment lines, up to the end of the block.
    pub(crate) lines_read: u64,
    pub(crate) skipped: u64,
    /// Why the log could not be read on, after the block.
    pub(crate) error: Option<(std::io::ErrorKind, String)>,
}

/// A log dealt out to the readers of its shares, by the readers themselves (see the module's
/// overview). Made by [`SharedDeal::open`], which gives each share its end ([`DealtShare`]).
pub struct SharedDeal {
    /// The log, read by one reader at a time (the one dealing).
    source: Mutex<Source>,
    queues: Mutex<Queues>,
    /// Told when a share's queue gets a block, loses one, or dealing ends.
    changed: Condvar,
}

/// The log being dealt.
enum Source {
    /// Opened by the first reader to deal (an error opening it is then every share's).
    Unopened(PathBuf),
    Open(Dealing<Box<dyn Read + Send>>),
}

/// The blocks dealt and not yet taken, per share.
struct Queues {
    waiting: Vec<VecDeque<Batch>>,
    /// Shares whose reader has gone: dealt nothing more.
    gone: Vec<bool>,
    /// A reader is reading and dealing a block.
    dealing: bool,
    /// The log has been dealt whole (or could not be read on).
    over: bool,
}

/// One share's end of a [`SharedDeal`]: its blocks, in order, for the reader of the share
/// ([`crate::LogReader::fed`]).
pub struct DealtShare {
    deal: Arc<SharedDeal>,
    share: usize,
}

impl SharedDeal {
    /// The log at `path`, decompressed as a reader decompresses it, dealt out to `shares`
    /// shares: one end per share, in share order ([`crate::Share`] `{ index, of: shares }`).
    /// A log that cannot be opened is told to every share as the error that stops it.
    pub fn open(path: &Path, shares: usize) -> Vec<DealtShare> {
        SharedDeal::ends(Source::Unopened(path.to_path_buf()), shares)
    }

    /// [`SharedDeal::open`] for a stream, already decompressed.
    pub fn of_reader(input: Box<dyn Read + Send>, shares: usize) -> Vec<DealtShare> {
        SharedDeal::of_stream(input, shares, BLOCK)
    }

    /// [`SharedDeal::of_reader`], read `block` bytes at a time.
    fn of_stream(input: Box<dyn Read + Send>, shares: usize, block: usize) -> Vec<DealtShare> {
        SharedDeal::ends(Source::Open(Dealing::new(input, shares, block)), shares)
    }

    fn ends(source: Source, shares: usize) -> Vec<DealtShare> {
        let deal = Arc::new(SharedDeal {
            source: Mutex::new(source),
            queues: Mutex::new(Queues {
                waiting: (0..shares).map(|_| VecDeque::new()).collect(),
                gone: vec![false; shares],
                dealing: false,
                over: false,
            }),
            changed: Condvar::new(),
        });
        (0..shares)
            .map(|share| DealtShare {
                deal: deal.clone(),
                share,
            })
            .collect()
    }

    fn queues(&self) -> MutexGuard<'_, Queues> {
        // A reader that panicked holding the lock left the queues whole: each change is made
        // in full before anything can panic.
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next block of `share`: read and dealt here first when fewer than [`DEAL_AHEAD`]
    /// are waiting, no other reader is dealing and no share is backed up; else taken, or
    /// waited for. `None` once the log is dealt whole.
    fn next(&self, share: usize) -> Option<Batch> {
        let mut q = self.queues();
        loop {
            // Dealt ahead of need: a reader finds its next block waiting, not being read.
            let backed_up = q.waiting.iter().any(|w| w.len() >= WAITING_AT_MOST);
            if q.waiting[share].len() < DEAL_AHEAD && !q.dealing && !q.over && !backed_up {
                q.dealing = true;
                drop(q);
                let (batches, over) = self.deal_block();
                q = self.queues();
                let Queues { waiting, gone, .. } = &mut *q;
                for ((waiting, gone), batch) in waiting.iter_mut().zip(gone.iter()).zip(batches) {
                    if !gone {
                        waiting.push_back(batch);
                    }
                }
                q.over |= over;
                q.dealing = false;
                self.changed.notify_all();
                continue;
            }
            if let Some(batch) = q.waiting[share].pop_front() {
                if backed_up {
                    // A reader may be waiting for this queue to shrink before it deals again.
                    self.changed.notify_all();
                }
                return Some(batch);
            }
            if q.over {
                return None;
            }
            q = self.changed.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Reads and deals the next block: a batch per share, and whether it was the last.
    fn deal_block(&self) -> (Vec<Batch>, bool) {
        let mut source = self.source.lock().unwrap_or_else(|e| e.into_inner());
        let shares = self.queues().waiting.len();
        if let Source::Unopened(path) = &*source {
            let opened = std::fs::File::open(path)
                .and_then(|f| crate::compression::decompressed(Box::new(f)));
            match opened {
                Ok((input, _)) => *source = Source::Open(Dealing::new(input, shares, BLOCK)),
                Err(e) => {
                    let error = (e.kind(), e.to_string());
                    let batches = (0..shares)
                        .map(|_| Batch {
                            block: Arc::new(Vec::new()),
                            lines: Vec::new(),
                            lines_read: 0,
                            skipped: 0,
                            error: Some(error.clone()),
                        })
                        .collect();
                    return (batches, true);
                }
            }
        }
        match &mut *source {
            Source::Open(dealing) => dealing.next_block(),
            Source::Unopened(_) => unreachable!("opened above"),
        }
    }
}

impl DealtShare {
    /// The share's next block, in the log's order; `None` once the log is dealt whole.
    pub(crate) fn next(&self) -> Option<Batch> {
        self.deal.next(self.share)
    }
}

impl Drop for DealtShare {
    /// A reader gone (done, or stopped by an error) is dealt nothing more, and its blocks
    /// waiting are let go: the other readers must not wait for it to take them.
    fn drop(&mut self) {
        let mut q = self.deal.queues();
        if std::thread::panicking() {
            // Its reader panicked, maybe while dealing: the others end rather than wait for
            // a block that will not come (the panic is then raised where they are joined).
            q.over = true;
            q.dealing = false;
        }
        q.gone[self.share] = true;
        q.waiting[self.share].clear();
        self.deal.changed.notify_all();
    }
}

/// The dealing of a stream: its next block read and dealt on each call.
struct Dealing<R> {
    input: R,
    shares: usize,
    block_size: usize,
    dealer: Dealer,
    /// The start of a line that the last block cut.
    carry: Vec<u8>,
    pool: Pool,
}

impl<R: Read> Dealing<R> {
    fn new(input: R, shares: usize, block_size: usize) -> Self {
        Dealing {
            input,
            shares,
            block_size,
            dealer: Dealer {
                lines_read: 0,
                skipped: 0,
                long: None,
            },
            carry: Vec::new(),
            pool: Pool::default(),
        }
    }

    /// Reads the next block and deals its lines, as the readers of [`crate::Share`]
    /// `{ index, of: shares }` would take them: blank and comment lines counted and kept by
    /// none, a line longer than [`MAX_LINE`] to the first share, any other line to the share
    /// of its first word. Returns a batch per share, and whether the log ended or could not
    /// be read on (told in the batches).
    fn next_block(&mut self) -> (Vec<Batch>, bool) {
        let (block_size, of) = (self.block_size, self.shares as u32);
        let mut whole = self.pool.take(self.carry.len() + block_size);
        let kept = self.carry.len();
        whole[..kept].copy_from_slice(&self.carry);
        self.carry.clear();
        let (read, error) = fill(&mut self.input, &mut whole[kept..kept + block_size]);
        let ended = read < block_size;
        // The block's bytes: a pooled buffer holds older bytes past them.
        let filled = kept + read;
        let block = &whole[..filled];
        let mut lines: Vec<Vec<DealtLine>> = vec![Vec::new(); self.shares];
        // Complete lines; the rest waits for the next block (or, at the end, is the last).
        let complete = match memchr::memrchr(b'\n', block) {
            Some(i) => i + 1,
            None => 0,
        };
        let mut start = 0;
        while let Some(i) = memchr::memchr(b'\n', &block[start..complete]) {
            let end = start + i + 1;
            self.dealer.line(block, start, end, &mut lines, of);
            start = end;
        }
        let last = ended && error.is_none();
        if last && complete < block.len() {
            self.dealer
                .line(block, complete, block.len(), &mut lines, of);
        } else if !last {
            self.dealer.cut(&block[complete..], &mut self.carry);
        }
        if last {
            // A long line cut by the end of the log is its last. (A line cut by an error is
            // not read: a reader stops on the error.)
            self.dealer.end_long(&mut lines);
        }
        let block = self.pool.keep(whole);
        let error = error.map(|e| (e.kind(), e.to_string()));
        let over = last || error.is_some();
        let batches = lines
            .into_iter()
            .map(|lines| Batch {
                block: block.clone(),
                lines,
                lines_read: self.dealer.lines_read,
                skipped: self.dealer.skipped,
                error: error.clone(),
            })
            .collect();
        (batches, over)
    }
}

/// Reads until `buf` is full, the input ends or fails; the bytes read, and the error.
fn fill(input: &mut impl Read, buf: &mut [u8]) -> (usize, Option<std::io::Error>) {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return (n, Some(e)),
        }
    }
    (n, None)
}

/// The blocks the readers are done with, read into again: a new block must be zeroed before
/// it is read into (5 % of a dealt reading), a used one need not be.
#[derive(Default)]
struct Pool {
    blocks: Vec<Arc<Vec<u8>>>,
}

/// Blocks kept for reuse: enough for the batches in flight to every reader.
const POOLED: usize = 32;

impl Pool {
    /// A buffer of at least `len` bytes.
    fn take(&mut self, len: usize) -> Vec<u8> {
        let free = self.blocks.iter().position(|b| Arc::strong_count(b) == 1);
        let mut buf = match free.map(|i| Arc::try_unwrap(self.blocks.swap_remove(i))) {
            Some(Ok(buf)) => buf,
            _ => Vec::new(),
        };
        if buf.len() < len {
            buf.resize(len, 0);
        }
        buf
    }

    /// Shares a block with the readers, and keeps it to be read into again once they are
    /// done with it.
    fn keep(&mut self, block: Vec<u8>) -> Arc<Vec<u8>> {
        let block = Arc::new(block);
        if self.blocks.len() < POOLED {
            self.blocks.push(block.clone());
        }
        block
    }
}

struct Dealer {
    lines_read: u64,
    skipped: u64,
    /// A line longer than a block being passed over: its first [`MAX_LINE`] + 1 bytes
    /// (what a reader keeps of it), and whether its end was seen.
    long: Option<Vec<u8>>,
}

impl Dealer {
    /// Deals the line `block[start..end]` (with its line end, if any).
    fn line(
        &mut self,
        block: &[u8],
        start: usize,
        end: usize,
        lines: &mut [Vec<DealtLine>],
        of: u32,
    ) {
        if let Some(mut head) = self.long.take() {
            // The end of a long line: what a reader keeps of it decides whether it is blank.
            let room = (MAX_LINE + 1).saturating_sub(head.len());
            head.extend_from_slice(&block[start..end.min(start + room)]);
            self.whole_line(&head, 0, head.len(), lines, of);
            return;
        }
        self.whole_line(block, start, end, lines, of);
    }

    /// Deals the line `bytes[start..end]`: what a reader keeps of it (its first
    /// [`MAX_LINE`] + 1 bytes) is all that is looked at, as a reader looks.
    fn whole_line(
        &mut self,
        bytes: &[u8],
        start: usize,
        end: usize,
        lines: &mut [Vec<DealtLine>],
        of: u32,
    ) {
        self.lines_read += 1;
        let kept = &bytes[start..end.min(start.saturating_add(MAX_LINE + 1))];
        let (share, line) = match line_kind(kept) {
            LineKind::Skipped => {
                self.skipped += 1;
                return;
            }
            LineKind::TooLong => (0, (0, 0, true)),
            LineKind::Client(c) => (
                share_of_field(c, of) as usize,
                (start as u32, end as u32, false),
            ),
        };
        lines[share].push(DealtLine {
            line: self.lines_read,
            start: line.0,
            end: line.1,
            too_long: line.2,
        });
    }

    /// Keeps the start of a line a block cut: carried into the next block, or past
    /// [`MAX_LINE`], its kept bytes alone while the rest of it is passed over.
    fn cut(&mut self, rest: &[u8], carry: &mut Vec<u8>) {
        match &mut self.long {
            Some(head) => {
                let room = (MAX_LINE + 1).saturating_sub(head.len());
                head.extend_from_slice(&rest[..rest.len().min(room)]);
            }
            None if rest.len() > MAX_LINE => {
                self.long = Some(rest[..MAX_LINE + 1].to_vec());
            }
            None => carry.extend_from_slice(rest),
        }
    }

    /// A long line still open when the log ends is its last line.
    fn end_long(&mut self, lines: &mut [Vec<DealtLine>]) {
        if let Some(head) = self.long.take() {
            let of = lines.len() as u32;
            self.whole_line(&head, 0, head.len(), lines, of);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Entry, FormatSpec, LogReader, Share};

    /// What a reader gave: each entry (a request's target, a malformed line's number and
    /// error, or the error that stopped it) and its counts.
    type Read = (Vec<String>, crate::ReadStats);

    fn drain(r: &mut LogReader) -> Read {
        let mut got = Vec::new();
        while let Some(e) = r.next_entry() {
            match e {
                Ok(Entry::Request(q)) => got.push(format!("{} {}", q.client, q.target)),
                Ok(Entry::Malformed { line, error }) => got.push(format!("{line}: {error}")),
                Ok(Entry::Elsewhere) => {}
                Err(e) => {
                    got.push(format!("stopped: {e}"));
                    break;
                }
            }
        }
        (got, r.stats())
    }

    /// Bytes that fail to read past `at`.
    struct Failing {
        bytes: Vec<u8>,
        at: usize,
        pos: usize,
    }

    impl std::io::Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.pos >= self.at {
                return Err(std::io::Error::other("the disk went away"));
            }
            let n = buf
                .len()
                .min(self.at - self.pos)
                .min(self.bytes.len() - self.pos);
            buf[..n].copy_from_slice(&self.bytes[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    fn input(text: &[u8], fail_at: Option<usize>) -> Failing {
        Failing {
            bytes: text.to_vec(),
            at: fail_at.unwrap_or(usize::MAX),
            pos: 0,
        }
    }

    #[test]
    fn dealt_readers_give_what_readers_of_their_share_give() {
        let mut log = String::new();
        for i in 0..400 {
            log.push_str(&format!(
                "10.{}.{}.{} - - [10/Oct/2000:13:55:36 -0700] \"GET /p{i} HTTP/1.1\" 200 5 \"-\" \"ua\"\r\n",
                i % 3,
                i % 7,
                i % 50
            ));
            match i % 37 {
                0 => log.push_str("garbage line\n\n   \n# a comment\n"),
                1 => log.push_str(
                    "-\r [x] - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1\n",
                ),
                2 => log.push_str(
                    "2001:db8::1 - - [10/Oct/2000:13:55:36 -0700] \"GET /six HTTP/1.1\" 200 1\n",
                ),
                3 => log.push_str(
                    "2001:0db8:0::1 - - [10/Oct/2000:13:55:36 -0700] \"GET /six HTTP/1.1\" 200 1\n",
                ),
                _ => {}
            }
        }
        let mut long = log.clone().into_bytes();
        for client in ["10.0.9.1", "10.0.9.2", "10.0.9.3"] {
            long.extend_from_slice(client.as_bytes());
            long.extend_from_slice(b" - - [10/Oct/2000:13:55:36 -0700] \"GET /");
            long.extend(std::iter::repeat_n(b'a', MAX_LINE + 10));
            long.extend_from_slice(b"\" 200 5\n");
        }
        // Spaces past what a reader keeps of a line, then a word: blank to a reader.
        long.extend(std::iter::repeat_n(b' ', MAX_LINE + 5));
        long.extend_from_slice(b"x\n");
        long.extend_from_slice(
            b"\xff\xfe - - [10/Oct/2000:13:55:36 -0700] \"GET /bytes HTTP/1.1\" 200 1\n",
        );
        long.extend_from_slice(log.as_bytes());
        // The last line without its end, and a long one cut by the end of the log.
        let mut unended = long.clone();
        unended.extend_from_slice(
            b"10.1.1.1 - - [10/Oct/2000:13:55:36 -0700] \"GET /last HTTP/1.1\" 200 5",
        );
        let mut cut_long = log.clone().into_bytes();
        cut_long.extend_from_slice(b"10.2.2.2 ");
        cut_long.extend(std::iter::repeat_n(b'b', MAX_LINE + 3));
        // Ended on a block's end, so that the last read finds nothing more of the line.
        cut_long.resize(cut_long.len().next_multiple_of(4096), b'b');
        let texts: Vec<(&[u8], Option<usize>)> = vec![
            (log.as_bytes(), None),
            (&long, None),
            (&unended, None),
            (&cut_long, None),
            (log.as_bytes(), Some(log.len() / 3)),
            (&long, Some(long.len() / 2)),
        ];
        for (text, fail_at) in texts {
            // Small blocks cut every line; on lines of a megabyte they would take minutes.
            let blocks: &[usize] = if text.len() < MAX_LINE {
                &[5, 300, 4096, BLOCK]
            } else {
                &[4096, BLOCK]
            };
            for of in [2u32, 3] {
                let want: Vec<Read> = (0..of)
                    .map(|index| {
                        let mut r = LogReader::from_reader(
                            "log".into(),
                            Box::new(input(text, fail_at)),
                            FormatSpec::Combined,
                        )
                        .unwrap();
                        r.set_share(Share { index, of });
                        drain(&mut r)
                    })
                    .collect();
                for &block in blocks {
                    let got: Vec<Read> = std::thread::scope(|scope| {
                        let ends = SharedDeal::of_stream(
                            Box::new(input(text, fail_at)),
                            of as usize,
                            block,
                        );
                        let threads: Vec<_> = ends
                            .into_iter()
                            .map(|end| {
                                scope.spawn(move || {
                                    drain(&mut LogReader::fed("log".into(), "none", end))
                                })
                            })
                            .collect();
                        threads.into_iter().map(|t| t.join().unwrap()).collect()
                    });
                    for (index, (w, g)) in want.iter().zip(&got).enumerate() {
                        assert_eq!(
                            w, g,
                            "share {index} of {of}, blocks of {block}, failing at {fail_at:?}"
                        );
                    }
                }
            }
        }
    }

    /// A reader gone early (stopped, or done with what it wanted) holds nobody up: the other
    /// shares' readers still get every line of theirs, however far ahead the dealing is.
    #[test]
    fn a_reader_gone_early_holds_nobody_up() {
        let mut log = String::new();
        for i in 0..5_000 {
            log.push_str(&format!(
                "10.0.{}.{} - - [10/Oct/2000:13:55:36 -0700] \"GET /p{i} HTTP/1.1\" 200 5\n",
                i % 7,
                i % 250
            ));
        }
        let want = {
            let mut r = LogReader::from_reader(
                "log".into(),
                Box::new(input(log.as_bytes(), None)),
                FormatSpec::Combined,
            )
            .unwrap();
            r.set_share(Share { index: 2, of: 3 });
            drain(&mut r)
        };
        let mut ends = SharedDeal::of_stream(Box::new(input(log.as_bytes(), None)), 3, 512);
        let last = ends.pop().unwrap();
        let middle = ends.pop().unwrap();
        // The first share's reader takes a block and goes; the second goes while the last
        // reads (a reader alive and not reading would hold the dealing: memory is bounded).
        let first = ends.pop().unwrap();
        assert!(first.next().is_some());
        drop(first);
        let got = std::thread::scope(|scope| {
            let reader =
                scope.spawn(move || drain(&mut LogReader::fed("log".into(), "none", last)));
            std::thread::sleep(std::time::Duration::from_millis(20));
            drop(middle);
            reader.join().unwrap()
        });
        assert_eq!(want, got);
    }
}
