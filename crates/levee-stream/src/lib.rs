//! HTTP requests from packet captures, as the same records access logs give
//! ([`levee_logs::Request`]), so the layer-7 analysis judges a capture's clients as it judges a
//! log's.
//!
//! * [`tcp`] puts each direction of a connection back in order (retransmissions, overlaps,
//!   segments out of order; lost bytes declared as gaps).
//! * [`http`] finds the HTTP/1.x messages in those bytes: requests split over segments,
//!   pipelined requests, bodies skipped by length or chunks, and responses likewise.
//! * [`HttpExtractor`] keeps the connections in a table of bounded size, pairs each request
//!   with its response (in order, as HTTP/1.1 requires) for the status, attaches the JA3 and
//!   JA4 of the client's last TLS ClientHello, and reports connections held open on a header
//!   block that never ends (slowloris) with how long they were held.
//!
//! Connections are taken up on their first segment that starts an HTTP request, so a SYN
//! flood costs one look at each packet and no memory. Encrypted requests cannot be read; the
//! TLS ClientHello of a client is what is known of it, and it is joined to the client's
//! cleartext requests.

#![warn(missing_docs)]

pub mod digest;
pub mod fuzzing;
pub mod http;
pub mod tcp;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use levee_decode::{App, Packet};
use levee_logs::Request;

use crate::http::{RequestHead, RequestStream, ResponseStream};
use crate::tcp::{Chunk, Half};

/// Limits of the extractor.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// Connections followed at once; the least recently active give way beyond.
    pub max_connections: usize,
    /// A connection idle this long (capture time, ns) is closed.
    pub idle_ns: i64,
    /// A request waits this long for its response before it is given without a status.
    pub response_wait_ns: i64,
    /// Requests waiting for responses per connection at most (pipelining depth).
    pub max_waiting: usize,
    /// Clients whose TLS fingerprints are remembered.
    pub max_fingerprints: usize,
    /// Hash every HTTP body read whole (MD5, SHA-1, SHA-256; see [`digest`]), for
    /// [`HttpExtractor::drain_bodies`].
    pub hash_bodies: bool,
}

impl Default for StreamConfig {
    fn default() -> StreamConfig {
        StreamConfig {
            max_connections: 65_536,
            idle_ns: 120_000_000_000,
            response_wait_ns: 5_000_000_000,
            max_waiting: 64,
            max_fingerprints: 65_536,
            hash_bodies: false,
        }
    }
}

/// What the extractor saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// TCP connections followed.
    pub connections: u64,
    /// Requests found.
    pub requests: u64,
    /// Requests given with the status of their response.
    pub answered: u64,
    /// Times bytes of a direction were never captured.
    pub gaps: u64,
    /// Header blocks that were not HTTP.
    pub malformed: u64,
    /// Connections that gave way to others in a full table.
    pub evicted: u64,
    /// Connections that ended inside a request's header block.
    pub incomplete_headers: u64,
    /// Connections that opened with a TLS ClientHello (their requests cannot be read; their JA3/JA4
    /// label the cleartext ones of the same client).
    pub tls_hellos: u64,
}

/// An endpoint: address and port.
type End = (IpAddr, u16);

/// A request with where the capture holds it (see [`HttpExtractor::drain_located`]).
#[derive(Debug, Clone)]
pub struct Located {
    /// The request.
    pub request: Request<'static>,
    /// The client's address and port.
    pub client: SocketAddr,
    /// The server's address and port.
    pub server: SocketAddr,
    /// The number of the frame whose bytes completed the request's header block, as the
    /// frames were numbered for [`HttpExtractor::add_numbered`] (or counted by
    /// [`HttpExtractor::add`] from 1); for a header block cut short, the connection's last.
    pub frame: u64,
}

/// The hashes of an HTTP body read whole, with where the capture holds it (see
/// [`HttpExtractor::drain_bodies`]).
#[derive(Debug, Clone)]
pub struct LocatedBody {
    /// The client's address and port.
    pub client: SocketAddr,
    /// The server's address and port.
    pub server: SocketAddr,
    /// Whether the body was a response's (a download), not a request's (an upload).
    pub response: bool,
    /// The frame whose bytes completed it (numbered as for [`HttpExtractor::add_numbered`]).
    pub frame: u64,
    /// The time of that frame.
    pub ts: i64,
    /// The hashes of the body as sent, then of its content decoded when it was encoded.
    pub hashes: Vec<digest::FileHashes>,
}

