//! The command line's arguments (clap), parsed with the exit-code table in every help.

// Doc comments here are clap's help text (`apache:'<LogFormat>'`), not HTML.
#![allow(rustdoc::invalid_html_tags)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::{bail_usage, EXIT_CODES, EXIT_USAGE};

#[derive(Parser)]
#[command(
    name = "levee",
    version,
    propagate_version = true,
    about = "Attack forensics and mitigation workbench: what is attacking, which traffic is good, which rule stops it",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
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
    Report(ReportArgs),
    /// Run levee on a built-in example: synthesise a multi-vector attack capture, analyse it
    /// and write its report.
    Demo(DemoArgs),
    /// Read access logs (Apache/nginx common or combined, custom formats, JSON lines such as
    /// Cloudflare's): the format found, malformed lines by number, time span, methods,
    /// statuses and busiest clients.
    Logs(LogsArgs),
    /// Write the HTTP/1.x requests of captures (reassembled from TCP, paired with their
    /// responses) as an access log: combined format, or JSON lines with header order, JA3/JA4
    /// and unfinished header blocks.
    Requests(RequestsArgs),
    /// Collect flow exports (NetFlow v5 and v9, IPFIX, sFlow v5) on a UDP port: a line a
    /// second of what arrived and the kernel's drops, and with --write a capture of every
    /// datagram (a new file every --rotate seconds) that `levee analyze` and the other
    /// commands read as the traffic the flows stand for.
    Collect(CollectArgs),
    /// Watch traffic as it comes (a capture played as fast as it reads or at its own pace):
    /// attacks detected every second as `analyze` detects them, kept as incidents in a SQLite
    /// database with the rule for each engine, alerts on their start, escalation and end.
    Monitor(MonitorArgs),
    /// The incidents a monitor keeps: list, show, acknowledge, note, resolve, reopen.
    Incidents(IncidentsArgs),
    /// Look for indicators of compromise (plain lists, CSV, STIX 2.1, MISP) in captures,
    /// access logs and flow exports: every hit with its file, frame or line, time, field and
    /// context.
    Hunt(HuntArgs),
    /// Make captures and access logs fit to share: captures merged in time order with other
    /// taps' duplicates removed, timestamps put in order (impossible ones fixed), cut by time;
    /// with a key, addresses anonymised prefix-preserving, MACs and names replaced, payloads
    /// cut, and a mapping that turns it back; access logs as JSON lines, anonymised alike.
    Clean(CleanArgs),
    /// Process every capture or access log that lands in a directory: `levee report` on it
    /// and, with `--iocs` or `--anomalies`, `levee hunt`, each file exactly once, its state on
    /// disk so a restart (even after kill -9) goes on; an index page of everything processed.
    Watch(WatchArgs),
}

