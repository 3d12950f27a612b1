//! Scenarios: benign sessions and attack packets interleaved in time order.

use std::collections::VecDeque;
use std::io::{self, Write};

use levee_capture::PcapWriter;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::attacks::{attack_event, AttackState, AttackVector};
use crate::packets::{self, Flags, V4};
use crate::{resolver_of, VICTIM};

/// What can go wrong writing synthetic traffic.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// The capture (or log) could not be written.
    #[error("cannot write the capture: {0}")]
    Capture(#[source] io::Error),
    /// The labels could not be written.
    #[error("cannot write the labels: {0}")]
    Labels(#[source] io::Error),
    /// The configuration cannot be written as traffic.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// The attacks of a capture: none (benign traffic only) or one or more vectors at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// The attack vectors, all at once (empty: benign traffic only).
    pub attacks: Vec<AttackVector>,
}

impl Scenario {
    /// Benign traffic only.
    pub const BENIGN: Scenario = Scenario {
        attacks: Vec::new(),
    };

    /// A SYN flood, the default.
    pub fn syn_flood() -> Scenario {
        Scenario {
            attacks: vec![AttackVector::SynFlood],
        }
    }

    /// `benign`, one vector name (`syn-flood`), several joined by `+` or `,`
    /// (`dns-reflection+ntp-reflection+syn-flood`), or `multi` for that DNS + NTP + SYN mix.
    pub fn parse(s: &str) -> Option<Scenario> {
        match s {
            "benign" | "web" | "none" => return Some(Scenario::BENIGN),
            "multi" => return Scenario::parse("dns-reflection+ntp-reflection+syn-flood"),
            _ => {}
        }
        let attacks = s
            .split(['+', ','])
            .map(|name| AttackVector::parse(name.trim()))
            .collect::<Option<Vec<_>>>()?;
        (!attacks.is_empty()).then_some(Scenario { attacks })
    }

    /// Every accepted name, for help text.
    pub fn names() -> Vec<&'static str> {
        let mut v = vec!["benign", "multi"];
        v.extend(AttackVector::all().into_iter().map(AttackVector::name));
        v
    }

    /// Whether there is no attack.
    pub fn is_benign(&self) -> bool {
        self.attacks.is_empty()
    }
}

/// The legitimate traffic under the attacks. Each is heavy in its own way, and none is an
/// attack: `levee analyze` is tested to stay quiet on every one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Background {
    /// Many clients browsing the victim's web site (HTTP and HTTPS), with DNS lookups.
    Web,
    /// One client downloading one large file at full speed.
    Download,
    /// A speed test: one client, eight parallel TCP streams down and up, and a UDP stream.
    SpeedTest,
    /// A backup: one host uploading over sixteen parallel TCP connections.
    Backup,
    /// The victim's busy DNS resolver: many clients' queries and the resolver's own queries
    /// to authoritative servers, all answered.
    Resolver,
    /// What any address on the internet receives unasked, at a low rate: scanners probing
    /// popular ports from thousands of real hosts (answered with a reset, or a handshake the
    /// scanner resets), UDP probes, backscatter (SYN-ACKs and resets from the victims of
    /// floods elsewhere whose forged sources include this address, answered with a reset or
    /// not at all), and crawlers fetching the web site.
    Internet,
}

impl Background {
    /// The background of a name (or an alias: `browsing`, `speed-test`, `background-radiation`).
    pub fn parse(s: &str) -> Option<Background> {
        Some(match s {
            "web" | "browsing" => Background::Web,
            "download" => Background::Download,
            "speedtest" | "speed-test" => Background::SpeedTest,
            "backup" => Background::Backup,
            "resolver" => Background::Resolver,
            "internet" | "background-radiation" => Background::Internet,
            _ => return None,
        })
    }

    /// Every background's name.
    pub const NAMES: &'static [&'static str] = &[
        "web",
        "download",
        "speedtest",
        "backup",
        "resolver",
        "internet",
    ];

    /// The background's name.
    pub fn name(self) -> &'static str {
        match self {
            Background::Web => "web",
            Background::Download => "download",
            Background::SpeedTest => "speedtest",
            Background::Backup => "backup",
            Background::Resolver => "resolver",
            Background::Internet => "internet",
        }
    }
}

