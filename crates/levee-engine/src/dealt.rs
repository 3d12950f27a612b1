//! Both passes spread over N worker threads, packets dealt out by flow.
//!
//! A sampling analysis of one plain capture file is read in parts instead, a thread per part
//! ([`crate::parts`]); this module serves everything else: exact analyses, reports, several
//! files, compressed files and standard input.
//!
//! The calling thread reads the inputs (in time order, as always), keeps a share of the frames
//! to analyse itself and deals the rest to the other threads in batches, each frame by a hash
//! of its address pair ([`levee_decode::address_pair_hash`]), the same in both directions.
//! Every packet of a flow, both ways, and every fragment of a datagram thus reach the same
//! worker, in capture order, so each worker's flow filters see exactly what a single thread
//! would have seen of those flows: answered or not, solicited or not, handshake completed or
//! not. Batches go back to the reading thread once analysed, to be filled again.
//!
//! (Every worker reading a plain file whole for itself and keeping its share was tried too:
//! it measured no faster, reading twice what the dealer reads once.)
//!
//! The workers' statistics are merged for detection. A sampling analysis then has each thread
//! measure the frames it kept, in parallel, judging evidence with its own filters; an exact one
//! reads the inputs a second time, dealt out the same way. The counts are summed, so an exact
//! result equals a single-threaded run's up to sketch error in the top lists and flow-filter
//! false positives, and a sampled one agrees within its sampling error (each thread samples its
//! own packets).

use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};

use levee_analyze::{AnalyzeConfig, Analyzer, Plan};

use crate::read::{self, DamageSink, Inputs, Observer, ReadError, Reading};

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

    /// Calls `each` with every frame of the batch.
    fn for_each(&self, mut each: impl FnMut(&Raw<'_>)) {
        for f in &self.frames {
            each(&Raw {
                ts: f.ts,
                linktype: f.linktype,
                data: &self.data[f.start..f.end],
                orig_len: f.orig_len,
            });
        }
    }
}

/// A frame as read, undecoded.
struct Raw<'a> {
    ts: i64,
    linktype: u32,
    data: &'a [u8],
    orig_len: u32,
}

/// The reading side: works on its own share of the frames itself and deals the others to the
/// workers' channels. Reading costs time the workers do not spend, so the reading thread
/// keeps a smaller share.
struct Dealer<'a, S, F> {
    senders: Vec<SyncSender<Batch>>,
    /// Batches each worker is done with, emptied, to be filled again: fresh buffers for every
    /// batch cost page faults on megabytes a second.
    returned: Vec<Receiver<Batch>>,
    batches: Vec<Batch>,
    origin: Option<i64>,
    own: &'a mut S,
    feed: &'a F,
    /// Hashes below this go to the reading thread.
    own_below: u64,
    /// The highest hash of each worker's slice of the rest.
    worker_bounds: Vec<u64>,
}

impl<S, F> DamageSink for Dealer<'_, S, F> {}

impl<S: Worker, F: Fn(&mut S, &Raw<'_>)> Dealer<'_, S, F> {
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
            let raw = Raw {
                ts: f.ts_nanos,
                linktype: f.linktype,
                data: f.data,
                orig_len: f.orig_len,
            };
            (self.feed)(self.own, &raw);
            return;
        }
        // The worker whose slice of the hash range holds `h`: a comparison or two, not a
        // division, a frame.
        let w = self
            .worker_bounds
            .iter()
            .position(|&b| h <= b)
            .unwrap_or(self.senders.len() - 1);
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
            let empty = match self.returned[w].try_recv() {
                Ok(mut used) => {
                    used.origin = origin;
                    used
                }
                Err(_) => Batch::new(origin),
            };
            let full = std::mem::replace(b, empty);
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
    /// Called on the worker's own thread after its last frame.
    fn end_of_input(&mut self) {}
}

impl Worker for Analyzer {
    fn set_origin(&mut self, ts: i64) {
        Analyzer::set_origin(self, ts);
    }

    fn end_of_input(&mut self) {
        // Each thread empties its own delay line, rather than the main thread all of them.
        self.finish_pass();
    }
}

impl Worker for (levee_analyze::measure::Meter, &Analyzer) {
    fn set_origin(&mut self, _ts: i64) {}
}

/// The share of the packets thread `i` analyses (0: the reading thread). The reading thread
/// gets 40 % of an equal share: reading, hashing and dealing cost it more than analysing a
/// sampled analysis's packet does. (Measured on 2 threads, best of 9: 0.4 beat 0.25 and 0.6;
/// before sampling made analysis cheaper, 0.6 beat 0.4 and 0.8.)
fn share_of(i: usize, threads: usize) -> f64 {
    let threads = threads.max(2);
    let own = 0.4 / threads as f64;
    if i == 0 {
        own
    } else {
        (1.0 - own) / (threads - 1) as f64
    }
}