#[derive(Args, Clone)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["read", "interface", "collect", "log", "config"])))]
pub struct MonitorArgs {
    /// Take every setting from this TOML file (the options below, by their long names:
    /// `interface = "eth0"`, `db = "..."`, `alerts = ["..."]`, `min_pps = 1000`...), and take
    /// it again on SIGHUP: thresholds, quiet period, device, alerts, webhooks, syslog and
    /// metrics change at once; the input, database and evidence need a restart. No other
    /// option goes with it but --verbose.
    #[arg(long, value_name = "FILE", conflicts_with_all = [
        "realtime", "db", "alerts", "webhook", "syslog", "evidence", "metrics", "quiet",
        "device", "min_pps", "min_packets", "min_sources", "min_reflectors", "networks",
        "sampling_rate", "log_format", "from_start", "metrics_listen",
    ])]
    pub config: Option<PathBuf>,
    /// A capture to play into the monitor (pcap or pcapng, optionally compressed).
    #[arg(long, value_name = "FILE")]
    pub read: Option<PathBuf>,
    /// Watch this network interface (Linux: a packet socket with a ring shared with the
    /// kernel; needs root or CAP_NET_RAW). The kernel's drops are read every second and told.
    #[arg(long, value_name = "IF")]
    pub interface: Option<String>,
    /// Collect flow exports (NetFlow v5/v9, IPFIX, sFlow) sent to this UDP address, as
    /// `levee collect` does, and watch the traffic their records stand for, scaled by their
    /// sampling rates. Detection is as late as the exporters' timeouts make it.
    #[arg(long, value_name = "ADDR:PORT")]
    pub collect: Option<std::net::SocketAddr>,
    /// With --collect: the sampling rate of records whose export states none (one packet in N).
    #[arg(long, value_name = "N", default_value_t = 1, requires = "collect")]
    pub sampling_rate: u64,
    /// Follow this access log as the web server writes it (through logrotate's rotations),
    /// judging its clients as `levee analyze` judges a log's: web attacks (http-flood,
    /// login-abuse, bad-bot...) become incidents with the rule blocking their clients, for
    /// nginx too.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// With --log: its format (auto, combined, common, json, nginx:'FORMAT', apache:'FORMAT').
    #[arg(long, value_name = "FORMAT", default_value = "auto", requires = "log")]
    pub log_format: String,
    /// With --log: read it from its first line, not only the lines written from now on.
    #[arg(long, requires = "log")]
    pub from_start: bool,
    /// Play the capture at its own pace (each packet when as much time has passed as in the
    /// capture) instead of as fast as it reads.
    #[arg(long, requires = "read")]
    pub realtime: bool,
    /// The incident database (SQLite; created when missing).
    #[arg(long, value_name = "FILE", required_unless_present = "config")]
    pub db: Option<PathBuf>,
    /// Append alerts as JSON lines to this file (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    pub alerts: Vec<PathBuf>,
    /// POST each alert's JSON to this URL (http:// or https://), retried with backoff from a
    /// thread of its own.
    #[arg(long, value_name = "URL")]
    pub webhook: Vec<String>,
    /// Send each alert as an RFC 5424 syslog message to udp://HOST:PORT or tcp://HOST:PORT.
    #[arg(long, value_name = "URL")]
    pub syslog: Vec<String>,
    /// Write each incident's packets (the moments before and as its attack began, then its
    /// packets, 50,000 at most, 256 bytes each) to a capture in this directory, named after
    /// the incident and never written over.
    #[arg(long, value_name = "DIR")]
    pub evidence: Option<PathBuf>,
    /// Write the monitor's counters to this file in Prometheus's text format (for
    /// node_exporter's textfile collector), replaced whole at most once a second.
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,
    /// Serve the same counters over HTTP at this address (`GET /metrics`), for Prometheus
    /// to scrape.
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// An attack ends when its evidence has been quiet this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    pub quiet: f64,
    /// The device the nftables rule of an incident hooks.
    #[arg(long, default_value = "eth0")]
    pub device: String,
    /// The protected networks, a line each: `PREFIX [NAME] [pps=N]` (`#` comments). Only
    /// attacks on them become incidents, each judged by its network's threshold (--min-pps
    /// where it sets none), and each network's traffic is learnt per protocol: a rise to ten
    /// times its usual rate (and to the threshold), held two seconds, is an incident too.
    #[arg(long, value_name = "FILE")]
    pub networks: Option<PathBuf>,
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
    /// Print a line for every second of traffic, not only for alerts.
    #[arg(long)]
    pub verbose: bool,
}

#[derive(Args)]
pub struct IncidentsArgs {
    /// The incident database.
    #[arg(long, value_name = "FILE", global = true)]
    pub db: Option<PathBuf>,
    /// Print JSON.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: IncidentsCommand,
}

