//! The `levee` command line. It only wires the library crates together: capture reading
//! (`levee-capture`), decoding (`levee-decode`), analysis (`levee-analyze`) and the traffic
//! generator (`levee-synth`).
//!
//! Exit codes: [`EXIT_CODES`] is the one table, printed by `levee --help`, every subcommand's
//! help and the README.

// Doc comments here are clap's help text (`apache:'<LogFormat>'`), not HTML.
#![allow(rustdoc::invalid_html_tags)]

mod input;
mod l7_cmd;
mod logs_cmd;
mod output;
mod render;
mod report_cmd;
mod requests_cmd;
mod rules_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use levee_analyze::SummaryBuilder;

pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_UNREADABLE_INPUT: u8 = 3;
pub const EXIT_DAMAGED_RECORDS: u8 = 4;

/// The exit codes of every command, as `--help` shows them.
pub const EXIT_CODES: &str = "\
Exit codes (the same for every command):
  0  success
  1  the command failed: an output exists (without --force) or is an input, a rules file
     was refused, a file could not be written
  2  bad command line: unknown option, bad value, options that do not go together
  3  an input could not be read, is empty, or holds nothing to analyse (no packet, no
     decodable packet, no request); any other inputs were processed
  4  every input was read, but damaged records were skipped or flagged (reported on
     standard error and counted)";

#[derive(Parser)]
#[command(
    name = "levee",
    version,
    propagate_version = true,
    about = "Attack forensics and mitigation workbench: what is attacking, which traffic is good, which rule stops it",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Detect and characterise attacks: vectors, targets, sources, spoofing evidence, and a
    /// signature for each attack with its measured coverage and collateral.
    Analyze(AnalyzeArgs),
    /// Check or compile a rules file.
    Rules(RulesArgs),
    /// Run a rules file over captures: what each rule matches, decides and drops.
    Simulate(SimulateArgs),
    /// Summarise captures: totals, protocol hierarchy, top talkers and ports, pps/bps series,
    /// damaged and undecodable packets.
    Summary(SummaryArgs),
    /// Print chosen fields of every packet, tab-separated (like `tshark -T fields`).
    Fields(FieldsArgs),
    /// Write a deterministic, labelled synthetic capture.
    Synth(SynthArgs),
    /// Write the attack report (HTML, Markdown, JSON) of captures: summary, timeline, each
    /// attack with its sources and signature, and the rules with what they stop.
    Report(report_cmd::ReportArgs),
    /// Run levee on a built-in example: synthesise a multi-vector attack capture, analyse it
    /// and write its report.
    Demo(DemoArgs),
    /// Read access logs (Apache/nginx common or combined, custom formats, JSON lines such as
    /// Cloudflare's): the format found, malformed lines by number, time span, methods,
    /// statuses and busiest clients.
    Logs(logs_cmd::LogsArgs),
    /// Write the HTTP/1.x requests of captures (reassembled from TCP, paired with their
    /// responses) as an access log: combined format, or JSON lines with header order, JA3/JA4
    /// and unfinished header blocks.
    Requests(requests_cmd::RequestsArgs),
}

#[derive(Args, Clone)]
pub struct InputArgs {
    /// Capture files (pcap or pcapng, optionally gzip or zstd compressed); `-` reads standard
    /// input. Several files are merged in time order.
    #[arg(required = true)]
    pub captures: Vec<PathBuf>,
    /// Do not show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Print at most this many damaged-record messages (the rest are counted).
    #[arg(long, default_value_t = 20)]
    pub max_errors: usize,
    /// Where standard input was copied (see [`input::spool_stdin`]), to name it `-` in
    /// messages.
    #[arg(skip)]
    pub spool: Option<PathBuf>,
}

/// An error that ends a command with an exit code of its own from the table ([`EXIT_USAGE`]
/// for a command line that cannot be carried out, [`EXIT_UNREADABLE_INPUT`] for inputs that
/// hold nothing to analyse); every other error exits with [`EXIT_FAILURE`].
#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub message: String,
}

impl Exit {
    /// A bad value or a wrong combination of options: exit code 2, as for clap's errors.
    pub fn usage(message: String) -> anyhow::Error {
        Exit {
            code: EXIT_USAGE,
            message,
        }
        .into()
    }