/// Reads the inputs once (as pass `pass`: the first reading reports damage and requires
/// packets), the reading thread working on its share and `threads - 1` workers on theirs;
/// returns the reading and every thread's state, the reading thread's first.
fn deal<S: Worker, F>(
    inputs: &Inputs,
    observer: &dyn Observer,
    pass: u8,
    threads: usize,
    make: impl Fn(usize) -> S + Sync,
    feed: F,
) -> Result<(Reading, Vec<S>), ReadError>
where
    F: Fn(&mut S, &Raw<'_>) + Sync,
{
    let helpers = threads.max(2) - 1;
    let own_share = share_of(0, threads);
    let own_below = (own_share * u64::MAX as f64) as u64;
    std::thread::scope(|scope| {
        let mut senders = Vec::new();
        let mut returned = Vec::new();
        let mut handles = Vec::new();
        for i in 0..helpers {
            // Room for 16 batches: enough to ride out a thread being scheduled away for a
            // moment without the other waiting (4 measured slower).
            let (tx, rx) = sync_channel::<Batch>(16);
            let (back_tx, back_rx) = channel::<Batch>();
            senders.push(tx);
            returned.push(back_rx);
            let (make, feed) = (&make, &feed);
            handles.push(scope.spawn(move || {
                let mut state = make(i + 1);
                for mut batch in rx {
                    state.set_origin(batch.origin);
                    batch.for_each(|raw| feed(&mut state, raw));
                    batch.data.clear();
                    batch.frames.clear();
                    // The dealer may have finished reading: then the batch is simply dropped.
                    let _ = back_tx.send(batch);
                }
                state.end_of_input();
                state
            }));
        }
        let mut own = make(0);
        let mut dealer = Dealer {
            batches: (0..helpers).map(|_| Batch::new(0)).collect(),
            senders,
            returned,
            origin: None,
            own: &mut own,
            feed: &feed,
            own_below,
            worker_bounds: {
                let step = (u64::MAX - own_below) / helpers as u64;
                (1..=helpers as u64)
                    .map(|i| own_below.saturating_add(step.saturating_mul(i)))
                    .collect()
            },
        };
        let reading = if pass == 1 {
            read::for_each_frame(inputs, observer, &mut dealer, |d, f| d.deal(f))
        } else {
            let again = read::Again { observer, pass };
            Ok(read::read_frames(
                inputs,
                &again,
                pass,
                &mut dealer,
                |d, f, _| d.deal(f),
            ))
        };
        dealer.finish();
        own.end_of_input();
        let mut states = vec![own];
        for h in handles {
            states.push(h.join().expect("analysis worker panicked"));
        }
        Ok((reading?, states))
    })
}

/// Both passes of an analysis on `threads` threads; with `details`, the second pass also
/// gathers what a report shows.
pub(crate) fn run(
    inputs: &Inputs,
    config: AnalyzeConfig,
    threads: usize,
    details: bool,
    observer: &dyn Observer,
) -> Result<(Plan, Reading), ReadError> {
    if config.sample_budget.is_some() {
        if let Some((file, parts)) = crate::parts::split(inputs, threads, true) {
            if let Some(done) = crate::parts::run(inputs, observer, config.clone(), &file, &parts)?
            {
                return Ok(done);
            }
        }
    }
    let mut config = config;
    // Each thread sees its share of the flows: filters of that share of the size are as full
    // as one thread's whole filters, and together stay as small (and as cached).
    let log2_threads = threads.max(1).ilog2();
    config.bloom_log2_bytes = config.bloom_log2_bytes.saturating_sub(log2_threads).max(16);

    // Each thread keeps the share of the sample, and reads about the share of the input, of
    // the packets it analyses: the sampling rates come out as one thread's would.
    let input_bytes = inputs.plain_size();
    let (reading, mut parts) = deal(
        inputs,
        observer,
        1,
        threads,
        |i| {
            let share = share_of(i, threads);
            let mut config = config.clone();
            config.sample_budget = config.sample_budget.map(|b| (b as f64 * share) as usize);
            let mut an = Analyzer::new(config);
            if let Some(bytes) = input_bytes {
                an.expect_input_bytes((bytes as f64 * share) as u64);
            }
            an
        },
        |an: &mut Analyzer, f| an.add_frame(f.ts, f.linktype, f.data, f.orig_len),
    )?;
    let mut primary = parts.remove(0);
    for other in &parts {
        primary.merge_stats(other);
    }
    let mut plan = Plan::from_first_pass(primary);
    if plan.sampled() {
        // The second pass: every thread measures the frames it kept, with its own filters.
        if plan.needs_second_pass() {
            plan.replay_parts(&parts, false);
        }
        return Ok((plan, reading));
    }
    if details {
        plan.collect_details();
    }
    if plan.needs_second_pass() || details {
        let meters: Vec<levee_analyze::measure::Meter> = {
            let plan_ref = &plan;
            let parts_ref = &parts;
            deal(
                inputs,
                observer,
                2,
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
                |(meter, first_pass), f| {
                    levee_decode::with_decoded(f.linktype, f.data, f.orig_len, |p| {
                        meter.add(f.ts, p, first_pass)
                    })
                },
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
    Ok((plan, reading))
}
