//! `levee collect`: a collector of flow exports on a UDP port. Each second it prints what
//! arrived (datagrams, records, the traffic they stand for, exporters, the kernel's drops);
//! with `--write` it keeps every datagram in a capture, a new file every `--rotate` seconds,
//! for `levee analyze` and the other commands. It stops at `--duration`, or on SIGINT or
//! SIGTERM, closing its capture whole.

use std::collections::HashSet;
use std::fs::File;
use std::io::BufWriter;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use levee_capture::PcapWriter;
use levee_flow::collector::{datagram_packet, ExportSocket, STOP_DRAIN};
use levee_flow::packets::{rate_of, Scaling};
use levee_flow::{Decoder, FlowRecord};

use crate::cli::CollectArgs;
use crate::{bail_usage, EXIT_DAMAGED_RECORDS};

/// Exporters counted one by one (beyond, they are counted as many).
const COUNTED_EXPORTERS: usize = 1024;

pub fn collect(a: CollectArgs) -> anyhow::Result<u8> {
    if a.rotate == 0 {
        bail_usage!("--rotate is a number of seconds, at least 1");
    }
    if a.sampling_rate == 0 {
        bail_usage!("--sampling-rate is N in \"one packet in N\": at least 1");
    }
    if let Some(dir) = &a.write {
        if dir.exists() && !dir.is_dir() {
            bail_usage!(
                "--write {} is a file; it names the directory captures go to",
                dir.display()
            );
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    let mut socket = ExportSocket::bind(a.listen, a.receive_buffer_mib << 20)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", a.listen))?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    eprintln!(
        "levee: collecting flow exports on {} (receive buffer {} KiB){}",
        socket.local_addr(),
        socket.receive_buffer() >> 10,
        match &a.write {
            Some(d) => format!(", writing captures to {}", d.display()),
            None => String::new(),
        }
    );
    let scaling = Scaling {
        default_rate: a.sampling_rate.min(u64::from(u32::MAX)) as u32,
    };
    let mut run = Run {
        decoder: Decoder::new(),
        records: Vec::new(),
        second: Tally::default(),
        total: Tally::default(),
        exporters: HashSet::new(),
        second_exporters: HashSet::new(),
        scaling,
        damaged_shown: 0,
        max_errors: a.max_errors,
    };
    let mut capture = a
        .write
        .as_ref()
        .map(|dir| Rotating::new(dir, a.rotate as i64 * 1_000_000_000));
    let started = Instant::now();
    let deadline = a.duration.map(|s| started + Duration::from_secs_f64(s));
    let local = socket.local_addr();
    let drops_at_start = socket.kernel_drops().unwrap_or(0);
    let mut second = now_ns().div_euclid(1_000_000_000);
    let mut packet = Vec::with_capacity(65600);
    let mut take = |run: &mut Run, capture: &mut Option<Rotating>, from, datagram: &[u8]| {
        if let Some(c) = capture.as_mut() {
            datagram_packet(from, local, datagram, &mut packet);
            c.write(now_ns(), &packet)?;
        }
        run.datagram(from, datagram);
        anyhow::Ok(())
    };
    while !stop.load(Ordering::Relaxed) && deadline.is_none_or(|d| Instant::now() < d) {
        if let Some((from, datagram)) = socket.receive(Duration::from_millis(100))? {
            take(&mut run, &mut capture, from, datagram)?;
        }
        let now = now_ns().div_euclid(1_000_000_000);
        if now != second {
            let drops = socket.kernel_drops().map(|d| d - drops_at_start);
            if !a.quiet {
                crate::emit(&run.second_line(second, drops))?;
            }
            run.next_second();
            second = now;
        }
        if let Some(c) = capture.as_mut() {
            c.flush_if_idle()?;
        }
    }
    // What reached the socket before the stop is read, not left uncounted.
    let draining = Instant::now();
    while draining.elapsed() < STOP_DRAIN {
        match socket.receive_queued()? {
            Some((from, datagram)) => take(&mut run, &mut capture, from, datagram)?,
            None => break,
        }
    }
    run.next_second();
    let files = match capture {
        Some(c) => c.finish()?,
        None => Vec::new(),
    };
    let drops = socket
        .kernel_drops()
        .map(|d| d.saturating_sub(drops_at_start));
    crate::emit(&run.closing(started.elapsed(), drops, &files))?;
    let lost = drops.unwrap_or(0) > 0 || run.total.damaged > 0;
    Ok(if lost { EXIT_DAMAGED_RECORDS } else { 0 })
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// What arrived in a stretch of time.
#[derive(Default, Clone, Copy)]
struct Tally {
    datagrams: u64,
    damaged: u64,
    records: u64,
    /// Packets and bytes the records stand for on the wire (scaled by their sampling).
    packets: u64,
    bytes: u64,
    sampled: bool,
}

struct Run {
    decoder: Decoder,
    records: Vec<FlowRecord>,
    second: Tally,
    total: Tally,
    /// Exporters heard from since the start, and in the current second.
    exporters: HashSet<IpAddr>,
    second_exporters: HashSet<IpAddr>,
    scaling: Scaling,
    damaged_shown: usize,
    max_errors: usize,
}

impl Run {
    fn datagram(&mut self, from: SocketAddr, datagram: &[u8]) {
        self.records.clear();
        let result = self.decoder.decode(from.ip(), datagram, &mut self.records);
        let t = &mut self.second;
        t.datagrams += 1;
        if let Err(e) = result {
            t.damaged += 1;
            if self.damaged_shown < self.max_errors {
                self.damaged_shown += 1;
                eprintln!("levee: datagram from {from}: {e}");
            }
        }
        for r in &self.records {
            let rate = rate_of(r, self.scaling);
            t.records += 1;
            t.packets += r.packets.saturating_mul(rate);
            t.bytes += r.bytes.saturating_mul(rate);
            t.sampled |= rate > 1;
        }
        for set in [&mut self.exporters, &mut self.second_exporters] {
            if set.len() < COUNTED_EXPORTERS {
                set.insert(from.ip());
            }
        }
    }

    fn next_second(&mut self) {
        let s = std::mem::take(&mut self.second);
        let t = &mut self.total;
        t.datagrams += s.datagrams;
        t.damaged += s.damaged;
        t.records += s.records;
        t.packets += s.packets;
        t.bytes += s.bytes;
        t.sampled |= s.sampled;
        self.second_exporters.clear();
    }

    /// `2026-12-05T20:40:01Z  1,262 datagrams  37,840 records  37,840 packets  1.5 MB  1 exporter  0 dropped by the kernel`.
    fn second_line(&self, second: i64, drops: Option<u64>) -> String {
        let s = &self.second;
        let est = if s.sampled { "~" } else { "" };
        let time = levee_analyze::summary::format_ts(second * 1_000_000_000);
        let time = time.split('.').next().unwrap_or(&time);
        format!(
            "{time}Z  {} datagrams  {} records  {est}{} packets  {est}{} bytes  {} exporter{}  {}{}\n",
            thousands(s.datagrams),
            thousands(s.records),
            thousands(s.packets),
            thousands(s.bytes),
            self.second_exporters.len(),
            if self.second_exporters.len() == 1 { "" } else { "s" },
            match drops {
                Some(d) => format!("{} dropped by the kernel", thousands(d)),
                None => "kernel drops unknown".into(),
            },
            if s.damaged > 0 {
                format!("  {} damaged", thousands(s.damaged))
            } else {
                String::new()
            }
        )
    }

    fn closing(&self, elapsed: Duration, drops: Option<u64>, files: &[PathBuf]) -> String {
        let t = &self.total;
        let est = if t.sampled { "~" } else { "" };
        let mut o = format!(
            "Collected {} datagrams ({} damaged) holding {} flow records from {} exporter{} in {:.1} s: {est}{} packets, {est}{} bytes on the wire{}\n",
            thousands(t.datagrams),
            thousands(t.damaged),
            thousands(t.records),
            self.exporters.len(),
            if self.exporters.len() == 1 { "" } else { "s" },
            elapsed.as_secs_f64(),
            thousands(t.packets),
            thousands(t.bytes),
            if t.sampled { " (estimates, scaled by the sampling rates)" } else { "" },
        );
        o.push_str(&match drops {
            Some(0) => "The kernel dropped no datagram.\n".to_string(),
            Some(d) => format!(
                "The kernel dropped {} datagrams: the receive buffer was full (raise --receive-buffer-mib)\n",
                thousands(d)
            ),
            None => "The kernel's drop counter could not be read (/proc/net/udp).\n".to_string(),
        });
        for f in files {
            o.push_str(&format!("Wrote {}\n", f.display()));
        }
        o
    }
}

fn thousands(n: u64) -> String {
    levee_analyze::units::thousands(n)
}

/// Captures of the datagrams, a new one every `every_ns`: each written as `NAME.partial` and
/// renamed when whole, so a reader never takes a half-written file for a capture; an existing
/// file is never overwritten.
struct Rotating {
    dir: PathBuf,
    every_ns: i64,
    current: Option<Open>,
    written: Vec<PathBuf>,
    last_write: Instant,
}

struct Open {
    writer: PcapWriter<BufWriter<File>>,
    partial: PathBuf,
    path: PathBuf,
    until: i64,
    dirty: bool,
}

impl Rotating {
    fn new(dir: &Path, every_ns: i64) -> Rotating {
        Rotating {
            dir: dir.to_path_buf(),
            every_ns,
            current: None,
            written: Vec::new(),
            last_write: Instant::now(),
        }
    }

    fn write(&mut self, ts: i64, packet: &[u8]) -> anyhow::Result<()> {
        if self.current.as_ref().is_some_and(|c| ts >= c.until) {
            self.close()?;
        }
        if self.current.is_none() {
            self.current = Some(self.open(ts)?);
        }
        let c = self.current.as_mut().expect("opened above");
        c.writer
            .write(ts, packet)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", c.partial.display()))?;
        c.dirty = true;
        self.last_write = Instant::now();
        Ok(())
    }

    /// The file for datagrams from `ts`, named by the start of its stretch.
    fn open(&self, ts: i64) -> anyhow::Result<Open> {
        let start = ts - ts.rem_euclid(self.every_ns);
        let stamp = levee_analyze::summary::format_ts(start)
            .split('.')
            .next()
            .unwrap_or_default()
            .replace([':', '-'], "");
        for n in 0.. {
            let name = if n == 0 {
                format!("flows-{stamp}Z.pcap")
            } else {
                format!("flows-{stamp}Z-{n}.pcap")
            };
            let path = self.dir.join(&name);
            let partial = self.dir.join(format!("{name}.partial"));
            if path.exists() {
                continue;
            }
            let file = match File::options().write(true).create_new(true).open(&partial) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => anyhow::bail!("cannot create {}: {e}", partial.display()),
            };
            let writer = PcapWriter::new(BufWriter::new(file), levee_decode::linktype::RAW, 65535)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", partial.display()))?;
            return Ok(Open {
                writer,
                partial,
                path,
                until: start.saturating_add(self.every_ns),
                dirty: false,
            });
        }
        unreachable!("an unbounded search for a free name")
    }

    /// Pushes what was written to the file after a quiet moment, so a crash loses little.
    fn flush_if_idle(&mut self) -> anyhow::Result<()> {
        if let Some(c) = self.current.as_mut() {
            if c.dirty && self.last_write.elapsed() > Duration::from_millis(200) {
                c.writer
                    .flush()
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", c.partial.display()))?;
                c.dirty = false;
            }
        }
        Ok(())
    }

    fn close(&mut self) -> anyhow::Result<()> {
        if let Some(c) = self.current.take() {
            c.writer
                .finish()
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", c.partial.display()))?;
            // A link, not a rename: it fails where a file of that name appeared meanwhile,
            // which a rename would replace.
            std::fs::hard_link(&c.partial, &c.path).map_err(|e| {
                anyhow::anyhow!(
                    "cannot name {} {}: {e} (the capture is kept as {})",
                    c.partial.display(),
                    c.path.display(),
                    c.partial.display()
                )
            })?;
            std::fs::remove_file(&c.partial)
                .map_err(|e| anyhow::anyhow!("cannot remove {}: {e}", c.partial.display()))?;
            self.written.push(c.path);
        }
        Ok(())
    }

    fn finish(mut self) -> anyhow::Result<Vec<PathBuf>> {
        self.close()?;
        Ok(self.written)
    }
}
