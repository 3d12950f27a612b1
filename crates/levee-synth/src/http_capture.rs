//! The shop of [`crate::http`] as a packet capture instead of a log: every request of every
//! client travels over TCP to the shop's server (10.10.10.10:80) and is answered, so that
//! `levee analyze --http` on the capture can be checked against `levee analyze` on the log of
//! the same seed, and the reassembly against tshark.
//!
//! What a reassembler must get right is in it on purpose: clients keep connections alive and
//! open new ones after 15 idle seconds; one request in five is split over two or three
//! segments, one in ten of those arrives out of order, one in twenty is retransmitted; one
//! request in ten is held back and sent pipelined with the client's next one; one response in
//! four is chunked. With `slowloris`, attackers in the middle third of the capture open many
//! connections each and trickle a header line every ten seconds without ever ending the
//! header block.

use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::io::Write;
use std::net::IpAddr;

use levee_capture::PcapWriter;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::http::{Client, HttpConfig, HttpStats, Line};
use crate::packets::{self, Flags, V4};
use crate::SynthError;

const SERVER: [u8; 4] = crate::VICTIM;
const IDLE_NS: i64 = 15_000_000_000;
/// Server think time before a response.
const RESPONSE_NS: i64 = 2_000_000;
const MSS: usize = 1400;

/// Slowloris attackers.
pub const SLOWLORIS_CLIENTS: u32 = 6;
/// Connections each slowloris attacker holds open.
pub const SLOWLORIS_CONNECTIONS: u32 = 30;

/// The session cookie the `bad-bot` scrapers copied from one browser and all send.
const SCRAPER_COOKIE: &str = "sid=5ca1ab1e0ddba11c";

/// The cookie the shop's script sets in the browser (`document.cookie`), as analytics
/// scripts do: no response sets it, so only a client that runs the script sends it back.
const SCRIPT_COOKIE: &str = "_sv";

/// Which browser's header order a user agent gets.
enum Family {
    Chromium,
    Firefox,
    Safari,
}

fn family(agent: &str) -> Family {
    if agent.contains("Firefox/") {
        Family::Firefox
    } else if agent.contains("Version/") && agent.contains("Safari/") {
        Family::Safari
    } else {
        Family::Chromium
    }
}

/// A packet waiting for its time: packets are written in time order.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    at: std::cmp::Reverse<(i64, u64)>,
    frame: Vec<u8>,
}

struct Conn {
    sport: u16,
    /// The server's port: 80, or 443 for the TLS hello a client sends first.
    port: u16,
    /// Next sequence numbers of the client and of the server.
    cseq: u32,
    sseq: u32,
    last: i64,
}

/// A request held back to be pipelined with the client's next one.
struct Held {
    at: i64,
    request: Vec<u8>,
    response: Vec<u8>,
}

struct Writer {
    rng: ChaCha8Rng,
    queue: BinaryHeap<Pending>,
    order: u64,
    // Ordered maps: the sweep and the final close walk them, and the order they are walked
    // in draws sequence numbers, so it must not change from run to run.
    conns: BTreeMap<IpAddr, Conn>,
    held: BTreeMap<IpAddr, Held>,
    /// The cookie each browsing client was given.
    jar: HashMap<IpAddr, String>,
    /// Browsers that ran the shop's script, which sets the cookie [`SCRIPT_COOKIE`].
    ran_script: std::collections::HashSet<IpAddr>,
    /// Clients that sent their TLS hello.
    hellos: std::collections::HashSet<IpAddr>,
    next_port: u16,
    buf: Vec<u8>,
    /// Packets up to this time are written: later packets never go before it.
    flushed_to: i64,
    last_sweep: i64,
}

/// The shop's IPv6 address, for clients that come over IPv6.
const SERVER6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

