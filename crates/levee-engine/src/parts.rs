//! One plain (uncompressed) pcap or pcapng file read on N threads, each its own stretch of the
//! file, by a sampling analysis and by `simulate --rules-only` (see [`PartWork`]; the rules need
//! nothing from their neighbours, so [`split`] reads no look-around for them).
//!
//! The file is cut into N parts of about equal size, each starting where a record starts
//! ([`levee_capture::SplitCapture`]). No thread waits for another, nothing is copied between
//! them, and the kernel's copying of the file is shared out too, so two threads come close to
//! twice the speed of one; dealing packets out from one reading thread ([`crate::parallel`])
//! spent a third more processor time than one thread did.
//!
//! What a thread cannot see is the traffic of the other parts. Two things make up for it:
//! * Around its borders, each thread also reads a little of its neighbours' stretches (up to
//!   4 MiB each way) only to teach its flow filters ([`Analyzer::teach_frame`]): a SYN at the
//!   end of one part and the SYN-ACK that answers it at the start of the next are then seen
//!   together, and the packets a thread profiles last are judged knowing what came right after.
//! * Before the second pass, the threads' flow filters are merged
//!   ([`Analyzer::merge_filters`]), so every sampled packet is judged with what the whole
//!   capture showed, as on one thread.
//!
//! Of the analyses only a sampling one reads in parts; an exact one keeps to the
//! flow-consistent dealing, which gives exactly one thread's result.
//!
//! The reader of each part checks that its last record ends exactly where the next part
//! starts. If ever it does not (the next part's start was a false one), it reads on to the end
//! of the file itself and the later parts' results are dropped: slower, never wrong. A pcapng
//! file that describes interfaces after its first packet (rare: capture tools describe them
//! all first) is read again the usual way, since the later parts did not know them.

use std::ops::ControlFlow;

use levee_analyze::summary::FileInfo;
use levee_analyze::{AnalyzeConfig, Analyzer, Plan};
use levee_capture::{Frame, Item, RecordError, Recovery, SplitCapture};

use crate::read::{Inputs, Observer, ReadError, Reading};

/// How far each thread reads into its neighbours' stretches, to teach its filters.
const LOOK_AROUND_BYTES: u64 = 4 << 20;

/// Parts smaller than this are not worth a thread.
const MIN_PART_BYTES: u64 = 1 << 20;

/// At most this many parts: each thread keeps flow filters of full size (so that merged they
/// equal one thread's), about 23 MiB a thread, and 8 keep a run within its 256 MiB bound
/// (measured: 200 MiB on 8 threads, 112 MiB on 4, 68 MiB on 2).
const MAX_PARTS: u64 = 8;

/// One thread's stretch of the file: `[start, end)` in bytes, both where records start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Part {
    start: u64,
    /// `None` for the last part, which runs to the end of the file.
    end: Option<u64>,
    /// How far to read around the part to teach the filters.
    look: u64,
}

/// The file of `input` cut into up to `threads` parts (at most [`MAX_PARTS`]), when it is one
/// plain capture file large enough to be worth it. With `look_around`, each part's reader also
/// reads a little of its neighbours' stretches to teach its work ([`PartWork::teach`]).
///
/// Anything unusual (a file that cannot be opened, a read error) is left to the usual path,
/// which reports it.
pub(crate) fn split(
    inputs: &Inputs,
    threads: usize,
    look_around: bool,
) -> Option<(SplitCapture, Vec<Part>)> {
    let [path] = inputs.paths.as_slice() else {
        return None;
    };
    let file = SplitCapture::open(path).ok()??;
    let first = file.first_record();
    let body = file.len().saturating_sub(first);
    let wanted = (body / MIN_PART_BYTES).min(threads as u64).min(MAX_PARTS);
    if wanted < 2 {
        return None;
    }
    let mut starts = vec![first];
    for i in 1..wanted {
        let near = first + body * i / wanted;
        if let Some(at) = file.record_start_near(near).ok()? {
            if at > *starts.last().expect("never empty") {
                starts.push(at);
            }
        }
    }
    if starts.len() < 2 {
        return None;
    }
    let look = if look_around {
        LOOK_AROUND_BYTES.min(body / wanted / 8)
    } else {
        0
    };
    let parts = starts
        .iter()
        .enumerate()
        .map(|(i, &start)| Part {
            start,
            end: starts.get(i + 1).copied(),
            look,
        })
        .collect();
    Some((file, parts))
}