#[derive(Subcommand)]
pub enum IncidentsCommand {
    /// The incidents not resolved, newest first (or those of --status, or --all).
    List {
        /// Only incidents with this status: open, acknowledged, mitigated, resolved.
        #[arg(long)]
        status: Option<levee_incidents::Status>,
        /// Every incident, resolved ones too.
        #[arg(long)]
        all: bool,
    },
    /// One incident in full: figures, evidence, signature, rules per engine, history.
    Show {
        id: i64,
        /// Print the rule for this engine only (nftables, iptables, ipset, bpf, cloudflare,
        /// levee), ready to apply.
        #[arg(long)]
        rule: Option<String>,
    },
    /// Take an incident: it is yours (status acknowledged).
    Ack {
        id: i64,
        /// Who takes it (default: $USER).
        #[arg(long)]
        owner: Option<String>,
    },
    /// Add a note.
    Note {
        id: i64,
        text: String,
        /// Who writes it (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Close an incident; if its attack comes back, that is a new incident.
    Resolve {
        id: i64,
        /// Why.
        #[arg(long)]
        why: Option<String>,
        /// Who closes it (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Open a resolved incident again.
    Reopen {
        id: i64,
        /// Who reopens it (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
}

#[derive(Args)]
pub struct CollectArgs {
    /// The address and UDP port to listen on (`0.0.0.0:2055`, `[::]:6343`; port 0: any free
    /// port, named on standard error).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: std::net::SocketAddr,
    /// Write every datagram to captures in this directory (created when missing), named by
    /// the time they begin; a file is never overwritten.
    #[arg(long, value_name = "DIR")]
    pub write: Option<PathBuf>,
    /// Begin a new capture every this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub rotate: u64,
    /// Stop after this many seconds (else on SIGINT or SIGTERM).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Records whose export does not state a sampling rate were sampled one packet in N.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub sampling_rate: u64,
    /// The socket's receive buffer, in MiB: what absorbs an exporter's bursts.
    #[arg(long, value_name = "MIB", default_value_t = 32)]
    pub receive_buffer_mib: usize,
    /// Print no line a second (the closing totals only).
    #[arg(long)]
    pub quiet: bool,
    /// Print at most this many damaged-datagram messages (the rest are counted).
    #[arg(long, default_value_t = 20)]
    pub max_errors: usize,
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
    /// Where standard input was copied (see [`crate::input::spool_stdin`]), to name it `-` in
    /// messages.
    #[arg(skip)]
    pub spool: Option<PathBuf>,
    /// The sampling rate of flow records whose export does not state one (the command's
    /// `--sampling-rate`; 0 or 1: every packet counted).
    #[arg(skip)]
    pub flow_sampling: u64,
}

#[derive(Args)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub detect: DetectArgs,
    /// Print JSON (schema in docs/analyze-json.md) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write a rules file blocking each attack by its signature (see `levee rules`).
    #[arg(long)]
    pub rules_out: Option<PathBuf>,
    /// Replace the rules file if it exists.
    #[arg(long)]
    pub force: bool,
    /// For access logs: their format (auto, combined, common, json, nginx:'<log_format>',
    /// apache:'<LogFormat>'). Logs are told from captures by their first bytes.
    #[arg(long, default_value = "auto")]
    pub log_format: String,
    /// Judge the HTTP clients of the captures (requests reassembled from TCP, as for access
    /// logs) instead of analysing their packets.
    #[arg(long)]
    pub http: bool,
    /// For access logs and --http: a MaxMind ASN database (GeoLite2-ASN.mmdb) to check the
    /// claims of clients to be search-engine crawlers: from the operator's autonomous system
    /// the claim holds, from another's it is false.
    #[arg(long, value_name = "MMDB")]
    pub asn: Option<PathBuf>,
    /// Profile and measure every packet, reading the captures twice. Without it, captures
    /// whose frames outgrow --sample-mib are profiled and measured on a uniform sample kept in
    /// memory (every packet is still counted and followed in the flow filters).
    #[arg(long)]
    pub exact: bool,
    /// Memory for the sample, in MiB: more measures more packets of a large capture.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub sample_mib: u64,
}

/// What an attack must reach to be called one, shared by `analyze`, `report` and `monitor`.
#[derive(Args, Clone)]
pub struct ThresholdArgs {
    /// An attack must reach this many packets per second in some bucket.
    #[arg(long, default_value_t = 1000.0)]
    pub min_pps: f64,
    /// An attack must hold at least this many packets.
    #[arg(long, default_value_t = 100)]
    pub min_packets: u64,
    /// A flood must come from at least this many distinct sources (unless its rate rose over
    /// earlier traffic).
    #[arg(long, default_value_t = 50)]
    pub min_sources: u64,
    /// A reflection attack must come from at least this many reflectors.
    #[arg(long, default_value_t = 20)]
    pub min_reflectors: u64,
}

impl Default for ThresholdArgs {
    fn default() -> ThresholdArgs {
        let d = levee_analyze::AnalyzeConfig::default();
        ThresholdArgs {
            min_pps: d.min_pps,
            min_packets: d.min_packets,
            min_sources: d.min_flood_sources,
            min_reflectors: d.min_reflectors,
        }
    }
}

impl ThresholdArgs {
    /// The analysis settings with these thresholds, the others at their defaults.
    pub fn config(&self) -> levee_analyze::AnalyzeConfig {
        levee_analyze::AnalyzeConfig {
            min_pps: self.min_pps,
            min_packets: self.min_packets,
            min_flood_sources: self.min_sources,
            min_reflectors: self.min_reflectors,
            ..Default::default()
        }
    }
}

/// How attacks are detected, shared by `analyze` and `report`.
#[derive(Args, Clone)]
pub struct DetectArgs {
    /// Width of the time buckets rates are measured in, in seconds.
    #[arg(long, default_value_t = 1.0)]
    pub bucket: f64,
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
    /// Most collateral, in percent of the capture's other traffic or of levee's benign
    /// reference, a rule `--rules-out` writes may have and still block; beyond it the rule
    /// is written to log, with the reason.
    #[arg(long, value_name = "PERCENT", default_value_t = 0.1)]
    pub block_collateral: f64,
    /// The capture was sampled one packet in N before it was saved (by the router, the tap or
    /// the tool that cut it): attack packets, bytes and rates are scaled to the wire, and
    /// compared with the thresholds so scaled.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub sampling_rate: u64,
    /// How many entries in each top list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Worker threads (0: one per core). An exact analysis (every packet measured) gives the
    /// same result as one thread; a sampled one agrees within its sampling error. One plain
    /// pcap or pcapng file is read in parts, a thread each (fastest); other inputs are read by
    /// one thread that deals packets out by flow. Access logs: each thread reads the lines of
    /// its share of the clients, and the analysis is one thread's.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
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
            top_n: self.top,
            wire_one_in: self.sampling_rate,
            ..self.thresholds.config()
        };
        let threads = match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n.min(64),
        };
        Ok((config, threads))
    }
}