impl Writer {
    fn push(&mut self, at: i64, up: bool, client: IpAddr, c: &Conn, flags: Flags, payload: &[u8]) {
        let at = at.max(self.flushed_to);
        let client = match client {
            IpAddr::V4(a) => a.octets(),
            IpAddr::V6(a) => {
                let (src, dst, sport, dport, seq, hop) = if up {
                    (a.octets(), SERVER6, c.sport, c.port, c.cseq, 52)
                } else {
                    (SERVER6, a.octets(), c.port, c.sport, c.sseq, 64)
                };
                packets::tcp6(
                    &mut self.buf,
                    src,
                    dst,
                    hop,
                    up,
                    sport,
                    dport,
                    seq,
                    flags,
                    payload,
                );
                self.order += 1;
                self.queue.push(Pending {
                    at: std::cmp::Reverse((at, self.order)),
                    frame: self.buf.clone(),
                });
                return;
            }
        };
        let (h, sport, dport, seq) = if up {
            (
                V4 {
                    src: client,
                    dst: SERVER,
                    ttl: 52,
                    id: self.rng.random(),
                    df: true,
                },
                c.sport,
                c.port,
                c.cseq,
            )
        } else {
            (
                V4 {
                    src: SERVER,
                    dst: client,
                    ttl: 64,
                    id: self.rng.random(),
                    df: true,
                },
                c.port,
                c.sport,
                c.sseq,
            )
        };
        packets::tcp(
            &mut self.buf,
            h,
            sport,
            dport,
            seq,
            64240,
            flags,
            &[],
            payload,
        );
        self.order += 1;
        self.queue.push(Pending {
            at: std::cmp::Reverse((at, self.order)),
            frame: self.buf.clone(),
        });
    }

    /// Once a second of capture time: idle connections are closed, held requests that
    /// waited a second go alone.
    fn sweep(&mut self, now: i64) {
        if now.saturating_sub(self.last_sweep) < 1_000_000_000 {
            return;
        }
        self.last_sweep = now;
        let idle: Vec<IpAddr> = self
            .conns
            .iter()
            .filter(|(_, c)| now - c.last >= IDLE_NS)
            .map(|(ip, _)| *ip)
            .collect();
        for ip in idle {
            if let Some(c) = self.conns.remove(&ip) {
                self.close(ip, c);
            }
        }
        let late: Vec<IpAddr> = self
            .held
            .iter()
            .filter(|(_, h)| now - h.at >= 1_000_000_000)
            .map(|(ip, _)| *ip)
            .collect();
        for ip in late {
            if let Some(h) = self.held.remove(&ip) {
                self.exchange(h.at + 1_000_000_000, ip, ip, &h.request, &h.response);
            }
        }
    }

    /// Writes every packet due by `now`.
    fn flush(&mut self, now: i64, w: &mut PcapWriter<impl Write>) -> Result<(), SynthError> {
        self.flushed_to = self.flushed_to.max(now);
        while self.queue.peek().is_some_and(|p| p.at.0 .0 <= now) {
            let p = self.queue.pop().expect("peeked");
            w.write(p.at.0 .0, &p.frame).map_err(SynthError::Capture)?;
        }
        Ok(())
    }

    /// The client's connection, opened (handshake at `at`) when it has none or it idled out.
    fn connection(&mut self, ip: IpAddr, at: i64) -> Conn {
        if let Some(c) = self.conns.remove(&ip) {
            if at - c.last < IDLE_NS {
                return c;
            }
            self.close(ip, c);
        }
        self.next_port = self.next_port.wrapping_add(1).max(10_000);
        let mut c = Conn {
            sport: self.next_port,
            port: 80,
            cseq: self.rng.random(),
            sseq: self.rng.random(),
            last: at,
        };
        let client = ip;
        self.push(
            at,
            true,
            client,
            &c,
            Flags {
                syn: true,
                ..Default::default()
            },
            &[],
        );
        c.cseq = c.cseq.wrapping_add(1);
        self.push(
            at + 300_000,
            false,
            client,
            &c,
            Flags {
                syn: true,
                ack: Some(c.cseq),
                ..Default::default()
            },
            &[],
        );
        c.sseq = c.sseq.wrapping_add(1);
        self.push(
            at + 600_000,
            true,
            client,
            &c,
            Flags {
                ack: Some(c.sseq),
                ..Default::default()
            },
            &[],
        );
        c
    }