/// What to synthesise: the attacks, the benign background, how much, and where.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    /// The attacks.
    pub scenario: Scenario,
    /// The benign traffic they are mixed into.
    pub background: Background,
    /// Total packets to write.
    pub packets: u64,
    /// Seed of the random draws: the same configuration writes the same capture.
    pub seed: u64,
    /// Capture start, nanoseconds since 1970.
    pub start_ns: i64,
    /// Benign packets per second.
    pub benign_pps: f64,
    /// Share of all packets that are attack packets (attack scenarios only).
    pub attack_share: f64,
    /// Destination port of the floods that have one.
    pub target_port: u16,
    /// The victim's address (its resolver is `.53` of the same /24).
    pub victim: [u8; 4],
    /// IPv4 prefixes (address, length) the reflectors and bots are drawn from; empty: random
    /// public addresses.
    pub reflector_nets: Vec<([u8; 4], u8)>,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            scenario: Scenario::syn_flood(),
            background: Background::Web,
            packets: 20_000,
            seed: 1,
            // 2026-01-15T12:00:00Z
            start_ns: 1_768_478_400_000_000_000,
            benign_pps: 2_000.0,
            attack_share: 0.9,
            target_port: 80,
            victim: VICTIM,
            reflector_nets: Vec::new(),
        }
    }
}

/// Counts of what was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SynthStats {
    /// Packets written.
    pub packets: u64,
    /// Of them, benign packets.
    pub benign: u64,
    /// Of them, attack packets.
    pub attack: u64,
    /// Bytes of the frames written.
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
    /// Server to client data.
    Data(u16),
    /// Client to server data.
    Upload(u16),
    ClientAck,
    ServerAck,
    ClientFin,
    ServerFin,
    LastAck,
    /// A long transfer: data in the session's bulk direction, acknowledged every second
    /// segment, until `bulk_left` runs out.
    Bulk,
    /// A one-way UDP datagram (a speed test's UDP stream).
    UdpDatagram,
    /// A scanner's UDP probe of this size, never answered.
    UdpProbe(u16),
    /// A reset from the server side (a closed port; a flood victim's backscatter).
    ServerRst,
    /// A reset from the client side (a scanner ending a handshake; a host refusing a SYN-ACK
    /// it did not ask for).
    ClientRst,
    DnsQuery,
    DnsResponse,
}

/// What a session is, so a finished one is replaced by one of the same kind.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SessionKind {
    Web,
    /// Bulk TCP transfer from `client` to the victim on `dport`; `up` = client uploads.
    Bulk {
        client: [u8; 4],
        dport: u16,
        up: bool,
    },
    UdpStream {
        client: [u8; 4],
    },
    /// A client's query to the victim's resolver.
    ResolverClient,
    /// The resolver's own query to an authoritative server.
    ResolverUpstream,
    /// A scanner's TCP probe of the victim.
    Probe,
    /// A scanner's UDP probe of the victim.
    UdpProbe,
    /// Backscatter: a flood victim elsewhere answering a packet forged with this address.
    Backscatter,
}

struct Session {
    kind: SessionKind,
    client: [u8; 4],
    client_ttl: u8,
    /// The victim-side address of the session.
    server: [u8; 4],
    server_ttl: u8,
    sport: u16,
    dport: u16,
    steps: Vec<Step>,
    next: usize,
    client_seq: u32,
    server_seq: u32,
    ip_id: u16,
    dns_id: u16,
    name_idx: usize,
    bulk_left: u64,
    bulk_up: bool,
    bulk_sent: u64,
}

const SITE_NAMES: [&str; 6] = [
    "www.example.com",
    "shop.example.com",
    "api.example.com",
    "cdn.example.net",
    "mail.example.org",
    "static.example.com",
];

/// Labels and zones a busy resolver is asked about.
const NAME_LABELS: [&str; 12] = [
    "www", "mail", "api", "cdn", "static", "img", "login", "m", "news", "shop", "docs", "video",
];