#[derive(Args)]
pub struct RulesArgs {
    #[command(subcommand)]
    pub command: RulesCommand,
}

#[derive(Subcommand)]
pub enum RulesCommand {
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
pub struct SimulateArgs {
    /// The rules file.
    #[arg(long)]
    pub rules: PathBuf,
    #[command(flatten)]
    pub input: InputArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Only apply the rules, in one pass, without looking for attacks: per-rule counts and
    /// totals, no share per attack. For a quick look at a large capture.
    #[arg(long)]
    pub rules_only: bool,
    /// With --rules-only: threads (0: one per core, the default). One plain pcap or pcapng
    /// file is read in parts, a thread each; the counts are those of one thread. Rules with
    /// a rate limit, other inputs and flow exports are read on one thread.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// For access logs: their format (as for `levee analyze`).
    #[arg(long, default_value = "auto")]
    pub log_format: String,
    /// Apply HTTP rules to the requests reassembled from the captures (as for access logs)
    /// instead of to their packets.
    #[arg(long)]
    pub http: bool,
}

#[derive(Args)]
pub struct SummaryArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Print JSON (schema in docs/summary-json.md) instead of text.
    #[arg(long)]
    pub json: bool,
    /// The capture was sampled one packet in N before it was saved (by the router, the tap or
    /// the tool that cut it): attack packets, bytes and rates are scaled to the wire, and
    /// compared with the thresholds so scaled.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub sampling_rate: u64,
    /// How many entries in each top list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Width of the time-series buckets, in seconds.
    #[arg(long, default_value_t = 1.0)]
    pub bucket: f64,
}

#[derive(Args)]
pub struct FieldsArgs {
    /// Capture files, as for `summary`.
    #[arg(required_unless_present = "list")]
    pub captures: Vec<PathBuf>,
    /// Print at most this many damaged-record messages (the rest are counted).
    #[arg(long, default_value_t = 20)]
    pub max_errors: usize,
    /// A field to print (repeatable), e.g. `-e ip.src -e tcp.dstport`.
    #[arg(short = 'e', long = "field")]
    pub fields: Vec<String>,
    /// List the field names and exit.
    #[arg(long)]
    pub list: bool,
}