    /// Nothing could be read, or what was read holds nothing to analyse: exit code 3.
    pub fn no_input(message: String) -> anyhow::Error {
        Exit {
            code: EXIT_UNREADABLE_INPUT,
            message,
        }
        .into()
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// A usage error (exit code 2) as an `anyhow::Error`, from a format string.
#[macro_export]
macro_rules! usage {
    ($($t:tt)*) => {
        $crate::Exit::usage(format!($($t)*))
    };
}

/// Returns a usage error (exit code 2) from the current function.
#[macro_export]
macro_rules! bail_usage {
    ($($t:tt)*) => {
        return Err($crate::usage!($($t)*))
    };
}

#[derive(Args)]
struct AnalyzeArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    detect: DetectArgs,
    /// Print JSON (schema in docs/analyze-json.md) instead of text.
    #[arg(long)]
    json: bool,
    /// Write a rules file blocking each attack by its signature (see `levee rules`).
    #[arg(long)]
    rules_out: Option<PathBuf>,
    /// Replace the rules file if it exists.
    #[arg(long)]
    force: bool,
    /// For access logs: their format (auto, combined, common, json, nginx:'<log_format>',
    /// apache:'<LogFormat>'). Logs are told from captures by their first bytes.
    #[arg(long, default_value = "auto")]
    log_format: String,
    /// Judge the HTTP clients of the captures (requests reassembled from TCP, as for access
    /// logs) instead of analysing their packets.
    #[arg(long)]
    http: bool,
    /// Profile and measure every packet, reading the captures twice. Without it, captures
    /// whose frames outgrow --sample-mib are profiled and measured on a uniform sample kept in
    /// memory (every packet is still counted and followed in the flow filters).
    #[arg(long)]
    exact: bool,
    /// Memory for the sample, in MiB: more measures more packets of a large capture.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=65536))]
    sample_mib: u64,
}

/// How attacks are detected, shared by `analyze` and `report`.
#[derive(Args, Clone)]
pub struct DetectArgs {
    /// Width of the time buckets rates are measured in, in seconds.
    #[arg(long, default_value_t = 1.0)]
    bucket: f64,
    /// An attack must reach this many packets per second in some bucket.
    #[arg(long, default_value_t = 1000.0)]
    min_pps: f64,
    /// An attack must hold at least this many packets.
    #[arg(long, default_value_t = 100)]
    min_packets: u64,
    /// A flood must come from at least this many distinct sources (unless its rate rose over
    /// earlier traffic).
    #[arg(long, default_value_t = 50)]
    min_sources: u64,
    /// A reflection attack must come from at least this many reflectors.
    #[arg(long, default_value_t = 20)]
    min_reflectors: u64,
    /// Most collateral, in percent of the capture's other traffic or of levee's benign
    /// reference, a rule `--rules-out` writes may have and still block; beyond it the rule
    /// is written to log, with the reason.
    #[arg(long, value_name = "PERCENT", default_value_t = 0.1)]
    block_collateral: f64,
    /// The capture was sampled one packet in N before it was saved (by the router, the tap or
    /// the tool that cut it): attack packets, bytes and rates are scaled to the wire, and
    /// compared with the thresholds so scaled.
    #[arg(long, value_name = "N", default_value_t = 1)]
    sampling_rate: u64,
    /// How many entries in each top list.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Worker threads (0: one per core). An exact analysis (every packet measured) gives the
    /// same result as one thread; a sampled one agrees within its sampling error. One plain
    /// pcap or pcapng file is read in parts, a thread each (fastest); other inputs are read by
    /// one thread that deals packets out by flow.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

impl DetectArgs {
    /// The analysis settings and the number of threads.
    pub fn config(&self) -> anyhow::Result<(levee_analyze::AnalyzeConfig, usize)> {
        if !(self.bucket > 0.0 && self.bucket.is_finite()) {
            bail_usage!("--bucket must be a positive number of seconds");
        }
        if self.sampling_rate == 0 {
            bail_usage!("--sampling-rate is N in \"one packet in N\": at least 1");
        }
        if !(0.0..=100.0).contains(&self.block_collateral) {
            bail_usage!("--block-collateral is a percentage, from 0 to 100");
        }
        let config = levee_analyze::AnalyzeConfig {
            block_collateral: self.block_collateral / 100.0,
            bucket_ns: ((self.bucket * 1e9) as i64).max(1),
            min_pps: self.min_pps,
            min_packets: self.min_packets,
            min_flood_sources: self.min_sources,
            min_reflectors: self.min_reflectors,
            top_n: self.top,
            wire_one_in: self.sampling_rate,
            ..Default::default()
        };
        let threads = match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n.min(64),
        };
        Ok((config, threads))
    }
}

#[derive(Args)]
struct RulesArgs {
    #[command(subcommand)]
    command: RulesCommand,
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Parse and type-check a rules file; every problem is printed with its line and column.
    Check { file: PathBuf },
    /// Aggregate a list of addresses (one per line) into the fewest prefixes, never covering
    /// an address of the allow list; prints a list file usable as `$name` in rules. By default
    /// a prefix is used only where every address under it was given: the list blocks exactly
    /// the input. `--max-prefix N` lets prefixes up to /N cover addresses that were not given,
    /// and each such prefix says how many.
    Aggregate {
        /// Addresses or prefixes, one per line (`#` comments).
        file: PathBuf,
        /// Addresses and prefixes that must never be covered.
        #[arg(long)]
        allow: Option<PathBuf>,
        /// Let IPv4 prefixes up to /N cover addresses that were not given (shorter than /8
        /// needs --force).
        #[arg(long, value_name = "N")]
        max_prefix: Option<u8>,
        /// Let IPv6 prefixes up to /N cover addresses that were not given (shorter than /32
        /// needs --force).
        #[arg(long, value_name = "N")]
        max_prefix_v6: Option<u8>,
        /// Accept --max-prefix shorter than /8 (IPv6: /32).
        #[arg(long)]
        force: bool,
    },
    /// Write a rules file for an engine: bpf (tcpdump filters), cloudflare (Network Firewall
    /// ruleset), cloudflare-waf (custom rules), cloudflare-ratelimit, cloudflare-list (an IP
    /// list's items; Cloudflare outputs are API bodies for curl), nftables (netdev ingress of
    /// --device), nftables-inet, iptables, ipset or nginx.
    Compile {
        file: PathBuf,
        /// bpf, cloudflare, cloudflare-waf, cloudflare-ratelimit, cloudflare-list, nftables,
        /// nftables-inet, iptables, ipset or nginx.
        #[arg(long)]
        target: String,
        /// The interface of the nftables netdev ingress hook.
        #[arg(long, default_value = "eth0")]
        device: String,
        /// nftables and iptables: `log` rules send packets to NFLOG group N (read them with
        /// ulogd2 or `tcpdump -i nflog:N`) instead of the kernel log.
        #[arg(long, value_name = "N")]
        log_group: Option<u16>,
        /// cloudflare-list: the list whose items to write (when the file has several).
        #[arg(long, value_name = "NAME")]
        list: Option<String>,
    },
}

#[derive(Args)]
struct SimulateArgs {
    /// The rules file.
    #[arg(long)]
    rules: PathBuf,
    #[command(flatten)]
    input: InputArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Only apply the rules, in one pass, without looking for attacks: per-rule counts and
    /// totals, no share per attack. For a quick look at a large capture.
    #[arg(long)]
    rules_only: bool,
    /// For access logs: their format (as for `levee analyze`).
    #[arg(long, default_value = "auto")]
    log_format: String,
    /// Apply HTTP rules to the requests reassembled from the captures (as for access logs)
    /// instead of to their packets.
    #[arg(long)]
    http: bool,
}

#[derive(Args)]
struct SummaryArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Print JSON (schema in docs/summary-json.md) instead of text.
    #[arg(long)]
    json: bool,
    /// The capture was sampled one packet in N before it was saved (by the router, the tap or
    /// the tool that cut it): attack packets, bytes and rates are scaled to the wire, and
    /// compared with the thresholds so scaled.
    #[arg(long, value_name = "N", default_value_t = 1)]
    sampling_rate: u64,
    /// How many entries in each top list.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Width of the time-series buckets, in seconds.
    #[arg(long, default_value_t = 1.0)]
    bucket: f64,
}