struct Generator {
    rng: ChaCha8Rng,
    cfg: SynthConfig,
    sessions: Vec<Session>,
    /// Sessions at the front of `sessions` that carry the background's heavy traffic, and the
    /// share of benign packets they get.
    heavy: usize,
    heavy_share: f64,
    /// Authoritative servers the resolver asks.
    authorities: crate::attacks::HostPool,
    /// The internet background's scanners and flood victims (empty for other backgrounds).
    scanners: Option<crate::attacks::HostPool>,
    flood_victims: Option<crate::attacks::HostPool>,
    buf: Vec<u8>,
}

fn client_ttl(rng: &mut ChaCha8Rng) -> u8 {
    // Windows clients start at 128, others at 64; a dozen hops away.
    (if rng.random_bool(0.4) { 128 } else { 64 }) - rng.random_range(8..16)
}

/// A host of one of the internet background's pools (made only for that background).
fn internet_host(pool: &Option<crate::attacks::HostPool>, rng: &mut ChaCha8Rng) -> ([u8; 4], u8) {
    pool.as_ref()
        .expect("the internet background's pools exist")
        .pick(rng)
}

impl Generator {
    fn new_session(&mut self, kind: SessionKind) -> Session {
        let rng = &mut self.rng;
        let net = CLIENT_NETS[rng.random_range(0..CLIENT_NETS.len())];
        let mut client = [net[0], net[1], net[2], rng.random_range(2..250)];
        let ttl = client_ttl(rng);
        let sport = rng.random_range(32768..61000);
        let victim = self.cfg.victim;
        let resolver = resolver_of(victim);
        let mut server = victim;
        let mut server_ttl = 64;
        let mut client_ttl = None;
        let mut bulk_up = false;
        let (dport, steps) = match kind {
            SessionKind::Web => {
                let k = rng.random_range(0..10);
                if k < 3 {
                    server = resolver;
                    (53, vec![Step::DnsQuery, Step::DnsResponse])
                } else {
                    let dport = if k < 7 { 443 } else { 80 };
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
                }
            }
            SessionKind::Bulk {
                client: c,
                dport,
                up,
            } => {
                client = c;
                bulk_up = up;
                let first = if up { Step::Upload(300) } else { Step::Request };
                (
                    dport,
                    vec![
                        Step::Syn,
                        Step::SynAck,
                        Step::Ack,
                        first,
                        Step::Bulk,
                        Step::ClientFin,
                        Step::ServerFin,
                        Step::LastAck,
                    ],
                )
            }
            SessionKind::UdpStream { client: c } => {
                client = c;
                (5201, vec![Step::UdpDatagram])
            }
            SessionKind::ResolverClient => {
                server = resolver;
                (53, vec![Step::DnsQuery, Step::DnsResponse])
            }
            SessionKind::ResolverUpstream => {
                // The resolver is the client here; the authority answers from port 53.
                let (auth, _) = self.authorities.pick(rng);
                server = auth;
                client = resolver;
                (53, vec![Step::DnsQuery, Step::DnsResponse])
            }
            SessionKind::Probe => {
                let (scanner, ttl) = internet_host(&self.scanners, rng);
                client = scanner;
                client_ttl = Some(ttl);
                // Ports scanners favour; a fifth are anywhere.
                const POPULAR: [u16; 12] =
                    [23, 22, 80, 443, 445, 3389, 8080, 2323, 5555, 6379, 81, 8443];
                let dport = if rng.random_bool(0.8) {
                    POPULAR[rng.random_range(0..POPULAR.len())]
                } else {
                    rng.random_range(1..65535)
                };
                let steps = match dport {
                    // The web site answers; the scanner resets the handshake.
                    80 | 443 => vec![Step::Syn, Step::SynAck, Step::ClientRst],
                    // Closed ports answer with a reset, filtered ones not at all.
                    _ if rng.random_bool(0.7) => vec![Step::Syn, Step::ServerRst],
                    _ => vec![Step::Syn],
                };
                (dport, steps)
            }
            SessionKind::UdpProbe => {
                let (scanner, ttl) = internet_host(&self.scanners, rng);
                client = scanner;
                client_ttl = Some(ttl);
                const PROBED: [(u16, u16); 5] =
                    [(53, 30), (123, 48), (161, 40), (1900, 90), (5060, 400)];
                let (dport, len) = PROBED[rng.random_range(0..PROBED.len())];
                (dport, vec![Step::UdpProbe(len)])
            }
            SessionKind::Backscatter => {
                // The victim is the client: its address was forged in the flood.
                let (other, ttl) = internet_host(&self.flood_victims, rng);
                client = victim;
                client_ttl = Some(64);
                server = other;
                server_ttl = ttl;
                const FLOODED: [u16; 5] = [80, 443, 25565, 22, 3074];
                let dport = FLOODED[rng.random_range(0..FLOODED.len())];
                let steps = match rng.random_range(0..4) {
                    0 => vec![Step::SynAck, Step::ClientRst],
                    1 => vec![Step::SynAck, Step::SynAck, Step::SynAck],
                    _ => vec![Step::ServerRst],
                };
                (dport, steps)
            }
        };
        Session {
            kind,
            client,
            client_ttl: client_ttl.unwrap_or(if client == resolver { 64 } else { ttl }),
            server,
            server_ttl,
            sport,
            dport,
            steps,
            next: 0,
            client_seq: rng.random(),
            server_seq: rng.random(),
            ip_id: rng.random(),
            dns_id: rng.random(),
            name_idx: rng.random_range(0..4000),
            bulk_left: if matches!(
                kind,
                SessionKind::Bulk { .. } | SessionKind::UdpStream { .. }
            ) {
                u64::MAX
            } else {
                0
            },
            bulk_up,
            bulk_sent: 0,
        }
    }