#[derive(Args)]
pub struct SynthArgs {
    /// Attacks: `benign` (none), a vector name (`syn-flood`, `dns-reflection`, `port-scan`...;
    /// `levee synth --list` names them all), several joined with `+`, or `multi` (DNS + NTP
    /// reflection + SYN flood at once). Default `syn-flood`; with `--http`: `http-flood`,
    /// `login-abuse`, `cache-busting`, `http-scanner` joined with `+`, `benign`, or `http-mix`
    /// (all four, the default).
    #[arg(long)]
    pub scenario: Option<String>,
    /// Write an access log (Apache combined) of people browsing a web shop and crawlers,
    /// with the `--scenario`'s layer-7 attacks in its middle third, instead of a capture.
    #[arg(long)]
    pub http: bool,
    /// Write the benign reference levee measures every generated rule's collateral against
    /// (handshakes, the victim's own connections, QUIC, DNS, NTP, path-MTU discovery,
    /// traceroute, ping; see docs/rules.md) for `--victim`, instead of a scenario.
    #[arg(long, conflicts_with_all = ["http", "scenario"])]
    pub reference: bool,
    /// With `--http`: write the shop as a packet capture (every request over TCP, answered;
    /// requests split, reordered, retransmitted and pipelined) instead of a log. Its scenario
    /// may add `slowloris`.
    #[arg(long)]
    pub capture: bool,
    /// With `--http`: write the log as Cloudflare HTTP request log JSON lines (ClientIP,
    /// ClientRequest*, EdgeResponseStatus, EdgeStartTimestamp, JA3Hash, JA4) instead of the
    /// combined format.
    #[arg(long, conflicts_with = "capture")]
    pub cloudflare: bool,
    /// With `--http`: the log's length in seconds.
    #[arg(long, default_value_t = 1800.0)]
    pub duration: f64,
    /// With `--http`: new browsing sessions per second.
    #[arg(long, default_value_t = 1.0)]
    pub sessions_per_second: f64,
    /// Legitimate traffic under the attacks: web, download, speedtest, backup or resolver.
    #[arg(long, default_value = "web")]
    pub background: String,
    /// List the scenario and background names and exit.
    #[arg(long)]
    pub list: bool,
    /// Number of packets.
    #[arg(long, default_value_t = 20_000)]
    pub packets: u64,
    /// Random seed: the same seed gives the same capture.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Share of attack packets, in [0, 1).
    #[arg(long, default_value_t = 0.9)]
    pub attack_share: f64,
    /// Benign packets per second.
    #[arg(long, default_value_t = 2000.0)]
    pub benign_pps: f64,
    /// Destination port of the floods that have one.
    #[arg(long, default_value_t = 80)]
    pub port: u16,
    /// The victim's IPv4 address (its resolver is `.53` of the same /24).
    #[arg(long, default_value = "10.10.10.10")]
    pub victim: std::net::Ipv4Addr,
    /// Draw the reflectors from these IPv4 prefixes (comma-separated, e.g.
    /// `89.160.20.128/25,67.43.156.0/24`) instead of random public addresses.
    #[arg(long, value_delimiter = ',')]
    pub reflectors: Vec<ipnet::Ipv4Net>,
    /// Capture start time, in seconds since 1970 (default 2026-01-15T12:00:00Z). Set it to a
    /// real capture's start to mix the two with `levee analyze real.pcap synth.pcap`.
    #[arg(long)]
    pub start: Option<f64>,
    /// Output file (pcap, or with `--http` an access log).
    #[arg(long, short, required_unless_present = "list")]
    pub out: Option<PathBuf>,
    /// Label file (default: the output name with `.labels.csv`).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Replace the output files if they exist.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args)]
pub struct DemoArgs {
    /// Where to write the example capture, its rules and report (default: a new temporary
    /// directory). Existing files there are never replaced without `--force`.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Replace the demo's files in `--dir` if they exist.
    #[arg(long)]
    pub force: bool,
    /// Print the analysis as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The command line, with the exit-code table in every subcommand's help; clap's own errors
/// exit with [`EXIT_USAGE`], help and version with 0.
pub fn parse_command_line() -> Result<Cli, ExitCode> {
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

#[derive(Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub detect: DetectArgs,
    /// Directory for report.html, report.md and report.json (created when missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Measure these rules instead of the recommended ones (one per attack).
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// MaxMind country or city database (GeoLite2-Country.mmdb) for source countries.
    #[arg(long)]
    pub geoip: Option<PathBuf>,
    /// MaxMind ASN database (GeoLite2-ASN.mmdb) for source ASes.
    #[arg(long)]
    pub asn: Option<PathBuf>,
    /// The interface named in the nftables (netdev ingress) rules.
    #[arg(long, default_value = "eth0")]
    pub device: String,
    /// Replace report files already in the directory.
    #[arg(long)]
    pub force: bool,
    /// For access logs: their format (auto, combined, common, json, nginx:'<log_format>',
    /// apache:'<LogFormat>'). Logs are told from captures by their first bytes.
    #[arg(long, default_value = "auto")]
    pub log_format: String,
    /// Report on the HTTP clients of the captures (requests reassembled from TCP, as for
    /// access logs) instead of their packets.
    #[arg(long)]
    pub http: bool,
}

#[derive(Args)]
pub struct LogsArgs {
    /// Access logs (plain, gzip or zstd); `-` reads standard input.
    #[arg(required = true)]
    pub logs: Vec<PathBuf>,
    /// The log format: auto, combined, common, json, nginx:'<log_format>' or
    /// apache:'<LogFormat>'.
    #[arg(long, default_value = "auto")]
    pub log_format: String,
    /// How many entries in the top list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// How many malformed lines to list per file (all are counted).
    #[arg(long, default_value_t = 10)]
    pub show_malformed: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct HuntArgs {
    /// An indicator file: a plain list (one a line, kinds told by shape or a `TYPE:`
    /// prefix), CSV with a header, a STIX 2.1 bundle or a MISP JSON export (told by
    /// content). Repeat for several.
    #[arg(
        long = "iocs",
        value_name = "FILE",
        required_unless_present = "anomalies"
    )]
    pub iocs: Vec<PathBuf>,
    /// Also look for what no indicator names: beaconing (contacts with one service at a
    /// regular interval; captures and flows), DNS tunnels and generated names, DNS over TLS or
    /// HTTPS to public resolvers, HTTP that looks like command and control (captures), user
    /// agents and JA4s one host alone presents (captures and logs), a minute of outbound bytes
    /// far above a host's baseline (captures and flows); each finding scored 0-100 with its
    /// evidence.
    #[arg(long)]
    pub anomalies: bool,
    /// Findings below this score are not shown.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub min_score: u8,
    /// Captures (pcap, pcapng), access logs and flow exports (captures of NetFlow, IPFIX or
    /// sFlow datagrams; nfdump or goflow2 JSON), told by content, gzip or zstd compressed
    /// too.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Write every hit as a JSON line, as it is found.
    #[arg(long)]
    pub json: bool,
    /// Write every hit as a CSV row, as it is found.
    #[arg(long)]
    pub csv: bool,
    /// Hits shown for each indicator found in the text output.
    #[arg(long, default_value_t = 5)]
    pub show: usize,
    /// Write every frame of the flows (both ways) that hold hits, for each capture with
    /// hits, to DIR/NAME.hits.pcap.
    #[arg(long, value_name = "DIR")]
    pub carve: Option<PathBuf>,
    /// Write the hunt's report to DIR: report.html, report.md and report.json (a timeline
    /// of every indicator seen in each field of each input, those not found, those not
    /// looked for, the inputs).
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Write to this file instead of standard output (never replaced without `--force`).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    #[arg(long)]
    pub force: bool,
    /// The format of access logs (auto, combined, common, json, nginx:'<log_format>',
    /// apache:'<LogFormat>').
    #[arg(long, default_value = "auto")]
    pub log_format: String,
    /// Print at most this many damaged-record messages (the rest are counted).
    #[arg(long, default_value_t = 20)]
    pub max_errors: usize,
}

#[derive(Args)]
pub struct RequestsArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Write JSON lines (every field, header names in order, JA3/JA4) instead of the
    /// combined log format.
    #[arg(long)]
    pub json: bool,
    /// Write to this file instead of standard output (never replaced without `--force`).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    #[arg(long)]
    pub force: bool,
}