    /// The server closes an idle connection; the client answers.
    fn close(&mut self, ip: IpAddr, mut c: Conn) {
        let at = c.last + IDLE_NS;
        let client = ip;
        let fin = |ack| Flags {
            fin: true,
            ack: Some(ack),
            ..Default::default()
        };
        self.push(at, false, client, &c, fin(c.cseq), &[]);
        c.sseq = c.sseq.wrapping_add(1);
        self.push(at + 300_000, true, client, &c, fin(c.sseq), &[]);
    }

    /// Client bytes at `at`: one segment, or split (sometimes out of order, sometimes one
    /// sent twice).
    fn send_up(&mut self, at: i64, client: IpAddr, c: &mut Conn, bytes: &[u8]) {
        let ack = |c: &Conn| Flags {
            psh: true,
            ack: Some(c.sseq),
            ..Default::default()
        };
        let split = bytes.len() > 20 && self.rng.random_ratio(1, 5);
        if !split {
            for part in bytes.chunks(MSS) {
                self.push(at, true, client, c, ack(c), part);
                c.cseq = c.cseq.wrapping_add(part.len() as u32);
            }
            return;
        }
        let cut = self.rng.random_range(1..bytes.len() - 1);
        let (a, b) = bytes.split_at(cut);
        let start = c.cseq;
        let mut first = Conn { ..*c };
        let mut second = Conn {
            cseq: start.wrapping_add(a.len() as u32),
            ..*c
        };
        first.cseq = start;
        let (ta, tb) = if self.rng.random_ratio(1, 10) {
            (at + 400_000, at)
        } else {
            (at, at + 400_000)
        };
        self.push(ta, true, client, &first, ack(c), a);
        self.push(tb, true, client, &second, ack(c), b);
        if self.rng.random_ratio(1, 4) {
            second.cseq = start;
            self.push(at + 900_000, true, client, &second, ack(c), a);
        }
        c.cseq = start.wrapping_add(bytes.len() as u32);
    }

    fn send_down(&mut self, at: i64, client: IpAddr, c: &mut Conn, bytes: &[u8]) {
        for part in bytes.chunks(MSS) {
            let f = Flags {
                psh: true,
                ack: Some(c.cseq),
                ..Default::default()
            };
            self.push(at, false, client, c, f, part);
            c.sseq = c.sseq.wrapping_add(part.len() as u32);
        }
    }