    /// The sessions a background starts with: the heavy ones first.
    fn start_sessions(&mut self) {
        let bg = self.cfg.background;
        let mut heavy = Vec::new();
        match bg {
            Background::Web => {}
            Background::Download => heavy.push(SessionKind::Bulk {
                client: [81, 2, 69, 160],
                dport: 443,
                up: false,
            }),
            Background::SpeedTest => {
                for i in 0..8 {
                    heavy.push(SessionKind::Bulk {
                        client: [89, 160, 20, 112],
                        dport: 8080,
                        up: i % 2 == 1,
                    });
                }
                heavy.push(SessionKind::UdpStream {
                    client: [89, 160, 20, 112],
                });
            }
            Background::Backup => {
                for _ in 0..16 {
                    heavy.push(SessionKind::Bulk {
                        client: [175, 16, 199, 10],
                        dport: 873,
                        up: true,
                    });
                }
            }
            Background::Resolver => {
                for i in 0..64 {
                    heavy.push(if i % 3 == 0 {
                        SessionKind::ResolverUpstream
                    } else {
                        SessionKind::ResolverClient
                    });
                }
            }
            Background::Internet => {
                // Interleaved sessions of each kind, in the proportions a quiet address sees:
                // mostly TCP probes, some UDP probes and backscatter, a few crawlers.
                let kinds = [
                    (SessionKind::Probe, 24),
                    (SessionKind::UdpProbe, 4),
                    (SessionKind::Backscatter, 4),
                ];
                for (kind, n) in kinds {
                    for _ in 0..n {
                        let s = self.new_session(kind);
                        self.sessions.push(s);
                    }
                }
            }
        }
        self.heavy = heavy.len();
        self.heavy_share = if heavy.is_empty() { 0.0 } else { 0.9 };
        for kind in heavy {
            let s = self.new_session(kind);
            self.sessions.push(s);
        }
        let web = match bg {
            Background::Web => 64,
            Background::Internet => 4,
            _ => 8,
        };
        for _ in 0..web {
            let s = self.new_session(SessionKind::Web);
            self.sessions.push(s);
        }
    }

    fn dns_name(&self, idx: usize) -> String {
        if self.cfg.background == Background::Resolver {
            // 4000 names over 400 zones, as a resolver serving a town sees.
            let zone = idx % 400;
            let tld = ["com", "net", "org", "de", "io"][zone % 5];
            format!(
                "{}.site{zone}.{tld}",
                NAME_LABELS[idx / 400 % NAME_LABELS.len()]
            )
        } else {
            SITE_NAMES[idx % SITE_NAMES.len()].to_string()
        }
    }