struct Connection {
    client: End,
    server: End,
    /// The number of the last frame of the connection.
    last_frame: u64,
    up: Half,
    down: Half,
    requests: RequestStream,
    responses: ResponseStream,
    /// Requests waiting for their response, oldest first.
    waiting: VecDeque<Located>,
    last_ts: i64,
    /// FIN seen from the client (bit 0) and from the server (bit 1).
    fins: u8,
}

/// Turns packets into HTTP request records.
pub struct HttpExtractor {
    config: StreamConfig,
    /// (client, server) to connection. Boxed: a table of tens of thousands of connections
    /// holds only pointers in the slots it keeps free (a connection is some 400 bytes).
    connections: HashMap<(End, End), Box<Connection>, foldhash::fast::FixedState>,
    /// The connections' keys in the order they were taken up, the oldest first (keys of
    /// connections since closed among them, until they come to the front or are swept out):
    /// where a full table looks for one to give way.
    opened: VecDeque<(End, End)>,
    /// Client address to the (JA3 hash, JA4) of its last ClientHello.
    fingerprints: HashMap<IpAddr, (String, String), foldhash::fast::FixedState>,
    ready: Vec<Located>,
    stats: StreamStats,
    /// The number of the frame being added.
    frame: u64,
    last_sweep: i64,
    /// Segments of connections not yet taken up that may be the rest of a request whose
    /// first segment arrives later: (client, server) to (sequence number, bytes).
    early: HashMap<(End, End), (u32, Vec<u8>), foldhash::fast::FixedState>,
    /// Bodies hashed, until drained.
    bodies: Vec<LocatedBody>,
}

/// Early segments held at most (the table is emptied when full), and their size.
const MAX_EARLY_SEGMENTS: usize = 4_096;
const MAX_EARLY_BYTES: usize = 4_096;

/// The request of `head`, on the connection of `client` and `server`, whose header block
/// started at `ts` and was completed by frame `frame`.
fn record(head: RequestHead, (client, server, frame): (End, End, u64), ts: i64) -> Located {
    let (client, client_port) = client;
    let request = Request {
        ts: Some(ts),
        client: client.to_string().into(),
        ip: Some(client),
        method: head.method.into(),
        target: head.target.into(),
        protocol: Some(head.protocol.into()),
        referer: head.referer.map(Into::into),
        user_agent: head.user_agent.map(Into::into),
        host: head.host.map(Into::into),
        cookie: head.cookie.map(Into::into),
        header_names: (!head.header_names.is_empty()).then(|| head.header_names.into()),
        ..Default::default()
    };
    Located {
        request,
        client: (client, client_port).into(),
        server: server.into(),
        frame,
    }
}

impl HttpExtractor {
    /// An extractor with no connection yet.
    pub fn new(config: StreamConfig) -> HttpExtractor {
        let seed = foldhash::fast::FixedState::with_seed(0x1e7ee);
        HttpExtractor {
            config,
            connections: HashMap::with_hasher(seed.clone()),
            opened: VecDeque::new(),
            fingerprints: HashMap::with_hasher(seed.clone()),
            early: HashMap::with_hasher(seed),
            ready: Vec::new(),
            stats: StreamStats::default(),
            last_sweep: i64::MIN,
            frame: 0,
            bodies: Vec::new(),
        }
    }

    /// What it has seen so far.
    pub fn stats(&self) -> &StreamStats {
        &self.stats
    }

    /// Takes a packet captured at `ts` (ns, capture order); requests completed by it (or by
    /// the passing of time) are returned by [`HttpExtractor::drain`]. Packets are numbered
    /// from 1 in the order they are added (see [`Located::frame`]).
    pub fn add(&mut self, ts: i64, p: &Packet<'_>) {
        self.add_numbered(self.frame + 1, ts, p);
    }