    /// The request as the client's HTTP stack writes it: browsers in their own header order
    /// with the cookie the shop gave them, crawlers and attack tools in theirs. The `bad-bot`
    /// scrapers claim Chrome but write headers as Python's `requests` does and all send one
    /// session's cookie.
    fn request_bytes(&mut self, who: &Client<'_>, l: &Line) -> Vec<u8> {
        let mut h: Vec<(&str, String)> = Vec::new();
        let cookie = match who.label {
            "benign" => self.browser_cookie(who.ip),
            "bad-bot" => Some(SCRAPER_COOKIE.to_string()),
            _ => None,
        };
        let referer = l.referer.clone();
        let agent = who.agent.to_string();
        let page = !l.target.contains('.');
        let post = l.method == "POST";
        match (who.label, family(who.agent)) {
            ("benign", Family::Firefox) => {
                h.push(("Host", "shop.example".into()));
                h.push(("User-Agent", agent));
                h.push(("Accept", "text/html,application/xhtml+xml,*/*;q=0.8".into()));
                h.push(("Accept-Language", "en-US,en;q=0.5".into()));
                h.push(("Accept-Encoding", "gzip, deflate".into()));
                h.push(("Connection", "keep-alive".into()));
                if let Some(r) = referer {
                    h.push(("Referer", r));
                }
                if let Some(c) = cookie {
                    h.push(("Cookie", c));
                }
                if page && !post {
                    h.push(("Upgrade-Insecure-Requests", "1".into()));
                }
            }
            ("benign", Family::Safari) => {
                h.push(("Host", "shop.example".into()));
                h.push(("Accept", "text/html,application/xhtml+xml,*/*;q=0.8".into()));
                h.push(("User-Agent", agent));
                h.push(("Accept-Language", "en-GB,en;q=0.9".into()));
                if let Some(r) = referer {
                    h.push(("Referer", r));
                }
                h.push(("Accept-Encoding", "gzip, deflate".into()));
                h.push(("Connection", "keep-alive".into()));
                if let Some(c) = cookie {
                    h.push(("Cookie", c));
                }
            }
            ("benign", Family::Chromium) => {
                h.push(("Host", "shop.example".into()));
                h.push(("Connection", "keep-alive".into()));
                if page && !post {
                    h.push(("Upgrade-Insecure-Requests", "1".into()));
                }
                h.push(("User-Agent", agent));
                h.push(("Accept", "text/html,application/xhtml+xml,*/*;q=0.8".into()));
                if let Some(r) = referer {
                    h.push(("Referer", r));
                }
                h.push(("Accept-Encoding", "gzip, deflate".into()));
                h.push(("Accept-Language", "en-US,en;q=0.9".into()));
                if let Some(c) = cookie {
                    h.push(("Cookie", c));
                }
            }
            ("crawler", _) => {
                h.push(("Host", "shop.example".into()));
                h.push(("Connection", "keep-alive".into()));
                h.push(("Accept", "text/html,*/*".into()));
                h.push(("From", "crawler@search.example".into()));
                h.push(("User-Agent", agent));
                h.push(("Accept-Encoding", "gzip, deflate".into()));
            }
            _ => {
                // Python `requests` and tools like it.
                h.push(("Host", "shop.example".into()));
                h.push(("User-Agent", agent));
                h.push(("Accept-Encoding", "gzip, deflate".into()));
                h.push(("Accept", "*/*".into()));
                h.push(("Connection", "keep-alive".into()));
                if let Some(r) = referer {
                    h.push(("Referer", r));
                }
                if let Some(c) = cookie {
                    h.push(("Cookie", c));
                }
            }
        }
        let body = "user=someone%40example.com&password=hunter2";
        if post {
            h.push(("Content-Type", "application/x-www-form-urlencoded".into()));
            h.push(("Content-Length", body.len().to_string()));
        }
        let mut r = format!("{} {} HTTP/1.1\r\n", l.method, l.target);
        for (name, value) in h {
            r.push_str(&format!("{name}: {value}\r\n"));
        }
        r.push_str("\r\n");
        if post {
            r.push_str(body);
        }
        r.into_bytes()
    }