/// What a thread does with the frames of its part, and with those it reads around it.
pub(crate) trait PartWork: Send {
    /// A frame of a neighbour's stretch, read only to learn from (see [`split`]).
    fn teach(&mut self, f: &Frame<'_>);
    /// A frame of the part.
    fn add(&mut self, f: &Frame<'_>);
    /// The part has been read.
    fn end_of_part(&mut self) {}
}

/// An analysis' first pass: the part's frames analysed, its neighbours' taught to the filters.
impl PartWork for Analyzer {
    fn teach(&mut self, f: &Frame<'_>) {
        self.teach_frame(f.linktype, f.data, f.orig_len);
    }
    fn add(&mut self, f: &Frame<'_>) {
        self.add_frame(f.ts_nanos, f.linktype, f.data, f.orig_len);
    }
    fn end_of_part(&mut self) {
        // Each thread empties its own delay line.
        self.finish_pass();
    }
}

/// What one thread's reading of its part gave.
struct PartRun<W> {
    work: W,
    packets: u64,
    /// Records (frames and damaged records) of the part, to number the next part's damage.
    records: u64,
    damaged: u64,
    /// The first damaged records, numbered from the start of the part.
    damage: Vec<RecordError>,
    /// The part's last record did not end where the next part starts, so this thread read on
    /// to the end of the file: the later parts' results are to be dropped.
    took_over: bool,
    /// The reader met a pcapng section header or interface description in the part or just
    /// after it: the next parts' readers, which know only the interfaces described before the
    /// first packet, cannot be trusted.
    described: bool,
}

/// Reads one part: teaches `work` the stretch before it, gives it the part, and teaches it the
/// stretch after.
fn read_part<W: PartWork>(
    file: &SplitCapture,
    part: Part,
    work: W,
    max_errors: usize,
    progress: &dyn Observer,
) -> Result<PartRun<W>, levee_capture::OpenError> {
    let mut run = PartRun {
        work,
        packets: 0,
        records: 0,
        damaged: 0,
        damage: Vec::new(),
        took_over: false,
        described: false,
    };
    if part.start > file.first_record() && part.look > 0 {
        let back = part.start.saturating_sub(part.look);
        if let Some(from) = file
            .record_start_near(back)
            .map_err(|source| io_error(file, source))?
        {
            let mut before = file.reader_at(from)?;
            before.for_each_item(|item| match item {
                Item::Frame(f) if f.offset < part.start => {
                    run.work.teach(&f);
                    ControlFlow::Continue(())
                }
                // Damage before the part is its neighbour's to report.
                Item::Damaged(e) if e.offset < part.start => ControlFlow::Continue(()),
                _ => ControlFlow::Break(()),
            });
        }
    }
    let mut reader = file.reader_at(part.start)?;
    let descriptions = reader.descriptions();
    // Records from here on are past the part (none for the last part, or once this thread
    // has taken over the rest of the file).
    let mut limit = part.end.unwrap_or(u64::MAX);
    let mut beyond = false;
    let mut reported = part.start;
    reader.for_each_item(|item| {
        let offset = match &item {
            Item::Frame(f) => f.offset,
            Item::Damaged(e) => e.offset,
        };
        if offset >= limit {
            if !beyond {
                // The first record past the part must be the next part's first.
                if matches!(item, Item::Frame(_)) && offset == limit {
                    beyond = true;
                } else {
                    run.took_over = true;
                    limit = u64::MAX;
                }
            }
            if beyond {
                if offset >= limit + part.look {
                    return ControlFlow::Break(());
                }
                if let Item::Frame(f) = &item {
                    run.work.teach(f);
                }
                return ControlFlow::Continue(());
            }
        }
        match item {
            Item::Frame(f) => {
                run.packets += 1;
                run.records += 1;
                run.work.add(&f);
                if run.packets & 0xffff == 0 {
                    progress.advanced(offset - reported);
                    reported = offset;
                }
            }
            Item::Damaged(e) => {
                if e.recovery != Recovery::Delivered {
                    run.records += 1;
                }
                run.damaged += 1;
                if run.damage.len() < max_errors {
                    run.damage.push(*e);
                }
            }
        }
        ControlFlow::Continue(())
    });
    run.described = reader.descriptions() != descriptions;
    progress.advanced(part.end.unwrap_or(file.len()).saturating_sub(reported));
    run.work.end_of_part();
    Ok(run)
}

fn io_error(file: &SplitCapture, source: std::io::Error) -> levee_capture::OpenError {
    levee_capture::OpenError::Io {
        file: file.name().to_string(),
        source,
    }
}

/// The works of a file's parts, in file order, and what reading them met.
pub(crate) struct PartsRead<W> {
    /// One per part read (fewer than the parts when a part's reader took over the rest).
    pub(crate) works: Vec<W>,
    pub(crate) reading: Reading,
}

/// Reads the file's `parts` a thread each, the work of each made by `make`; `None` when the
/// parts cannot be trusted (a pcapng file that describes interfaces after its first packet,
/// before the last part): the file is then to be read the usual way. Damage is told to the
/// observer numbered as a reading of the whole file numbers it.
pub(crate) fn read_parts<W: PartWork>(
    inputs: &Inputs,
    observer: &dyn Observer,
    file: &SplitCapture,
    parts: &[Part],
    make: impl Fn(&Part) -> W + Sync,
) -> Result<Option<PartsRead<W>>, ReadError> {
    observer.reading(1, file.len());
    let max_errors = observer.damage_shown();
    let runs: Vec<Result<PartRun<W>, _>> = std::thread::scope(|scope| {
        let handles: Vec<_> = parts[1..]
            .iter()
            .map(|part| {
                let make = &make;
                scope.spawn(move || read_part(file, *part, make(part), max_errors, observer))
            })
            .collect();
        let mut runs = vec![read_part(
            file,
            parts[0],
            make(&parts[0]),
            max_errors,
            observer,
        )];
        runs.extend(
            handles
                .into_iter()
                .map(|h| h.join().expect("reading thread panicked")),
        );
        runs
    });
    observer.done_reading();
    let mut kept = Vec::new();
    let last = runs.len() - 1;
    for (i, run) in runs.into_iter().enumerate() {
        let run = run?;
        let took_over = run.took_over;
        if run.described && !took_over && i < last {
            return Ok(None);
        }
        kept.push(run);
        if took_over {
            break;
        }
    }

    let mut first_record = 0;
    let mut shown = 0usize;
    let mut damaged = 0;
    let mut packets = 0;
    for run in &kept {
        for e in &run.damage {
            if shown < max_errors {
                let mut e = e.clone();
                e.record += first_record;
                observer.damaged(&e);
                shown += 1;
            }
        }
        first_record += run.records;
        damaged += run.damaged;
        packets += run.packets;
    }
    if damaged > max_errors as u64 {
        observer.more_damaged(damaged - max_errors as u64);
    }
    let mut reading = Reading {
        files: vec![FileInfo {
            name: file.name().to_string(),
            format: format!("{:?}", file.format()).to_lowercase(),
            compression: "none".into(),
            packets,
            flows: None,
        }],
        unreadable: 0,
        damaged,
    };
    reading.require_packets(inputs, observer)?;
    Ok(Some(PartsRead {
        works: kept.into_iter().map(|r| r.work).collect(),
        reading,
    }))
}

/// Both passes of a sampling analysis of one file read in `parts`, a thread each; `None` when
/// the parts cannot be trusted (see [`read_parts`]).
pub(crate) fn run(
    inputs: &Inputs,
    observer: &dyn Observer,
    config: AnalyzeConfig,
    file: &SplitCapture,
    parts: &[Part],
) -> Result<Option<(Plan, Reading)>, ReadError> {
    let origin = file.first_ts_nanos();
    let make = |part: &Part| {
        let bytes = part.end.unwrap_or(file.len()) - part.start;
        let share = bytes as f64 / file.len().max(1) as f64;
        let mut config = config.clone();
        config.sample_budget = config.sample_budget.map(|b| (b as f64 * share) as usize);
        let mut an = Analyzer::new(config);
        an.expect_input_bytes(bytes);
        an.set_origin(origin);
        an
    };
    let Some(PartsRead { works, reading }) = read_parts(inputs, observer, file, parts, make)?
    else {
        return Ok(None);
    };
    let mut runs = works.into_iter();
    let mut primary = runs.next().expect("the first part is always read");
    let others: Vec<Analyzer> = runs.collect();
    for o in &others {
        primary.merge_stats(o);
        primary.merge_filters(o);
    }
    let mut plan = Plan::from_first_pass(primary);
    if plan.needs_second_pass() {
        plan.replay_parts(&others, true);
    }
    Ok(Some((plan, reading)))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    use crate::read::Silent;

    fn real_capture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/attacks")
            .join(name)
    }

    fn input(path: PathBuf) -> Inputs {
        Inputs::new(vec![path])
    }

    fn sampling() -> AnalyzeConfig {
        AnalyzeConfig {
            sample_budget: Some(64 << 20),
            ..Default::default()
        }
    }

    #[test]
    #[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
    fn a_plain_pcap_is_cut_into_parts_of_at_least_a_mebibyte() {
        let path = real_capture("pkt.TCP.synflood.spoofed.pcap");
        let len = std::fs::metadata(&path).unwrap().len();
        let (file, parts) = split(&input(path.clone()), 8, true).expect("2.9 MB split");
        assert_eq!(parts.len() as u64, len / MIN_PART_BYTES);
        assert_eq!(parts[0].start, file.first_record());
        for w in parts.windows(2) {
            assert_eq!(w[0].end, Some(w[1].start));
        }
        assert_eq!(parts.last().unwrap().end, None);
        assert!(split(&input(path.clone()), 1, true).is_none());
        // Several files go to the dealing path.
        let two = Inputs::new(vec![path.clone(), path]);
        assert!(split(&two, 2, true).is_none());
    }

    /// However many threads are asked for, a file is cut into at most `MAX_PARTS` parts (the
    /// memory bound).
    #[test]
    fn parts_are_capped_whatever_the_thread_count() {
        let dir = std::env::temp_dir().join(format!("levee-parts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("twelve-mib.pcap");
        let file = std::fs::File::create(&path).unwrap();
        let mut w =
            levee_capture::PcapWriter::new(std::io::BufWriter::new(file), 1, 65_535).unwrap();
        let frame = [0u8; 1_000];
        for i in 0..12_000i64 {
            w.write(1_700_000_000_000_000_000 + i * 1_000, &frame)
                .unwrap();
        }
        w.finish().unwrap();
        let (_, parts) = split(&input(path.clone()), 64, true).expect("12 MB split");
        assert_eq!(parts.len() as u64, MAX_PARTS);
        let (_, parts) = split(&input(path), 3, true).unwrap();
        assert_eq!(parts.len(), 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// When a part's start is not where a record starts, the part before reads on to the end
    /// of the file and the result is what one thread gives.
    #[test]
    #[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
    fn a_false_part_start_is_caught_and_read_by_the_part_before() {
        let path = real_capture("pkt.TCP.synflood.spoofed.pcap");
        let (file, parts) = split(&input(path.clone()), 2, true).unwrap();
        let wrong = parts[1].start + 3;
        let bogus = [
            Part {
                end: Some(wrong),
                ..parts[0]
            },
            Part {
                start: wrong,
                ..parts[1]
            },
        ];
        let run0 = read_part(&file, bogus[0], Analyzer::new(sampling()), 20, &Silent).unwrap();
        assert!(run0.took_over);
        let (plan, outcome) = run(&input(path.clone()), &Silent, sampling(), &file, &bogus)
            .unwrap()
            .expect("a pcap file is never read again");
        let (good_plan, good) = run(&input(path), &Silent, sampling(), &file, &parts)
            .unwrap()
            .unwrap();
        assert_eq!(outcome.damaged, 0);
        assert_eq!(outcome.files[0].packets, good.files[0].packets);
        assert_eq!(run0.packets, good.files[0].packets);
        let (a, b) = (
            plan.finish(outcome.files, 0),
            good_plan.finish(good.files, 0),
        );
        assert_eq!(a.attacks.len(), b.attacks.len());
        assert_eq!(a.attacks[0].packets, b.attacks[0].packets);
    }
}