    /// [`HttpExtractor::add`] for the packet of frame `frame` of its capture (frames that are
    /// not added, such as those that do not decode, still count in the numbering).
    pub fn add_numbered(&mut self, frame: u64, ts: i64, p: &Packet<'_>) {
        self.frame = frame;
        if ts.saturating_sub(self.last_sweep) >= 1_000_000_000 {
            self.sweep(ts);
        }
        let (Some(ip), Some(t)) = (p.ip.as_ref(), p.tcp()) else {
            return;
        };
        if ip.is_later_fragment() {
            return;
        }
        let src = (ip.src, t.src_port);
        let dst = (ip.dst, t.dst_port);
        let flags = t.flags;
        let syn = flags.has(levee_decode::TcpFlags::SYN);
        let (fin, rst) = (
            flags.has(levee_decode::TcpFlags::FIN),
            flags.has(levee_decode::TcpFlags::RST),
        );
        let up = self.connections.contains_key(&(src, dst));
        let down = !up && self.connections.contains_key(&(dst, src));
        if !up && !down {
            if p.payload.is_empty() {
                return;
            }
            if let App::TlsClientHello(h) = p.app() {
                self.stats.tls_hellos += 1;
                if self.fingerprints.len() >= self.config.max_fingerprints
                    && !self.fingerprints.contains_key(&ip.src)
                {
                    // Forget everything rather than grow: the newest hellos matter most.
                    self.fingerprints.clear();
                }
                self.fingerprints
                    .insert(ip.src, (h.ja3_hash.clone(), h.ja4.clone()));
                return;
            }
            if !http::may_start_request(p.payload) {
                // Maybe the rest of a request whose start is still to come (reordered).
                if http::looks_like_text(p.payload) && p.payload.len() <= MAX_EARLY_BYTES {
                    if self.early.len() >= MAX_EARLY_SEGMENTS {
                        self.early.clear();
                    }
                    self.early.insert((src, dst), (t.seq, p.payload.to_vec()));
                }
                return;
            }
            if self.connections.len() >= self.config.max_connections {
                self.evict_oldest();
            }
            self.stats.connections += 1;
            let mut c = Box::new(Connection {
                client: src,
                server: dst,
                last_frame: frame,
                up: Half::default(),
                down: Half::default(),
                requests: RequestStream::default(),
                responses: ResponseStream::default(),
                waiting: VecDeque::new(),
                last_ts: ts,
                fins: 0,
            });
            if self.config.hash_bodies {
                c.requests.hash_bodies();
                c.responses.hash_bodies();
            }
            self.connections.insert((src, dst), c);
            self.note_opened((src, dst));
        }
        let key = if down { (dst, src) } else { (src, dst) };
        let early = if !up && !down {
            self.early.remove(&key)
        } else {
            None
        };
        // Disjoint fields: the client's fingerprint is borrowed, not copied for each packet.
        let (connections, fingerprints) = (&mut self.connections, &self.fingerprints);
        let (stats, ready, config) = (&mut self.stats, &mut self.ready, &self.config);
        let c = connections.get_mut(&key).expect("found or inserted");
        c.last_ts = ts;
        c.last_frame = frame;
        let fingerprint = fingerprints.get(&c.client.0);
        if down {
            deliver_down(c, t.seq, syn, p.payload, stats, ready);
        } else {
            deliver_up(
                c,
                ts,
                t.seq,
                syn,
                p.payload,
                fingerprint,
                stats,
                ready,
                config,
            );
            if let Some((seq, bytes)) = early {
                // Only a segment that follows the request's start is of this stream; one
                // from before it (an older request's part) is dropped by the reassembly.
                deliver_up(c, ts, seq, false, &bytes, fingerprint, stats, ready, config);
            }
        }
        // Ended by a reset, or by a FIN from each side (a half-closed connection still
        // carries the responses).
        let c = self.connections.get_mut(&key).expect("present");
        collect_bodies(c, &mut self.bodies);
        if fin {
            c.fins |= if down { 2 } else { 1 };
        }
        if rst || c.fins == 3 {
            let c = self.connections.remove(&key).expect("present");
            self.close(c, ts);
        }
    }

    /// Requests ready, in the order they completed.
    pub fn drain(&mut self) -> impl Iterator<Item = Request<'static>> + '_ {
        self.ready.drain(..).map(|l| l.request)
    }

