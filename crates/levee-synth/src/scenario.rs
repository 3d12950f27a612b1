//! Scenarios: benign sessions and attack packets interleaved in time order.

use std::io::{self, Write};

use levee_capture::PcapWriter;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::packets::{self, Flags, V4};
use crate::{RESOLVER, VICTIM};

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("cannot write the capture: {0}")]
    Capture(#[source] io::Error),
    #[error("cannot write the labels: {0}")]
    Labels(#[source] io::Error),
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// What traffic to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Benign only: web (HTTP and HTTPS) sessions and DNS lookups.
    Benign,
    /// A spoofed SYN flood (random sources, no TCP options) over benign traffic.
    SynFlood,
}

impl Scenario {
    pub fn parse(s: &str) -> Option<Scenario> {
        match s {
            "benign" | "web" => Some(Scenario::Benign),
            "syn-flood" => Some(Scenario::SynFlood),
            _ => None,
        }
    }

    pub const NAMES: &'static [&'static str] = &["benign", "syn-flood"];
}

#[derive(Debug, Clone)]
pub struct SynthConfig {
    pub scenario: Scenario,
    /// Total packets to write.
    pub packets: u64,
    pub seed: u64,
    /// Capture start, nanoseconds since 1970.
    pub start_ns: i64,
    /// Benign packets per second.
    pub benign_pps: f64,
    /// Share of all packets that are attack packets (attack scenarios only).
    pub attack_share: f64,
    /// Destination port of the flood.
    pub target_port: u16,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            scenario: Scenario::SynFlood,
            packets: 20_000,
            seed: 1,
            // 2026-01-15T12:00:00Z
            start_ns: 1_768_478_400_000_000_000,
            benign_pps: 2_000.0,
            attack_share: 0.9,
            target_port: 80,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SynthStats {
    pub packets: u64,
    pub benign: u64,
    pub attack: u64,
    pub bytes: u64,
}

/// Client networks of benign traffic. They are in MaxMind's test databases, so enrichment can
/// be tested on synthetic captures too.
const CLIENT_NETS: [[u8; 3]; 4] = [[81, 2, 69], [89, 160, 20], [175, 16, 199], [216, 160, 83]];

/// One packet of a benign session, before addresses are filled in.
#[derive(Clone, Copy)]
enum Step {
    Syn,
    SynAck,
    Ack,
    Request,
    Data(u16),
    ClientAck,
    ClientFin,
    ServerFin,
    LastAck,
    DnsQuery,
    DnsResponse,
}

struct Session {
    client: [u8; 4],
    client_ttl: u8,
    sport: u16,
    dport: u16,
    steps: Vec<Step>,
    next: usize,
    client_seq: u32,
    server_seq: u32,
    ip_id: u16,
    dns_id: u16,
    name_idx: usize,
}

const SITE_NAMES: [&str; 6] = [
    "www.example.com",
    "shop.example.com",
    "api.example.com",
    "cdn.example.net",
    "mail.example.org",
    "static.example.com",
];

struct Generator {
    rng: ChaCha8Rng,
    cfg: SynthConfig,
    sessions: Vec<Session>,
    buf: Vec<u8>,
}

impl Generator {
    fn new_session(&mut self) -> Session {
        let rng = &mut self.rng;
        let net = CLIENT_NETS[rng.random_range(0..CLIENT_NETS.len())];
        let client = [net[0], net[1], net[2], rng.random_range(2..250)];
        // Windows clients start at 128, others at 64; a dozen hops away.
        let client_ttl = if rng.random_bool(0.4) { 128 } else { 64 } - rng.random_range(8..16);
        let sport = rng.random_range(32768..61000);
        let kind = rng.random_range(0..10);
        let (dport, steps) = if kind < 3 {
            (53, vec![Step::DnsQuery, Step::DnsResponse])
        } else {
            let dport = if kind < 7 { 443 } else { 80 };
            let mut steps = vec![Step::Syn, Step::SynAck, Step::Ack, Step::Request];
            let segments = rng.random_range(1..12);
            for i in 0..segments {
                let len = if i + 1 == segments {
                    rng.random_range(100..1448)
                } else {
                    1448
                };
                steps.push(Step::Data(len));
                if i % 2 == 1 || i + 1 == segments {
                    steps.push(Step::ClientAck);
                }
            }
            steps.extend([Step::ClientFin, Step::ServerFin, Step::LastAck]);
            (dport, steps)
        };
        Session {
            client,
            client_ttl,
            sport,
            dport,
            steps,
            next: 0,
            client_seq: rng.random(),
            server_seq: rng.random(),
            ip_id: rng.random(),
            dns_id: rng.random(),
            name_idx: rng.random_range(0..SITE_NAMES.len()),
        }
    }