    /// Writes the next packet of a live session into `self.buf`.
    fn benign_packet(&mut self) {
        let i = if self.heavy > 0 && self.rng.random_bool(self.heavy_share) {
            self.rng.random_range(0..self.heavy)
        } else {
            self.rng.random_range(self.heavy..self.sessions.len())
        };
        let mut step = self.sessions[i].steps[self.sessions[i].next];
        let name = self.dns_name(self.sessions[i].name_idx);
        let s = &mut self.sessions[i];
        if let Step::Bulk = step {
            s.bulk_sent += 1;
            s.bulk_left = s.bulk_left.saturating_sub(1);
            let ack_turn = s.bulk_sent.is_multiple_of(3);
            step = match (s.bulk_up, ack_turn) {
                (false, false) => Step::Data(1448),
                (false, true) => Step::ClientAck,
                (true, false) => Step::Upload(1448),
                (true, true) => Step::ServerAck,
            };
            if s.bulk_left == 0 {
                s.next += 1;
            }
        } else if let Step::UdpDatagram = step {
            // Never advances: the stream lasts the whole capture.
        } else {
            s.next += 1;
        }
        s.ip_id = s.ip_id.wrapping_add(1);
        let server = s.server;
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
            ttl: s.server_ttl,
            id: s.ip_id ^ 0x5a5a,
            df: true,
        };
        let buf = &mut self.buf;
        match step {
            Step::UdpDatagram => {
                let payload = vec![0x33u8; 1400];
                packets::udp(buf, up, s.sport, s.dport, &payload);
                return;
            }
            Step::UdpProbe(len) => {
                let payload = vec![0u8; usize::from(len)];
                packets::udp(buf, up, s.sport, s.dport, &payload);
                self.finish_step(i);
                return;
            }
            Step::DnsQuery | Step::DnsResponse => {
                let q = packets::dns_query(s.dns_id, &name, 1);
                if matches!(step, Step::DnsQuery) {
                    packets::udp(buf, up, s.sport, 53, &q);
                } else {
                    let r = packets::dns_response(&q, 2, [93, 184, 216, 34]);
                    packets::udp(buf, down, 53, s.sport, &r);
                }
                self.finish_step(i);
                return;
            }
            _ => {}
        }
        // Bulk steps were replaced above by the data or acknowledgement they stand for.
        let Some((upward, flags, options, payload)) = tcp_segment(step, s) else {
            return;
        };
        let (cs, ss) = (s.client_seq, s.server_seq);
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
        self.finish_step(i);
    }

    /// Replaces a finished session by a new one of the same kind.
    fn finish_step(&mut self, i: usize) {
        if self.sessions[i].next == self.sessions[i].steps.len() {
            let kind = self.sessions[i].kind;
            self.sessions[i] = self.new_session(kind);
        }
    }
}

