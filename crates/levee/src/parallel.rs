//! `levee analyze --threads N`: both passes spread over N worker threads.
//!
//! Frames are shared out by a hash of their address pair ([`levee_decode::address_pair_hash`]),
//! the same in both directions. Every packet of a flow, both ways, and every fragment of a
//! datagram thus reach the same worker, in capture order, so each worker's flow filters see
//! exactly what a single thread would have seen of those flows: answered or not, solicited or
//! not, handshake completed or not.
//!
//! * **Plain files** (uncompressed, and standard input once spooled): every worker reads the
//!   whole file itself (from the page cache) and keeps the frames of its share. Reading records
//!   and hashing two addresses at fixed offsets costs a few nanoseconds a frame; nothing is
//!   sent between threads, so the analysis work divides by the number of threads.
//! * **Streams** (gzip, zstd): decompressing twice would cost more than it saves, so the
//!   calling thread reads, keeps a share of the frames to analyse itself and deals the rest to
//!   the other threads in batches.
//!
//! The workers' statistics are merged for detection; in the second pass each worker judges
//! evidence with its own first-pass filters, and the counts are summed, so the result equals a
//! single-threaded run's up to sketch error in the top lists and flow-filter false positives.

use std::sync::mpsc::{sync_channel, SyncSender};

use levee_analyze::{AnalyzeConfig, Analyzer, Plan};

use crate::input::{self, DamageSink, Outcome};
use crate::InputArgs;

/// Frames handed to a worker at once.
const BATCH_FRAMES: usize = 1024;

/// Frames for one worker: their bytes back to back, and where each starts.
struct Batch {
    /// Time of the first packet of the whole capture: the origin of every series.
    origin: i64,
    data: Vec<u8>,
    frames: Vec<FrameMeta>,
}

struct FrameMeta {
    ts: i64,
    linktype: u32,
    orig_len: u32,
    start: usize,
    end: usize,
}

impl Batch {
    fn new(origin: i64) -> Batch {
        Batch {
            origin,
            data: Vec::with_capacity(BATCH_FRAMES * 128),
            frames: Vec::with_capacity(BATCH_FRAMES),
        }
    }

    /// Calls `each` with every decoded packet of the batch.
    fn for_each(&self, mut each: impl FnMut(i64, &levee_decode::Packet<'_>)) {
        for f in &self.frames {
            let p = levee_decode::decode(f.linktype, &self.data[f.start..f.end], f.orig_len);
            each(f.ts, &p);
        }
    }
}

/// The reading side: works on its own share of the frames itself and deals the others to the
/// workers' channels. Reading costs time the workers do not spend, so the reading thread
/// keeps a smaller share.
struct Dealer<'a, S, F> {
    senders: Vec<SyncSender<Batch>>,
    batches: Vec<Batch>,
    origin: Option<i64>,
    own: &'a mut S,
    feed: &'a F,
    /// Hashes below this go to the reading thread.
    own_below: u64,
}

impl<S, F> DamageSink for Dealer<'_, S, F> {}