    /// What a browser's `Cookie` header holds: the session the shop gave it, then the
    /// script's cookie once it ran the script (its value made from the address, so that the
    /// capture's other random draws stay as they were).
    fn browser_cookie(&self, ip: IpAddr) -> Option<String> {
        let sid = self.jar.get(&ip);
        if !self.ran_script.contains(&ip) {
            return sid.cloned();
        }
        let bits = match ip {
            IpAddr::V4(a) => u64::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a) as u64,
        };
        let sv = format!(
            "{SCRIPT_COOKIE}=1.{:08x}",
            bits.wrapping_mul(0x9e37_79b9) >> 8
        );
        Some(match sid {
            Some(sid) => format!("{sid}; {sv}"),
            None => sv,
        })
    }

    /// The response; a request without the shop's cookie is given one, which browsers keep.
    fn response_bytes(&mut self, who: &Client<'_>, l: &Line, had_cookie: bool) -> Vec<u8> {
        // Bodies are cut short: the capture stays small, and no analysis reads them.
        let len = l.bytes.min(400) as usize;
        let body = vec![b'x'; len];
        let mut r = format!("HTTP/1.1 {} X\r\nContent-Type: text/html\r\n", l.status);
        if !had_cookie {
            let sid = format!("sid={:016x}", self.rng.random::<u64>());
            r.push_str(&format!("Set-Cookie: {sid}; Path=/; HttpOnly\r\n"));
            if who.label == "benign" {
                self.jar.insert(who.ip, sid);
            }
        }
        if self.rng.random_ratio(1, 4) && len > 0 {
            r.push_str("Transfer-Encoding: chunked\r\n\r\n");
            let mut out = r.into_bytes();
            for part in body.chunks(150) {
                out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                out.extend_from_slice(part);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
            return out;
        }
        r.push_str(&format!("Content-Length: {len}\r\n\r\n"));
        let mut out = r.into_bytes();
        out.extend_from_slice(&body);
        out
    }

    fn request(&mut self, at: i64, who: &Client<'_>, l: &Line) {
        let client = who.ip;
        self.tls_hello(at.saturating_sub(1_000_000), who.ip, who.label);
        let had_cookie = match who.label {
            "benign" => self.jar.contains_key(&who.ip),
            "bad-bot" => true,
            _ => false,
        };
        let mut req = self.request_bytes(who, l);
        if who.label == "benign" && l.target.ends_with(".js") {
            // The script runs once fetched: its cookie goes with the requests that follow.
            self.ran_script.insert(who.ip);
        }
        let mut resp = self.response_bytes(who, l, had_cookie);
        let mut at = at;
        if let Some(h) = self.held.remove(&who.ip) {
            if at - h.at < 1_000_000_000 {
                // Pipelined: both requests in one go, both responses after.
                let mut both = h.request;
                both.extend_from_slice(&req);
                req = both;
                let mut both = h.response;
                both.extend_from_slice(&resp);
                resp = both;
            } else {
                // Too long to wait: the held request goes on its own first.
                self.exchange(h.at, who.ip, client, &h.request, &h.response);
            }
        } else if self.rng.random_ratio(1, 10) {
            self.held.insert(
                who.ip,
                Held {
                    at,
                    request: req,
                    response: resp,
                },
            );
            return;
        }
        at = at.max(1);
        self.exchange(at, who.ip, client, &req, &resp);
    }

    /// Before its first request a client opens a TLS connection to the shop's port 443 (the
    /// pages it loads over HTTPS): the ClientHello is its stack's, a browser's for people and
    /// crawlers, an HTTP library's for the attack tools, whatever their user agent says. The
    /// server's answer is left out; the client resets the connection.
    fn tls_hello(&mut self, at: i64, ip: IpAddr, label: &str) {
        if label == "slowloris" || !self.hellos.insert(ip) {
            return;
        }
        self.next_port = self.next_port.wrapping_add(1).max(10_000);
        let mut c = Conn {
            sport: self.next_port,
            port: 443,
            cseq: self.rng.random(),
            sseq: self.rng.random(),
            last: at,
        };
        let hello = if matches!(label, "benign" | "crawler") {
            let grease = 0x0a0a + 0x1010 * self.rng.random_range(0..16u16);
            packets::client_hello("shop.example", grease)
        } else {
            packets::scripted_client_hello("shop.example")
        };
        let syn = Flags {
            syn: true,
            ..Default::default()
        };
        self.push(at, true, ip, &c, syn, &[]);
        c.cseq = c.cseq.wrapping_add(1);
        let synack = Flags {
            syn: true,
            ack: Some(c.cseq),
            ..Default::default()
        };
        self.push(at + 100_000, false, ip, &c, synack, &[]);
        c.sseq = c.sseq.wrapping_add(1);
        let data = Flags {
            psh: true,
            ack: Some(c.sseq),
            ..Default::default()
        };
        self.push(at + 200_000, true, ip, &c, data, &hello);
        c.cseq = c.cseq.wrapping_add(hello.len() as u32);
        let rst = Flags {
            rst: true,
            ack: Some(c.sseq),
            ..Default::default()
        };
        self.push(at + 300_000, true, ip, &c, rst, &[]);
    }

    fn exchange(&mut self, at: i64, ip: IpAddr, client: IpAddr, req: &[u8], resp: &[u8]) {
        let mut c = self.connection(ip, at);
        let t = at + 1_000_000;
        self.send_up(t, client, &mut c, req);
        self.send_down(t + RESPONSE_NS, client, &mut c, resp);
        c.last = t + RESPONSE_NS;
        self.conns.insert(ip, c);
    }
}