#[derive(Args)]
pub struct CleanArgs {
    /// Captures (pcap, pcapng; merged into one) or access logs (each line as JSON), told by
    /// content, gzip or zstd compressed too.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The cleaned capture (pcapng) or JSON lines (never replaced without `--force`).
    #[arg(long, short)]
    pub out: PathBuf,
    #[arg(long)]
    pub force: bool,
    /// Anonymise with the 32-byte key in FILE (64 hex digits; made, readable by its owner
    /// only, when FILE does not exist): addresses (Crypto-PAn), MACs, names in DNS, HTTP and
    /// TLS; what cannot be walked is cut.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Write what was anonymised (every original and its pseudonym, JSON lines) to FILE, for
    /// the owner alone: `--restore FILE` turns the output back.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub mapping: Option<PathBuf>,
    /// Payloads after the transport header: keep, drop, or a number of bytes to keep.
    #[arg(long, default_value = "keep", value_parser = parse_payload)]
    pub payload: levee_clean::Payload,
    /// Leave out what came before this time (RFC 3339, or seconds since 1970).
    #[arg(long, value_parser = parse_instant)]
    pub from: Option<i64>,
    /// Leave out what came at or after this time (RFC 3339, or seconds since 1970).
    #[arg(long, value_parser = parse_instant)]
    pub to: Option<i64>,
    /// Keep only what this expression matches (levee's rule language, as `levee simulate`
    /// takes it: `ip.src in {192.0.2.0/24} and tcp`, `http.host == "shop.example"`), on the
    /// packets and requests as they were.
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// Another input's copy of a packet within this many milliseconds is a duplicate (0:
    /// keep every copy).
    #[arg(long, default_value_t = 100, value_name = "MS")]
    pub dedup_window: u64,
    /// Turn a capture `clean --key` made back into the original with its mapping FILE.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["key", "mapping", "from", "to", "filter"])]
    pub restore: Option<PathBuf>,
    /// The format of access logs (auto, combined, common, json, nginx:'<log_format>',
    /// apache:'<LogFormat>').
    #[arg(long, default_value = "auto")]
    pub log_format: String,
    /// Print what was done as JSON on standard output.
    #[arg(long)]
    pub json: bool,
}