#[derive(Args)]
struct FieldsArgs {
    /// Capture files, as for `summary`.
    #[arg(required_unless_present = "list")]
    captures: Vec<PathBuf>,
    /// Print at most this many damaged-record messages (the rest are counted).
    #[arg(long, default_value_t = 20)]
    max_errors: usize,
    /// A field to print (repeatable), e.g. `-e ip.src -e tcp.dstport`.
    #[arg(short = 'e', long = "field")]
    fields: Vec<String>,
    /// List the field names and exit.
    #[arg(long)]
    list: bool,
}

#[derive(Args)]
struct SynthArgs {
    /// Attacks: `benign` (none), a vector name (`syn-flood`, `dns-reflection`, `port-scan`...;
    /// `levee synth --list` names them all), several joined with `+`, or `multi` (DNS + NTP
    /// reflection + SYN flood at once). Default `syn-flood`; with `--http`: `http-flood`,
    /// `login-abuse`, `cache-busting`, `http-scanner` joined with `+`, `benign`, or `http-mix`
    /// (all four, the default).
    #[arg(long)]
    scenario: Option<String>,
    /// Write an access log (Apache combined) of people browsing a web shop and crawlers,
    /// with the `--scenario`'s layer-7 attacks in its middle third, instead of a capture.
    #[arg(long)]
    http: bool,
    /// Write the benign reference levee measures every generated rule's collateral against
    /// (handshakes, the victim's own connections, QUIC, DNS, NTP, path-MTU discovery,
    /// traceroute, ping; see docs/rules.md) for `--victim`, instead of a scenario.
    #[arg(long, conflicts_with_all = ["http", "scenario"])]
    reference: bool,
    /// With `--http`: write the shop as a packet capture (every request over TCP, answered;
    /// requests split, reordered, retransmitted and pipelined) instead of a log. Its scenario
    /// may add `slowloris`.
    #[arg(long)]
    capture: bool,
    /// With `--http`: write the log as Cloudflare HTTP request log JSON lines (ClientIP,
    /// ClientRequest*, EdgeResponseStatus, EdgeStartTimestamp, JA3Hash, JA4) instead of the
    /// combined format.
    #[arg(long, conflicts_with = "capture")]
    cloudflare: bool,
    /// With `--http`: the log's length in seconds.
    #[arg(long, default_value_t = 1800.0)]
    duration: f64,
    /// With `--http`: new browsing sessions per second.
    #[arg(long, default_value_t = 1.0)]
    sessions_per_second: f64,
    /// Legitimate traffic under the attacks: web, download, speedtest, backup or resolver.
    #[arg(long, default_value = "web")]
    background: String,
    /// List the scenario and background names and exit.
    #[arg(long)]
    list: bool,
    /// Number of packets.
    #[arg(long, default_value_t = 20_000)]
    packets: u64,
    /// Random seed: the same seed gives the same capture.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of attack packets, in [0, 1).
    #[arg(long, default_value_t = 0.9)]
    attack_share: f64,
    /// Benign packets per second.
    #[arg(long, default_value_t = 2000.0)]
    benign_pps: f64,
    /// Destination port of the floods that have one.
    #[arg(long, default_value_t = 80)]
    port: u16,
    /// The victim's IPv4 address (its resolver is `.53` of the same /24).
    #[arg(long, default_value = "10.10.10.10")]
    victim: std::net::Ipv4Addr,
    /// Draw the reflectors from these IPv4 prefixes (comma-separated, e.g.
    /// `89.160.20.128/25,67.43.156.0/24`) instead of random public addresses.
    #[arg(long, value_delimiter = ',')]
    reflectors: Vec<ipnet::Ipv4Net>,
    /// Capture start time, in seconds since 1970 (default 2026-01-15T12:00:00Z). Set it to a
    /// real capture's start to mix the two with `levee analyze real.pcap synth.pcap`.
    #[arg(long)]
    start: Option<f64>,
    /// Output file (pcap, or with `--http` an access log).
    #[arg(long, short, required_unless_present = "list")]
    out: Option<PathBuf>,
    /// Label file (default: the output name with `.labels.csv`).
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Replace the output files if they exist.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct DemoArgs {
    /// Where to write the example capture, its rules and report (default: a new temporary
    /// directory). Existing files there are never replaced without `--force`.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Replace the demo's files in `--dir` if they exist.
    #[arg(long)]
    force: bool,
    /// Print the analysis as JSON.
    #[arg(long)]
    json: bool,
}

/// The command line, with the exit-code table in every subcommand's help; clap's own errors
/// exit with [`EXIT_USAGE`], help and version with 0.
fn parse_command_line() -> Result<Cli, ExitCode> {
    use clap::{CommandFactory, FromArgMatches};
    fn with_table(c: clap::Command) -> clap::Command {
        c.after_help(EXIT_CODES).mut_subcommands(with_table)
    }
    let parsed = with_table(Cli::command())
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    parsed.map_err(|e| {
        let _ = e.print();
        if e.use_stderr() {
            ExitCode::from(EXIT_USAGE)
        } else {
            ExitCode::SUCCESS
        }
    })
}

fn main() -> ExitCode {
    let cli = match parse_command_line() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let result = match cli.command {
        Command::Analyze(a) => analyze(a),
        Command::Rules(a) => rules(a),
        Command::Simulate(a) => simulate(a),
        Command::Summary(a) => summary(a),
        Command::Fields(a) => fields(a),
        Command::Synth(a) => synth(a),
        Command::Report(a) => report_cmd::report(a),
        Command::Demo(a) => demo(a),
        Command::Logs(a) => logs_cmd::run(a),
        Command::Requests(a) => requests_cmd::run(a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("levee: error: {}", error_text(&e));
            ExitCode::from(e.downcast_ref::<Exit>().map_or(EXIT_FAILURE, |x| x.code))
        }
    }
}

/// An error and its causes on one line, each cause said once: many errors already name their
/// cause in their own text, and printing the chain whole repeated it (an OS error three times).
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let t = cause.to_string();
        if !text.contains(&t) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&t);
        }
    }
    text
}