    /// Requests ready, in the order they completed, with their connection and frame.
    pub fn drain_located(&mut self) -> std::vec::Drain<'_, Located> {
        self.ready.drain(..)
    }

    /// The hashes of the HTTP bodies read whole (with [`StreamConfig::hash_bodies`]), in the
    /// order they ended.
    pub fn drain_bodies(&mut self) -> std::vec::Drain<'_, LocatedBody> {
        self.bodies.drain(..)
    }

    /// The capture ended: every connection is closed at its last activity.
    pub fn finish(&mut self) {
        let all: Vec<_> = self.connections.drain().map(|(_, c)| c).collect();
        for c in all {
            let at = c.last_ts;
            self.close(c, at);
        }
    }

    /// Closes idle connections and gives up waiting for late responses.
    fn sweep(&mut self, now: i64) {
        self.last_sweep = now;
        let idle: Vec<_> = self
            .connections
            .iter()
            .filter(|(_, c)| now.saturating_sub(c.last_ts) > self.config.idle_ns)
            .map(|(k, _)| *k)
            .collect();
        for k in idle {
            let c = self.connections.remove(&k).expect("present");
            let at = c.last_ts;
            self.close(c, at);
        }
        for c in self.connections.values_mut() {
            while c.waiting.front().is_some_and(|l| {
                now.saturating_sub(l.request.ts.unwrap_or(now)) > self.config.response_wait_ns
            }) {
                let r = c.waiting.pop_front().expect("front exists");
                self.stats.requests += 1;
                self.ready.push(r);
            }
        }
    }

    /// Makes room in a full table: of the 16 connections taken up longest ago that are still
    /// open, the one idle longest gives way. A scan of the table's first slots did this
    /// before: under a flood of connections the slots a full table gives up come first, and
    /// the scan grew to microseconds per new connection (3.9 µs on 400,000 of them).
    fn evict_oldest(&mut self) {
        let mut sample: Vec<(End, End)> = Vec::with_capacity(16);
        while sample.len() < 16 {
            let Some(k) = self.opened.pop_front() else {
                break;
            };
            if self.connections.contains_key(&k) {
                sample.push(k);
            }
        }
        let victim = sample
            .iter()
            .enumerate()
            .min_by_key(|(_, k)| self.connections[*k].last_ts)
            .map(|(i, _)| i);
        if let Some(i) = victim {
            let k = sample.remove(i);
            // The others keep their place at the front.
            for other in sample.into_iter().rev() {
                self.opened.push_front(other);
            }
            let c = self.connections.remove(&k).expect("present");
            self.stats.evicted += 1;
            let at = c.last_ts;
            self.close(c, at);
        }
    }

    /// Notes a connection taken up; the keys of connections since closed are swept out of
    /// [`HttpExtractor::opened`] once they are half of it, so it stays within twice the table.
    fn note_opened(&mut self, key: (End, End)) {
        self.opened.push_back(key);
        if self.opened.len() > 2 * self.connections.len().max(1024) {
            let connections = &self.connections;
            self.opened.retain(|k| connections.contains_key(k));
        }
    }

    /// A connection ended at `at`: held bytes are delivered, waiting requests are given as
    /// they are, and an unfinished header block is reported with how long it was held.
    fn close(&mut self, mut c: Box<Connection>, at: i64) {
        let (stats, ready) = (&mut self.stats, &mut self.ready);
        let mut chunks = Vec::new();
        c.down.close(&mut |ch| chunks.push(own(ch)));
        for ch in chunks.drain(..) {
            feed_down(&mut c, ch.as_ref(), stats, ready);
        }
        c.up.close(&mut |ch| chunks.push(own(ch)));
        let fingerprint = self.fingerprints.get(&c.client.0);
        for ch in chunks {
            feed_up(
                &mut c,
                at,
                ch.as_ref(),
                fingerprint,
                stats,
                ready,
                &self.config,
            );
        }
        c.responses.close();
        collect_bodies(&mut c, &mut self.bodies);
        stats.gaps += c.up.gaps + c.down.gaps;
        stats.malformed += c.requests.malformed + c.responses.malformed;
        for r in c.waiting.drain(..) {
            stats.requests += 1;
            ready.push(r);
        }
        if let Some((line, started)) = c.requests.incomplete() {
            let text = String::from_utf8_lossy(line);
            let mut parts = text.trim_end().splitn(3, ' ');
            let head = RequestHead {
                method: parts.next().unwrap_or("").to_string(),
                target: parts.next().unwrap_or("").to_string(),
                protocol: parts.next().unwrap_or("").to_string(),
                ..Default::default()
            };
            let mut l = record(head, (c.client, c.server, c.last_frame), started);
            let r = &mut l.request;
            if r.protocol.as_deref() == Some("") {
                r.protocol = None;
            }
            r.header_incomplete_ns = Some(at.saturating_sub(started).max(0));
            attach(r, fingerprint);
            stats.incomplete_headers += 1;
            stats.requests += 1;
            ready.push(l);
        }
    }
}