impl<S: Worker, F: Fn(&mut S, i64, &levee_decode::Packet<'_>)> Dealer<'_, S, F> {
    fn deal(&mut self, f: &levee_capture::Frame<'_>) {
        let origin = match self.origin {
            Some(o) => o,
            None => {
                self.origin = Some(f.ts_nanos);
                self.own.set_origin(f.ts_nanos);
                for b in self.batches.iter_mut() {
                    b.origin = f.ts_nanos;
                }
                f.ts_nanos
            }
        };
        let h = levee_decode::address_pair_hash(f.linktype, f.data);
        if h < self.own_below {
            let p = levee_decode::decode(f.linktype, f.data, f.orig_len);
            (self.feed)(self.own, f.ts_nanos, &p);
            return;
        }
        let w = ((h - self.own_below) % self.senders.len() as u64) as usize;
        let b = &mut self.batches[w];
        let start = b.data.len();
        b.data.extend_from_slice(f.data);
        b.frames.push(FrameMeta {
            ts: f.ts_nanos,
            linktype: f.linktype,
            orig_len: f.orig_len,
            start,
            end: b.data.len(),
        });
        if b.frames.len() >= BATCH_FRAMES {
            let full = std::mem::replace(b, Batch::new(origin));
            // A worker that died has already reported why; reading goes on for the others.
            let _ = self.senders[w].send(full);
        }
    }

    fn finish(mut self) {
        for (b, s) in self.batches.drain(..).zip(&self.senders) {
            if !b.frames.is_empty() {
                let _ = s.send(b);
            }
        }
    }
}

/// Per-thread state of a pass.
trait Worker: Send {
    fn set_origin(&mut self, ts: i64);
}

impl Worker for Analyzer {
    fn set_origin(&mut self, ts: i64) {
        Analyzer::set_origin(self, ts);
    }
}

impl Worker for (levee_analyze::measure::Meter, &Analyzer) {
    fn set_origin(&mut self, _ts: i64) {}
}

/// Reads the inputs once, the reading thread working on its share and `threads - 1` workers
/// on theirs; returns the reading outcome and every thread's state, the reading thread's
/// first.
fn deal<S: Worker, F>(
    input: &InputArgs,
    threads: usize,
    make: impl Fn(usize) -> S + Sync,
    feed: F,
) -> anyhow::Result<(Outcome, Vec<S>)>
where
    F: Fn(&mut S, i64, &levee_decode::Packet<'_>) + Sync,
{
    if input::all_plain_files(input) {
        return scan(input, threads, make, feed);
    }
    let helpers = threads.max(2) - 1;
    // The reading thread's share: 80 % of an equal share.
    let own_share = 0.8 / threads.max(2) as f64;
    let own_below = (own_share * u64::MAX as f64) as u64;
    std::thread::scope(|scope| {
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        for i in 0..helpers {
            let (tx, rx) = sync_channel::<Batch>(4);
            senders.push(tx);
            let (make, feed) = (&make, &feed);
            handles.push(scope.spawn(move || {
                let mut state = make(i + 1);
                for batch in rx {
                    state.set_origin(batch.origin);
                    batch.for_each(|ts, p| feed(&mut state, ts, p));
                }
                state
            }));
        }
        let mut own = make(0);
        let mut dealer = Dealer {
            batches: (0..helpers).map(|_| Batch::new(0)).collect(),
            senders,
            origin: None,
            own: &mut own,
            feed: &feed,
            own_below,
        };
        let outcome = input::for_each_frame_with(input, &mut dealer, |d, f| d.deal(f));
        dealer.finish();
        let mut states = vec![own];
        for h in handles {
            states.push(h.join().expect("analysis worker panicked"));
        }
        Ok((outcome?, states))
    })
}

/// Every thread reads the whole input (plain files) and analyses the frames of its share of
/// address-pair hashes; the first thread reports damage and progress, the others are quiet.
/// Returns the first thread's reading outcome and every thread's state, in thread order.
fn scan<S: Worker, F>(
    input: &InputArgs,
    threads: usize,
    make: impl Fn(usize) -> S + Sync,
    feed: F,
) -> anyhow::Result<(Outcome, Vec<S>)>
where
    F: Fn(&mut S, i64, &levee_decode::Packet<'_>) + Sync,
{
    let threads = threads.max(2) as u64;
    // Thread i takes the hashes in [i, i + 1) * (2^64 / threads).
    let share = u64::MAX / threads + 1;
    let walk = |i: u64, state: &mut S, args: &InputArgs| -> anyhow::Result<Outcome> {
        let mut origin_set = false;
        input::for_each_frame_with(args, &mut Quiet(&mut *state), |Quiet(state), f| {
            if !origin_set {
                // Every thread sees the same first frame: the series all start there.
                state.set_origin(f.ts_nanos);
                origin_set = true;
            }
            if levee_decode::address_pair_hash(f.linktype, f.data) / share == i {
                let p = levee_decode::decode(f.linktype, f.data, f.orig_len);
                feed(state, f.ts_nanos, &p);
            }
        })
    };
    std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads)
            .map(|i| {
                let (make, walk) = (&make, &walk);
                scope.spawn(move || -> anyhow::Result<S> {
                    let mut state = make(i as usize);
                    let quiet = InputArgs {
                        quiet: true,
                        no_progress: true,
                        ..input.clone()
                    };
                    walk(i, &mut state, &quiet)?;
                    Ok(state)
                })
            })
            .collect();
        let mut own = make(0);
        let outcome = walk(0, &mut own, input);
        let mut states = vec![own];
        for h in helpers {
            states.push(h.join().expect("analysis worker panicked")?);
        }
        Ok((outcome?, states))
    })
}

/// A worker's state, seen by the frame walk: damage is the first thread's to report.
struct Quiet<'a, S>(&'a mut S);

impl<S> DamageSink for Quiet<'_, S> {}

/// Both passes of an analysis on `threads` threads.
pub fn run(
    input: &InputArgs,
    config: AnalyzeConfig,
    threads: usize,
    details: bool,
    second_stage: &'static str,
) -> anyhow::Result<(Plan, Outcome)> {
    let (outcome, mut parts) = deal(
        input,
        threads,
        |_| Analyzer::new(config.clone()),
        |an: &mut Analyzer, ts, p| an.add(ts, p),
    )?;
    for an in parts.iter_mut() {
        an.finish_pass();
    }
    let mut primary = parts.remove(0);
    for other in &parts {
        primary.merge_stats(other);
    }
    let mut plan = primary.detect();
    if details {
        plan.collect_details();
    }
    if plan.needs_second_pass() || details {
        let again = InputArgs {
            quiet: true,
            stage: second_stage,
            ..input.clone()
        };
        let meters: Vec<levee_analyze::measure::Meter> = {
            let plan_ref = &plan;
            let parts_ref = &parts;
            deal(
                &again,
                threads,
                // Thread 0's first-pass filters live in the plan; the others' beside it.
                |i| {
                    let first_pass = if i == 0 {
                        plan_ref.first_pass()
                    } else {
                        &parts_ref[i - 1]
                    };
                    (plan_ref.meter(), first_pass)
                },
                |(meter, first_pass), ts, p| meter.add(ts, p, first_pass),
            )?
            .1
            .into_iter()
            .map(|(m, _)| m)
            .collect()
        };
        for m in meters {
            plan.absorb(m);
        }
    }
    Ok((plan, outcome))
}