fn summary(a: SummaryArgs) -> anyhow::Result<u8> {
    if !(a.bucket > 0.0 && a.bucket.is_finite()) {
        bail_usage!("--bucket must be a positive number of seconds");
    }
    let mut builder = SummaryBuilder::new((a.bucket * 1e9) as i64);
    let outcome = input::for_each_packet(&a.input, &mut builder, |b, ts, p| b.add(ts, p))?;
    let summary = builder.finish(outcome.files.clone(), a.top);
    emit_summary(&summary, a.json)?;
    Ok(input::exit_code(&outcome))
}

fn analyze(a: AnalyzeArgs) -> anyhow::Result<u8> {
    let (mut config, threads) = a.detect.config()?;
    // The rules file is checked (and its temporary file made) before any input is read.
    let rules_out = match &a.rules_out {
        Some(p) => Some(output::PendingFile::create(p, &a.input.captures, a.force)?),
        None => None,
    };
    let (input, spool) = input::spool_stdin(&a.input)?;
    if let Some(source) =
        l7_cmd::Requests::of(&input, spool.as_deref(), &a.log_format, a.http, "analyze")?
    {
        return l7_cmd::analyze_logs(&source, levee_l7::L7Config::default(), a.json, rules_out);
    }
    if !a.exact {
        config.sample_budget = Some((a.sample_mib as usize) << 20);
    }
    let (analysis, code) = run_analysis(&input, spool.as_deref(), config, threads)?;
    if let Some(out) = rules_out {
        use std::io::Write;
        out.file()
            .write_all(rules_cmd::rules_text(&analysis).as_bytes())
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.path().display()))?;
        let path = out.commit()?;
        eprintln!(
            "levee: wrote {} rule(s) to {}",
            analysis.attacks.len(),
            path.display()
        );
    }
    if a.json {
        emit(&(serde_json::to_string_pretty(&analysis)? + "\n"))?;
    } else {
        emit(&render::analysis_text(&analysis))?;
    }
    Ok(code)
}