    /// Writes the next packet of a random live session into `self.buf`.
    fn benign_packet(&mut self) {
        let i = self.rng.random_range(0..self.sessions.len());
        let step = self.sessions[i].steps[self.sessions[i].next];
        let s = &mut self.sessions[i];
        s.next += 1;
        s.ip_id = s.ip_id.wrapping_add(1);
        let server = if s.dport == 53 { RESOLVER } else { VICTIM };
        let up = V4 {
            src: s.client,
            dst: server,
            ttl: s.client_ttl,
            id: s.ip_id,
            df: true,
        };
        let down = V4 {
            src: server,
            dst: s.client,
            ttl: 64,
            id: s.ip_id ^ 0x5a5a,
            df: true,
        };
        let buf = &mut self.buf;
        let (cs, ss) = (s.client_seq, s.server_seq);
        let ack = |a: u32| Flags {
            ack: Some(a),
            ..Default::default()
        };
        // Each TCP step: direction (true = client to server), flags, options, payload.
        let (upward, flags, options, payload): (bool, Flags, Vec<u8>, Vec<u8>) = match step {
            Step::Syn => (
                true,
                Flags {
                    syn: true,
                    ..Default::default()
                },
                packets::linux_syn_options(cs).to_vec(),
                vec![],
            ),
            Step::SynAck => (
                false,
                Flags {
                    syn: true,
                    ..ack(cs)
                },
                packets::linux_syn_options(ss).to_vec(),
                vec![],
            ),
            Step::Ack | Step::ClientAck | Step::LastAck => (true, ack(ss), vec![], vec![]),
            Step::Request => {
                let name = SITE_NAMES[s.name_idx];
                let payload = if s.dport == 443 {
                    packets::client_hello(name, 0x0a0a + 0x1010 * (s.ip_id % 15))
                } else {
                    format!(
                        "GET /index.html HTTP/1.1\r\nHost: {name}\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\nAccept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\n\r\n"
                    )
                    .into_bytes()
                };
                (
                    true,
                    Flags {
                        psh: true,
                        ..ack(ss)
                    },
                    vec![],
                    payload,
                )
            }
            Step::Data(len) => (
                false,
                Flags {
                    psh: len < 1448,
                    ..ack(cs)
                },
                vec![],
                vec![0x17u8; len as usize],
            ),
            Step::ClientFin => (
                true,
                Flags {
                    fin: true,
                    ..ack(ss)
                },
                vec![],
                vec![],
            ),
            Step::ServerFin => (
                false,
                Flags {
                    fin: true,
                    ..ack(cs)
                },
                vec![],
                vec![],
            ),
            Step::DnsQuery | Step::DnsResponse => {
                let q = packets::dns_query(s.dns_id, SITE_NAMES[s.name_idx], 1);
                if matches!(step, Step::DnsQuery) {
                    packets::udp(buf, up, s.sport, 53, &q);
                } else {
                    let r = packets::dns_response(&q, 2, [93, 184, 216, 34]);
                    packets::udp(buf, down, 53, s.sport, &r);
                }
                if self.sessions[i].next == self.sessions[i].steps.len() {
                    self.sessions[i] = self.new_session();
                }
                return;
            }
        };
        // SYN and FIN take one sequence number, like a byte of data.
        let advance = payload.len() as u32 + u32::from(flags.syn) + u32::from(flags.fin);
        // Linux's initial windows on the handshake, scaled windows after it.
        let window = match (flags.syn, upward) {
            (true, true) => 64240,
            (true, false) => 65160,
            (false, true) => 502,
            (false, false) => 509,
        };
        if upward {
            packets::tcp(
                buf, up, s.sport, s.dport, cs, window, flags, &options, &payload,
            );
            s.client_seq = cs.wrapping_add(advance);
        } else {
            packets::tcp(
                buf, down, s.dport, s.sport, ss, window, flags, &options, &payload,
            );
            s.server_seq = ss.wrapping_add(advance);
        }
        if self.sessions[i].next == self.sessions[i].steps.len() {
            self.sessions[i] = self.new_session();
        }
    }

    /// A spoofed SYN from a flood tool: random public source, random source port, no TCP
    /// options, small fixed window, TTL of one origin a few hops away.
    fn syn_flood_packet(&mut self) {
        let rng = &mut self.rng;
        let src = loop {
            let a: [u8; 4] = rng.random::<u32>().to_be_bytes();
            if !matches!(a[0], 0 | 10 | 127 | 224..=255) {
                break a;
            }
        };
        let h = V4 {
            src,
            dst: VICTIM,
            ttl: rng.random_range(48..56),
            id: rng.random(),
            df: false,
        };
        let sport = rng.random_range(1024..=65535);
        let seq = rng.random();
        let port = self.cfg.target_port;
        packets::tcp(
            &mut self.buf,
            h,
            sport,
            port,
            seq,
            1024,
            Flags {
                syn: true,
                ..Default::default()
            },
            &[],
            &[],
        );
    }
}

/// Writes run-length labels: one line per run of packets with the same label.
struct LabelWriter<W: Write> {
    out: W,
    run: Option<(u64, u64, &'static str)>,
}

impl<W: Write> LabelWriter<W> {
    fn push(&mut self, index: u64, label: &'static str) -> io::Result<()> {
        match &mut self.run {
            Some((_, last, l)) if *l == label && *last + 1 == index => *last = index,
            _ => {
                self.flush_run()?;
                self.run = Some((index, index, label));
            }
        }
        Ok(())
    }