/// The bodies of `c` hashed whole since the last call, to `out`.
fn collect_bodies(c: &mut Connection, out: &mut Vec<LocatedBody>) {
    for (response, all) in [
        (false, c.requests.take_hashes()),
        (true, c.responses.take_hashes()),
    ] {
        for hashes in all {
            out.push(LocatedBody {
                client: c.client.into(),
                server: c.server.into(),
                response,
                frame: c.last_frame,
                ts: c.last_ts,
                hashes,
            });
        }
    }
}

fn attach(r: &mut Request<'static>, fingerprint: Option<&(String, String)>) {
    if let Some((ja3, ja4)) = fingerprint {
        r.ja3 = Some(ja3.clone().into());
        r.ja4 = Some(ja4.clone().into());
    }
}

/// A chunk that outlives the closure it was delivered to.
enum Owned {
    Data(Vec<u8>),
    Gap,
}

impl Owned {
    fn as_ref(&self) -> Chunk<'_> {
        match self {
            Owned::Data(d) => Chunk::Data(d),
            Owned::Gap => Chunk::Gap,
        }
    }
}

fn own(c: Chunk<'_>) -> Owned {
    match c {
        Chunk::Data(d) => Owned::Data(d.to_vec()),
        Chunk::Gap => Owned::Gap,
    }
}

#[allow(clippy::too_many_arguments)]
fn deliver_up(
    c: &mut Connection,
    ts: i64,
    seq: u32,
    syn: bool,
    payload: &[u8],
    fingerprint: Option<&(String, String)>,
    stats: &mut StreamStats,
    ready: &mut Vec<Located>,
    config: &StreamConfig,
) {
    let mut chunks = Vec::new();
    c.up.segment(seq, syn, payload, &mut |ch| chunks.push(own(ch)));
    for ch in chunks {
        feed_up(c, ts, ch.as_ref(), fingerprint, stats, ready, config);
    }
}

fn feed_up(
    c: &mut Connection,
    ts: i64,
    ch: Chunk<'_>,
    fingerprint: Option<&(String, String)>,
    stats: &mut StreamStats,
    ready: &mut Vec<Located>,
    config: &StreamConfig,
) {
    match ch {
        Chunk::Gap => c.requests.gap(),
        Chunk::Data(d) => {
            let at = (c.client, c.server, c.last_frame);
            let waiting = &mut c.waiting;
            c.requests.feed(ts, d, &mut |head, started| {
                let mut r = record(head, at, started);
                attach(&mut r.request, fingerprint);
                if waiting.len() >= config.max_waiting {
                    let old = waiting.pop_front().expect("not empty");
                    stats.requests += 1;
                    ready.push(old);
                }
                waiting.push_back(r);
            });
        }
    }
}

fn deliver_down(
    c: &mut Connection,
    seq: u32,
    syn: bool,
    payload: &[u8],
    stats: &mut StreamStats,
    ready: &mut Vec<Located>,
) {
    let mut chunks = Vec::new();
    c.down
        .segment(seq, syn, payload, &mut |ch| chunks.push(own(ch)));
    for ch in chunks {
        feed_down(c, ch.as_ref(), stats, ready);
    }
}

fn feed_down(c: &mut Connection, ch: Chunk<'_>, stats: &mut StreamStats, ready: &mut Vec<Located>) {
    match ch {
        Chunk::Gap => c.responses.gap(),
        Chunk::Data(d) => {
            let waiting = &mut c.waiting;
            let mut heads = Vec::new();
            // Whether the response about to be read answers a HEAD request: the requests
            // still waiting, in order, after those answered in this same call.
            let methods: Vec<bool> = waiting.iter().map(|l| l.request.method == "HEAD").collect();
            let mut next = 0usize;
            c.responses.feed(
                d,
                &mut || {
                    let head = methods.get(next).copied().unwrap_or(false);
                    next += 1;
                    head
                },
                &mut |h| heads.push(h),
            );
            for h in heads {
                // A response with no request waiting answers one the capture missed.
                if let Some(mut l) = waiting.pop_front() {
                    let r = &mut l.request;
                    r.status = Some(h.status);
                    r.bytes = h.content_length;
                    r.set_cookies = Some(h.set_cookies.into());
                    stats.requests += 1;
                    stats.answered += 1;
                    ready.push(l);
                }
            }
        }
    }
}