fn rules(a: RulesArgs) -> anyhow::Result<u8> {
    match a.command {
        RulesCommand::Check { file } => {
            let f = rules_cmd::load(&file)?;
            emit(&format!(
                "{}: {} rule(s), {} list(s): ok\n",
                file.display(),
                f.rules.len(),
                f.list_files.len()
            ))?;
            Ok(0)
        }
        RulesCommand::Aggregate {
            file,
            allow,
            max_prefix,
            max_prefix_v6,
            force,
        } => {
            // Prefixes this wide block whole networks; a typo (`--max-prefix 0`) must not.
            for (flag, n, max, widest) in [
                ("--max-prefix", max_prefix, 32u8, 8u8),
                ("--max-prefix-v6", max_prefix_v6, 128, 32),
            ] {
                let Some(n) = n else { continue };
                if n > max {
                    bail_usage!("{flag} {n}: prefix lengths go from 0 to {max}");
                }
                if n < widest && !force {
                    bail_usage!(
                        "{flag} {n} would let one prefix cover more than a /{widest}; \
                         add --force if that is really meant"
                    );
                }
            }
            let widen = levee_rules::aggregate::Widening {
                max_v4: max_prefix,
                max_v6: max_prefix_v6,
            };
            let read = |p: &std::path::Path| -> anyhow::Result<Vec<levee_rules::aggregate::Net>> {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
                levee_rules::Lists::parse_text(&p.display().to_string(), &text)
                    .map_err(|e| anyhow::anyhow!("{e}"))
            };
            let nets = read(&file)?;
            let allow = match &allow {
                Some(p) => read(p)?,
                None => Vec::new(),
            };
            // Prefixes in the input stand for their addresses: aggregate their first address
            // when they are single hosts, keep them whole otherwise.
            let (hosts, whole): (Vec<_>, Vec<_>) = nets
                .into_iter()
                .partition(|n| n.prefix_len() == n.max_prefix_len());
            let addrs: Vec<std::net::IpAddr> = hosts.iter().map(|n| n.addr()).collect();
            let a = levee_rules::aggregate::aggregate(&addrs, &allow, widen);
            let limit = |m: Option<u8>| m.map_or("exact".to_string(), |m| format!("up to /{m}"));
            let mut out = format!(
                "# {} address(es) of {} aggregated into {} prefix(es) (IPv4 {}, IPv6 {}), \
                 covering {} address(es) not in the input\n",
                addrs.len(),
                file.display(),
                a.prefixes.len() + whole.len(),
                limit(max_prefix),
                limit(max_prefix_v6),
                a.unseen_covered
            );
            for x in &a.allowed_inputs {
                out.push_str(&format!("# left out, allow-listed: {x}\n"));
            }
            for p in &a.prefixes {
                if p.unseen > 0 {
                    out.push_str(&format!(
                        "{}  # {} given, {} not given\n",
                        p.net, p.given, p.unseen
                    ));
                } else {
                    out.push_str(&format!("{}\n", p.net));
                }
            }
            for p in &whole {
                out.push_str(&format!("{p}  # given as a prefix\n"));
            }
            emit(&out)?;
            Ok(0)
        }
        RulesCommand::Compile {
            file,
            target,
            device,
            log_group,
            list,
        } => {
            let t = levee_rules::compile::Target::parse(&target).ok_or_else(|| {
                usage!(
                    "unknown target `{target}` (one of: {})",
                    levee_rules::compile::Target::NAMES.join(", ")
                )
            })?;
            let f = rules_cmd::load(&file)?;
            let options = levee_rules::compile::Options {
                device: &device,
                log_group,
                list: list.as_deref(),
            };
            let text =
                levee_rules::compile::render_with(&f, t, &file.display().to_string(), &options)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            emit(&text)?;
            // Cloudflare's outputs are bare API bodies: how to send them goes to the terminal.
            if let Some(hint) = levee_rules::compile::cloudflare_hint(t, &f) {
                eprintln!("{hint}");
            }
            Ok(0)
        }
    }
}

fn simulate(a: SimulateArgs) -> anyhow::Result<u8> {
    let (input, spool) = input::spool_stdin(&a.input)?;
    if let Some(source) =
        l7_cmd::Requests::of(&input, spool.as_deref(), &a.log_format, a.http, "simulate")?
    {
        if a.rules_only {
            bail_usage!("--rules-only is for the packets of captures");
        }
        return l7_cmd::simulate_logs(&a.rules, &source, a.json);
    }
    let (sim, code) = if a.rules_only {
        rules_cmd::simulate_rules_only(&a.rules, &input)?
    } else {
        rules_cmd::simulate(&a.rules, &input)?
    };
    if a.json {
        emit(&(serde_json::to_string_pretty(&sim)? + "\n"))?;
    } else {
        emit(&rules_cmd::simulation_text(&sim))?;
    }
    Ok(code)
}