    fn flush_run(&mut self) -> io::Result<()> {
        if let Some((first, last, label)) = self.run.take() {
            writeln!(self.out, "{first},{last},{label}")?;
        }
        Ok(())
    }
}

/// Generates the scenario into `pcap` and its labels into `labels`.
pub fn generate<P: Write, L: Write>(
    cfg: &SynthConfig,
    pcap: P,
    labels: L,
) -> Result<SynthStats, SynthError> {
    if !(0.0..1.0).contains(&cfg.attack_share) {
        return Err(SynthError::Config("attack share must be in [0, 1)".into()));
    }
    if cfg.benign_pps <= 0.0 {
        return Err(SynthError::Config("benign rate must be positive".into()));
    }
    let mut w = PcapWriter::new(pcap, 1, 65535).map_err(SynthError::Capture)?;
    let mut lw = LabelWriter {
        out: labels,
        run: None,
    };
    writeln!(
        lw.out,
        "# first_packet,last_packet,label (packet indexes from 0)"
    )
    .map_err(SynthError::Labels)?;
    let mut g = Generator {
        rng: ChaCha8Rng::seed_from_u64(cfg.seed),
        cfg: cfg.clone(),
        sessions: Vec::new(),
        buf: Vec::with_capacity(2048),
    };
    for _ in 0..64 {
        let s = g.new_session();
        g.sessions.push(s);
    }
    let share = match cfg.scenario {
        Scenario::Benign => 0.0,
        Scenario::SynFlood => cfg.attack_share,
    };
    let attack_total = (cfg.packets as f64 * share).round() as u64;
    let benign_total = cfg.packets - attack_total;
    // Benign traffic spans the capture; the attack runs from 20 % to 80 % of it.
    let duration_ns = (benign_total.max(1) as f64 / cfg.benign_pps * 1e9) as i64;
    let attack_start = duration_ns / 5;
    let attack_len = (duration_ns * 3 / 5).max(1);
    let benign_gap = 1e9 / cfg.benign_pps;
    let attack_gap = attack_len as f64 / attack_total.max(1) as f64;
    let (mut t_benign, mut t_attack) = (0.0f64, attack_start as f64);
    let (mut benign, mut attack) = (0u64, 0u64);
    let mut stats = SynthStats::default();
    for index in 0..cfg.packets {
        let attack_next = attack < attack_total && (benign >= benign_total || t_attack < t_benign);
        let (t, label) = if attack_next {
            g.syn_flood_packet();
            let t = t_attack;
            // Exponential gaps: arrivals of a Poisson process.
            t_attack += -attack_gap * (1.0 - g.rng.random::<f64>()).ln();
            attack += 1;
            (t, "attack:syn-flood")
        } else {
            g.benign_packet();
            let t = t_benign;
            t_benign += -benign_gap * (1.0 - g.rng.random::<f64>()).ln();
            benign += 1;
            (t, "benign")
        };
        w.write(cfg.start_ns + t as i64, &g.buf)
            .map_err(SynthError::Capture)?;
        lw.push(index, label).map_err(SynthError::Labels)?;
        stats.bytes += g.buf.len() as u64;
    }
    lw.flush_run().map_err(SynthError::Labels)?;
    lw.out.flush().map_err(SynthError::Labels)?;
    w.finish().map_err(SynthError::Capture)?;
    stats.packets = cfg.packets;
    stats.benign = benign;
    stats.attack = attack;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cfg: &SynthConfig) -> (Vec<u8>, String, SynthStats) {
        let mut pcap = Vec::new();
        let mut labels = Vec::new();
        let stats = generate(cfg, &mut pcap, &mut labels).unwrap();
        (pcap, String::from_utf8(labels).unwrap(), stats)
    }

    #[test]
    fn same_seed_same_bytes_and_labels_add_up() {
        let cfg = SynthConfig {
            packets: 3000,
            ..Default::default()
        };
        let (a, la, stats) = run(&cfg);
        let (b, lb, _) = run(&cfg);
        assert_eq!(a, b);
        assert_eq!(la, lb);
        assert_eq!(stats.attack + stats.benign, 3000);
        assert_eq!(stats.attack, 2700);
        let mut counted = 0;
        for line in la.lines().filter(|l| !l.starts_with('#')) {
            let f: Vec<&str> = line.split(',').collect();
            let (first, last): (u64, u64) = (f[0].parse().unwrap(), f[1].parse().unwrap());
            if f[2] == "attack:syn-flood" {
                counted += last - first + 1;
            }
        }
        assert_eq!(counted, 2700);
        let other = run(&SynthConfig { seed: 2, ..cfg }).0;
        assert_ne!(a, other);
    }
}