/// Writes the shop as a capture (see the module's text) and the label of each request; with
/// `slowloris`, also the slowloris attackers (one label line per connection).
pub fn generate_http_capture(
    cfg: &HttpConfig,
    slowloris: bool,
    out: impl Write,
    mut labels: impl Write,
) -> Result<HttpStats, SynthError> {
    let mut w = PcapWriter::new(out, 1, 65535).map_err(SynthError::Capture)?;
    let mut g = Writer {
        rng: ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed_cafe),
        queue: BinaryHeap::new(),
        order: 0,
        conns: BTreeMap::new(),
        held: BTreeMap::new(),
        jar: HashMap::new(),
        ran_script: Default::default(),
        hellos: Default::default(),
        next_port: 10_000,
        buf: Vec::new(),
        flushed_to: i64::MIN,
        last_sweep: i64::MIN,
    };
    let start = cfg.start_ns;
    let mut slow_rows = Vec::new();
    if slowloris {
        let (from, to) = (
            start + (cfg.duration_s * 1e9 / 3.0) as i64,
            start + (cfg.duration_s * 2e9 / 3.0) as i64,
        );
        for k in 0..SLOWLORIS_CLIENTS {
            let ip = IpAddr::from([
                45,
                13 + k as u8,
                g.rng.random::<u8>(),
                1 + g.rng.random::<u8>() % 250,
            ]);
            let client = ip;
            for _ in 0..SLOWLORIS_CONNECTIONS {
                let open = from + g.rng.random_range(0..20_000_000_000i64);
                g.conns.remove(&ip);
                let mut c = g.connection(ip, open);
                let mut t = open + 1_000_000;
                let first = b"GET / HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n";
                g.send_up(t, client, &mut c, first);
                while t + 10_000_000_000 < to {
                    t += 10_000_000_000;
                    let line = format!("X-a: {}\r\n", g.rng.random::<u16>());
                    g.send_up(t, client, &mut c, line.as_bytes());
                }
                // The server gives up at the end of the attack and resets the connection.
                let rst = Flags {
                    rst: true,
                    ack: Some(c.cseq),
                    ..Default::default()
                };
                g.push(to, false, client, &c, rst, &[]);
                slow_rows.push(ip);
            }
            g.conns.remove(&ip);
        }
    }
    let stats = crate::http::generate_requests(cfg, &mut labels, &mut |at, who, l| {
        g.sweep(at);
        g.flush(at, &mut w)?;
        g.request(at, who, l);
        Ok(())
    })?;
    // Requests still held go alone; then every connection is closed.
    let held = std::mem::take(&mut g.held);
    for (ip, h) in held {
        g.exchange(h.at, ip, ip, &h.request, &h.response);
    }
    let open = std::mem::take(&mut g.conns);
    for (ip, c) in open {
        g.close(ip, c);
    }
    g.flush(i64::MAX, &mut w)?;
    for (i, ip) in slow_rows.iter().enumerate() {
        writeln!(labels, "{},slowloris,{ip}", stats.lines + 1 + i as u64)
            .map_err(SynthError::Labels)?;
    }
    w.finish().map_err(SynthError::Capture)?;
    labels.flush().map_err(SynthError::Labels)?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same configuration writes the same bytes: connections are swept and closed in the
    /// order of their addresses, not of a hash map's random seed.
    #[test]
    fn the_shop_as_a_capture_is_the_same_every_time() {
        let cfg = crate::http::HttpConfig {
            attacks: vec!["http-flood".into()],
            duration_s: 90.0,
            ..Default::default()
        };
        let write = || {
            let (mut pcap, mut labels) = (Vec::new(), Vec::new());
            generate_http_capture(&cfg, true, &mut pcap, &mut labels).expect("synth");
            (pcap, labels)
        };
        let first = write();
        assert!(first.0.len() > 100_000, "{} bytes", first.0.len());
        for _ in 0..3 {
            assert!(write() == first, "a second run wrote other bytes");
        }
    }
}