/// Both passes of an analysis, over inputs whose standard input was spooled to `spool` (see
/// [`input::spool_stdin`]), since the second pass reads the packets again.
fn run_analysis(
    input: &InputArgs,
    spool: Option<&std::path::Path>,
    config: levee_analyze::AnalyzeConfig,
    threads: usize,
) -> anyhow::Result<(levee_analyze::Analysis, u8)> {
    let (plan, mut reading) = run_passes(input, config, threads, false, 2)?;
    input::name_spool(&mut reading.files, spool);
    let analysis = plan.finish(reading.files.clone(), reading.damaged);
    require_decoded(&analysis.capture)?;
    Ok((analysis, input::exit_code(&reading)))
}

/// The input rule for analyses: packets none of which decode (not IP, or cut before their
/// transport header) are an input error, not "no attack".
pub(crate) fn require_decoded(c: &levee_analyze::report::CaptureInfo) -> anyhow::Result<()> {
    if c.packets > 0 && c.undecoded_packets == c.packets {
        let names: Vec<&str> = c.files.iter().map(|f| f.name.as_str()).collect();
        return Err(crate::Exit::no_input(format!(
            "none of the {} packets of {} holds an IP packet with a whole transport header that levee decodes (see `levee summary` for their link types and what stopped decoding)",
            c.packets,
            names.join(", ")
        )));
    }
    Ok(())
}

/// Both passes of an analysis by the engine ([`levee_engine::analyze`]), over inputs that can
/// be read twice, progress and damage shown as pass 1 and 2 of `passes`.
pub(crate) fn run_passes(
    input: &InputArgs,
    config: levee_analyze::AnalyzeConfig,
    threads: usize,
    details: bool,
    passes: u8,
) -> anyhow::Result<(levee_analyze::Plan, input::Reading)> {
    let terminal = input::Terminal::new(input, passes);
    levee_engine::analyze(
        &input::inputs(input),
        config,
        levee_engine::Passes { threads, details },
        &terminal,
    )
    .map_err(|e| terminal.error(e))
}

/// Writes to standard output. A reader that went away (`levee ... | head`) ends the output
/// quietly instead of being an error.
pub(crate) fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn emit_summary(summary: &levee_analyze::Summary, json: bool) -> anyhow::Result<()> {
    if json {
        emit(&(serde_json::to_string_pretty(summary)? + "\n"))
    } else {
        emit(&render::summary_text(summary))
    }
}