/// The TCP segment a step of a session sends: its direction (true: client to server), flags,
/// options and payload; `None` for a step that is not TCP.
fn tcp_segment(step: Step, s: &Session) -> Option<(bool, Flags, Vec<u8>, Vec<u8>)> {
    let (cs, ss) = (s.client_seq, s.server_seq);
    let ack = |a: u32| Flags {
        ack: Some(a),
        ..Default::default()
    };
    Some(match step {
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
        Step::ServerRst => (
            false,
            Flags {
                rst: true,
                ..ack(cs)
            },
            vec![],
            vec![],
        ),
        Step::ClientRst => (
            true,
            Flags {
                rst: true,
                ..Default::default()
            },
            vec![],
            vec![],
        ),
        Step::ServerAck => (false, ack(cs), vec![], vec![]),
        Step::Request => {
            let name = SITE_NAMES[s.name_idx % SITE_NAMES.len()];
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
        Step::Upload(len) => (
            true,
            Flags {
                psh: len < 1448,
                ..ack(ss)
            },
            vec![],
            vec![0x42u8; len as usize],
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
        Step::Bulk | Step::UdpDatagram | Step::UdpProbe(_) | Step::DnsQuery | Step::DnsResponse => {
            return None
        }
    })
}

/// Writes run-length labels: one line per run of packets with the same label.
struct LabelWriter<W: Write> {
    out: W,
    run: Option<(u64, u64, String)>,
}

impl<W: Write> LabelWriter<W> {
    fn push(&mut self, index: u64, label: &str) -> io::Result<()> {
        match &mut self.run {
            Some((_, last, l)) if l == label && *last + 1 == index => *last = index,
            _ => {
                self.flush_run()?;
                self.run = Some((index, index, label.to_string()));
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
    if !(cfg.benign_pps > 0.0 && cfg.benign_pps.is_finite()) {
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
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let authorities = crate::attacks::HostPool::new(&mut rng, 200);
    let mut attack_state = AttackState::new(&mut rng, &cfg.reflector_nets);
    let mut g = Generator {
        rng,
        cfg: cfg.clone(),
        sessions: Vec::new(),
        heavy: 0,
        heavy_share: 0.0,
        authorities,
        scanners: None,
        flood_victims: None,
        buf: Vec::with_capacity(2048),
    };
    if cfg.background == Background::Internet {
        // Their own generator, so the other backgrounds' captures stay as they were.
        let mut pools = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x1b4c_0ffe);
        g.scanners = Some(crate::attacks::HostPool::new(&mut pools, 4000));
        g.flood_victims = Some(crate::attacks::HostPool::new(&mut pools, 40));
    }
    g.start_sessions();
    let share = if cfg.scenario.is_benign() {
        0.0
    } else {
        cfg.attack_share
    };
    let attack_total = (cfg.packets as f64 * share).round() as u64;
    let benign_total = cfg.packets - attack_total;
    // Benign traffic spans the capture; the attacks run together from 20 % to 80 % of it.
    let duration_ns = (benign_total.max(1) as f64 / cfg.benign_pps * 1e9) as i64;
    let attack_start = (duration_ns / 5) as f64;
    let attack_len = (duration_ns * 3 / 5).max(1) as f64;
    let vectors = &cfg.scenario.attacks;
    let mut streams: Vec<AttackStream> = vectors
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            // Equal shares; the first vector takes the rounding remainder.
            let n = attack_total / vectors.len() as u64
                + u64::from(i == 0) * (attack_total % vectors.len() as u64);
            AttackStream {
                vector: v,
                label: format!("attack:{}", v.reported_as()),
                budget: n,
                written: 0,
                t: attack_start,
                gap: attack_len / n.max(1) as f64,
                event_gap: 0.0,
                pending: VecDeque::new(),
            }
        })
        .collect();
    let benign_gap = 1e9 / cfg.benign_pps;
    let mut t_benign = 0.0f64;
    let mut benign = 0u64;
    let mut stats = SynthStats::default();
    for index in 0..cfg.packets {
        // The stream whose next packet is earliest; benign when nothing else is due.
        let next_attack = streams
            .iter()
            .enumerate()
            .filter(|(_, s)| s.written < s.budget)
            .min_by(|a, b| a.1.t.total_cmp(&b.1.t))
            .map(|(i, _)| i);
        let attack_due = next_attack.filter(|&i| benign >= benign_total || streams[i].t < t_benign);
        let (t, label): (f64, &str) = match attack_due {
            Some(i) => {
                let s = &mut streams[i];
                if s.pending.is_empty() {
                    attack_event(
                        &mut g.rng,
                        &mut attack_state,
                        s.vector,
                        cfg.target_port,
                        cfg.victim,
                        &mut s.pending,
                    );
                    // An event of several frames takes the time of as many packets.
                    s.event_gap = s.gap * s.pending.len() as f64;
                }
                let frame = s.pending.pop_front().expect("an event writes a frame");
                g.buf = frame;
                let t = s.t;
                s.written += 1;
                if s.pending.is_empty() {
                    // Exponential gaps: arrivals of a Poisson process.
                    s.t += -s.event_gap * (1.0 - g.rng.random::<f64>()).ln();
                } else {
                    // Fragments of one datagram leave back to back.
                    s.t += 2_000.0;
                }
                (t, streams[i].label.as_str())
            }
            None => {
                g.benign_packet();
                let t = t_benign;
                t_benign += -benign_gap * (1.0 - g.rng.random::<f64>()).ln();
                benign += 1;
                (t, "benign")
            }
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
    stats.attack = cfg.packets - benign;
    Ok(stats)
}

/// One attack vector's packets, spread over the attack window.
struct AttackStream {
    vector: AttackVector,
    label: String,
    budget: u64,
    written: u64,
    t: f64,
    /// Mean time per packet, and per event (packets × gap) of the current event.
    gap: f64,
    event_gap: f64,
    /// Frames of the current event not written yet (fragments).
    pending: VecDeque<Vec<u8>>,
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