/// `keep`, `drop`, or a number of bytes.
fn parse_payload(s: &str) -> Result<levee_clean::Payload, String> {
    match s {
        "keep" => Ok(levee_clean::Payload::Keep),
        "drop" => Ok(levee_clean::Payload::Cut(0)),
        n => n
            .parse::<usize>()
            .map(levee_clean::Payload::Cut)
            .map_err(|_| format!("`{s}`: keep, drop, or a number of bytes")),
    }
}

/// An instant as nanoseconds since 1970: RFC 3339, or (fractional) seconds since 1970.
fn parse_instant(s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() && secs.abs() < 1e10 {
            return Ok((secs * 1e9).round() as i64);
        }
    }
    s.parse::<jiff::Timestamp>()
        .map(|t| t.as_nanosecond() as i64)
        .map_err(|e| format!("`{s}`: not RFC 3339 nor seconds since 1970: {e}"))
}

#[derive(Args)]
pub struct WatchArgs {
    /// The directory to watch (files at its top level; hidden ones and transfers in progress,
    /// `.part`, `.tmp`, `.partial`, `.crdownload`, `.swp`, `~`, left alone).
    pub dir: PathBuf,
    /// Where each file's results (OUT/ID-NAME/), the index (index.html, index.md, index.json)
    /// and the state (.levee-watch.db) go. Not the watched directory.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Hunt each file for the indicators of this file (repeatable).
    #[arg(long = "iocs", value_name = "FILE")]
    pub iocs: Vec<PathBuf>,
    /// Hunt each file for anomalies (beaconing, DNS tunnels, ...).
    #[arg(long)]
    pub anomalies: bool,
    /// Files processed at a time.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: u32,
    /// Seconds a file must be left unchanged before it is taken.
    #[arg(long, default_value_t = 2.0)]
    pub settle: f64,
    /// Seconds between looks at the directory.
    #[arg(long, default_value_t = 1.0)]
    pub poll: f64,
    /// Seconds a file's processing may take before it is stopped (and the file failed).
    #[arg(long, default_value_t = 3600.0)]
    pub job_timeout: f64,
    /// Process what is there (and what lands meanwhile), then exit.
    #[arg(long)]
    pub once: bool,
    /// The format of access logs (auto, combined, common, json, nginx:'<log_format>',
    /// apache:'<LogFormat>').
    #[arg(long, default_value = "auto")]
    pub log_format: String,
}