fn fields(a: FieldsArgs) -> anyhow::Result<u8> {
    use std::io::Write;
    if a.list {
        let list: String = levee_decode::FIELD_NAMES
            .iter()
            .map(|(name, meaning)| format!("{name:<28} {meaning}\n"))
            .collect();
        emit(&list)?;
        return Ok(0);
    }
    if a.fields.is_empty() {
        bail_usage!("name at least one field with -e (see `levee fields --list`)");
    }
    for f in &a.fields {
        if !levee_decode::FIELD_NAMES.iter().any(|(n, _)| n == f) {
            bail_usage!("unknown field `{f}` (see `levee fields --list`)");
        }
    }
    let names: Vec<&str> = a.fields.iter().map(String::as_str).collect();
    let input = InputArgs {
        captures: a.captures.clone(),
        no_progress: true,
        max_errors: a.max_errors,
        spool: None,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut write_err: Option<std::io::Error> = None;
    let outcome = input::for_each_packet(&input, &mut out, |out, _ts, p| {
        if write_err.is_some() {
            return;
        }
        let mut line = String::new();
        for (i, v) in p.fields(&names).into_iter().enumerate() {
            if i > 0 {
                line.push('\t');
            }
            if let Some(v) = v {
                line.push_str(&v.to_string());
            }
        }
        line.push('\n');
        if let Err(e) = out.write_all(line.as_bytes()) {
            write_err = Some(e);
        }
    })?;
    if let Some(e) = write_err {
        // A closed pipe (`| head`) is not an error worth a message.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
        return Ok(0);
    }
    match out.flush() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    Ok(input::exit_code(&outcome))
}

fn synth(a: SynthArgs) -> anyhow::Result<u8> {
    if a.list {
        emit(&format!(
            "scenarios:   {}\nbackgrounds: {}\n",
            levee_synth::Scenario::names().join(" "),
            levee_synth::Background::NAMES.join(" ")
        ))?;
        return Ok(0);
    }
    if a.http {
        return synth_http(&a);
    }
    if a.reference {
        let out = a.out.clone().expect("clap requires --out without --list");
        let labels = a.labels.clone().unwrap_or_else(|| labels_path(&out));
        let start_ns = match a.start {
            Some(s) if (0.0..4e9).contains(&s) => (s * 1e9) as i64,
            Some(_) => bail_usage!("--start must be seconds since 1970, before 2096"),
            None => levee_synth::SynthConfig::default().start_ns,
        };
        let files = output::PendingFiles::create(&[out.clone(), labels.clone()], &[], a.force)?;
        let n = levee_synth::reference::write(
            std::net::IpAddr::V4(a.victim),
            start_ns,
            std::io::BufWriter::new(files.get(0).file()),
            std::io::BufWriter::new(files.get(1).file()),
        )
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
        files.commit()?;
        eprintln!(
            "levee: wrote the benign reference for {} ({n} packets) to {} and labels to {}",
            a.victim,
            out.display(),
            labels.display()
        );
        return Ok(0);
    }
    let name = a.scenario.as_deref().unwrap_or("syn-flood");
    let scenario = levee_synth::Scenario::parse(name)
        .ok_or_else(|| usage!("unknown scenario `{name}` (see `levee synth --list`)"))?;
    let background = levee_synth::Background::parse(&a.background).ok_or_else(|| {
        usage!(
            "unknown background `{}` (one of: {})",
            a.background,
            levee_synth::Background::NAMES.join(", ")
        )
    })?;
    let out = a.out.clone().expect("clap requires --out without --list");
    let labels = a.labels.clone().unwrap_or_else(|| labels_path(&out));
    let cfg = levee_synth::SynthConfig {
        scenario,
        background,
        packets: a.packets,
        seed: a.seed,
        attack_share: a.attack_share,
        benign_pps: a.benign_pps,
        target_port: a.port,
        victim: a.victim.octets(),
        reflector_nets: a
            .reflectors
            .iter()
            .map(|n| (n.network().octets(), n.prefix_len()))
            .collect(),
        start_ns: match a.start {
            Some(s) if (0.0..4e9).contains(&s) => (s * 1e9) as i64,
            Some(_) => bail_usage!("--start must be seconds since 1970, before 2096"),
            None => levee_synth::SynthConfig::default().start_ns,
        },
    };
    let files = output::PendingFiles::create(&[out.clone(), labels.clone()], &[], a.force)?;
    let stats = write_synth(&cfg, files)?;
    eprintln!(
        "levee: wrote {} packets ({} attack, {} benign, {} bytes) to {} and labels to {}",
        stats.packets,
        stats.attack,
        stats.benign,
        stats.bytes,
        out.display(),
        labels.display()
    );
    Ok(0)
}

/// `levee synth --http`: an access log with its labels.
fn synth_http(a: &SynthArgs) -> anyhow::Result<u8> {
    let mut attacks: Vec<String> = Vec::new();
    for name in a.scenario.as_deref().unwrap_or("http-mix").split('+') {
        match name {
            "benign" => {}
            "http-mix" => attacks.extend(levee_synth::http::HTTP_ATTACKS.map(str::to_string)),
            "slowloris" => attacks.push(name.into()),
            x if levee_synth::http::HTTP_ATTACKS.contains(&x)
                || levee_synth::http::HTTP_EXTRA_ATTACKS.contains(&x) =>
            {
                attacks.push(name.into())
            }
            x => bail_usage!(
                "unknown HTTP scenario `{x}` (benign, http-mix, slowloris, {}, {})",
                levee_synth::http::HTTP_ATTACKS.join(", "),
                levee_synth::http::HTTP_EXTRA_ATTACKS.join(", ")
            ),
        }
    }
    // Slowloris holds connections open: it exists only in a capture.
    let slowloris = attacks.iter().any(|x| x == "slowloris");
    attacks.retain(|x| x != "slowloris");
    if slowloris && !a.capture {
        bail_usage!("slowloris lives in TCP connections: add --capture to write a capture");
    }
    if !(a.duration > 0.0 && a.duration <= 30.0 * 86_400.0) {
        bail_usage!("--duration must be between 0 and 30 days, in seconds");
    }
    if !(a.sessions_per_second > 0.0 && a.sessions_per_second <= 100_000.0) {
        bail_usage!("--sessions-per-second must be above 0 and at most 100000");
    }
    let cfg = levee_synth::http::HttpConfig {
        attacks,
        seed: a.seed,
        duration_s: a.duration,
        sessions_per_s: a.sessions_per_second,
        start_ns: match a.start {
            Some(s) if (0.0..4e9).contains(&s) => (s * 1e9) as i64,
            Some(_) => bail_usage!("--start must be seconds since 1970, before 2096"),
            None => levee_synth::http::HttpConfig::default().start_ns,
        },
        cloudflare: a.cloudflare,
        ..Default::default()
    };
    let out = a.out.clone().expect("clap requires --out without --list");
    let labels = a.labels.clone().unwrap_or_else(|| labels_path(&out));
    let files = output::PendingFiles::create(&[out.clone(), labels.clone()], &[], a.force)?;
    let log = std::io::BufWriter::with_capacity(1 << 20, files.get(0).file());
    let lab = std::io::BufWriter::new(files.get(1).file());
    let s = if a.capture {
        levee_synth::http_capture::generate_http_capture(&cfg, slowloris, log, lab)?
    } else {
        levee_synth::http::generate_http(&cfg, log, lab)?
    };
    files.commit()?;
    eprintln!(
        "levee: wrote {} requests ({} from {} browsing sessions, {} from crawlers, {} attack) to {} and labels to {}",
        s.lines,
        s.benign,
        s.sessions,
        s.crawler,
        s.attack,
        out.display(),
        labels.display()
    );
    Ok(0)
}

fn labels_path(out: &std::path::Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".labels.csv");
    PathBuf::from(s)
}

/// Writes a synthetic capture and its labels into files made by [`output::PendingFiles`]
/// (the capture first, then the labels), and renames them into place.
fn write_synth(
    cfg: &levee_synth::SynthConfig,
    files: output::PendingFiles,
) -> anyhow::Result<levee_synth::SynthStats> {
    let pcap = std::io::BufWriter::with_capacity(1 << 20, files.get(0).file());
    let lab = std::io::BufWriter::new(files.get(1).file());
    let stats = levee_synth::generate(cfg, pcap, lab)?;
    files.commit()?;
    Ok(stats)
}

fn demo(a: DemoArgs) -> anyhow::Result<u8> {
    let dir = match a.dir {
        Some(d) => {
            std::fs::create_dir_all(&d)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", d.display()))?;
            d
        }
        None => tempfile::Builder::new()
            .prefix("levee-demo-")
            .tempdir()
            .map_err(|e| anyhow::anyhow!("cannot create a temporary directory: {e}"))?
            .keep(),
    };
    let capture = dir.join("demo-attack.pcap");
    let labels = labels_path(&capture);
    let rules = dir.join("demo-rules.toml");
    let report_dir = dir.join("report");
    std::fs::create_dir_all(&report_dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", report_dir.display()))?;
    // Every file the demo writes is checked before the first is written.
    let synth_files =
        output::PendingFiles::create(&[capture.clone(), labels.clone()], &[], a.force)?;
    let mut later = vec![rules.clone()];
    later.extend(levee_report::FILES.map(|n| report_dir.join(n)));
    let result_files = output::PendingFiles::create(&later, &[], a.force)?;
    let cfg = levee_synth::SynthConfig {
        packets: 60_000,
        scenario: levee_synth::Scenario::parse("multi").expect("built-in scenario"),
        ..Default::default()
    };
    let stats = write_synth(&cfg, synth_files)?;
    eprintln!(
        "levee demo: synthesised {} packets in {}: DNS and NTP reflection and a spoofed SYN \
         flood on {} ({} attack packets) over {} packets of web and DNS traffic",
        stats.packets,
        capture.display(),
        std::net::Ipv4Addr::from(levee_synth::VICTIM),
        stats.attack,
        stats.benign,
    );
    eprintln!(
        "levee demo: running `levee report {} --out {}`\n",
        capture.display(),
        report_dir.display()
    );
    let input = InputArgs {
        captures: vec![capture.clone()],
        no_progress: true,
        max_errors: 20,
        spool: None,
    };
    let (report, code) = report_cmd::make_report(
        &input,
        None,
        levee_analyze::AnalyzeConfig::default(),
        1,
        None,
        &levee_report::Enricher::default(),
        "eth0",
    )?;
    let analysis = &report.analysis;
    let mut texts = vec![rules_cmd::rules_text(analysis)];
    texts.extend(levee_report::render(&report)?);
    let paths = result_files.write_all(&texts)?;
    let paths = &paths[1..];
    if a.json {
        emit(&(serde_json::to_string_pretty(analysis)? + "\n"))?;
        eprintln!("levee demo: the report is in {}", paths[0].display());
        return Ok(code);
    }
    emit(&render::analysis_text(analysis))?;
    let sim = &report.mitigation.simulation;
    emit(&format!(
        "Rules ready to apply: {}\n\
         \x20 together they drop {} of {} packets ({:.1}%): \
         {} of the traffic that belongs to no attack ({:.3}%)\n",
        rules.display(),
        sim.blocked.packets,
        sim.total.packets,
        sim.blocked.packets as f64 * 100.0 / sim.total.packets.max(1) as f64,
        sim.other.dropped_packets,
        sim.other.share * 100.0
    ))?;
    for a in &sim.attacks {
        emit(&format!(
            "  attack {} ({}): {:.2}% stopped\n",
            a.attack,
            a.vector,
            a.stopped.share * 100.0
        ))?;
    }
    for r in &sim.rules {
        emit(&format!(
            "  {:<22} {}\n",
            r.id,
            render::short_sets(&r.expression.to_string(), 8)
        ))?;
    }
    emit(&format!(
        "  as tcpdump filters or a Cloudflare ruleset: `levee rules compile {} --target bpf`\n\
         \x20 (or `--target cloudflare`); measured on any capture: `levee simulate --rules {} CAPTURE`\n",
        rules.display(),
        rules.display()
    ))?;
    emit(&format!(
        "\nReport for the customer: {}\n  (also {} and {})\n",
        paths[0].display(),
        paths[1].display(),
        paths[2].display()
    ))?;
    eprintln!(
        "levee demo: the truth is in {}; try `levee summary {}` too",
        labels.display(),
        capture.display()
    );
    Ok(code)
}
