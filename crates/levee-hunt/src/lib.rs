//! Hunting indicators of compromise across captures, access logs and flow exports.
//!
//! Responders are handed indicators (a threat report's addresses and domains, a partner's
//! STIX bundle, a MISP event) and a pile of evidence; they must find every place an
//! indicator appears, with its time and context. This crate reads the indicators
//! ([`indicators`]), compiles them for lookup ([`Index`]), and hunts each input file
//! ([`hunt_file`]), told by its content:
//!
//! * **packet captures** (pcap, pcapng; compressed too): the addresses of every packet; DNS
//!   questions and the names and addresses of answers; the SNI, JA3 and JA4 of TLS
//!   ClientHellos; HTTP requests reassembled from TCP (`levee-stream`): host, URL, path, user
//!   agent and referer. Positions are frame numbers from 1, as Wireshark and tshark number.
//! * **access logs** (any format `levee-logs` reads): the client, host, URL, path, user agent,
//!   referer, and JA3/JA4 where the log has them. Positions are line numbers.
//! * **flow exports** (captures of NetFlow/IPFIX/sFlow datagrams, nfdump and goflow2 JSON):
//!   the addresses of every record. Positions are the datagram's frame and the record in it,
//!   or the JSON record's number.
//!
//! Every [`Hit`] names its file, position, time, the field that matched, the value seen, the
//! indicator (and so its source) and its context: the flow, the DNS answer, the request. An
//! indicator with a validity (STIX `valid_from`/`valid_until`) matches only traffic inside it.
//!
//! The same pass over a capture keeps, when asked, the flows that hold hits ([`carve`]: every
//! frame of them written out as evidence). The same pass over any input finds, when asked,
//! what stands out without any indicator ([`anomalies`]: beaconing, DNS tunnels and
//! generated names, DNS over TLS or HTTPS to public resolvers, HTTP that looks like command
//! and control, fingerprints one host alone presents, outbound volume far above a host's
//! baseline), each finding scored with its evidence.

#![warn(missing_docs)]

pub mod anomalies;
mod capture;
pub mod carve;
mod flows;
pub mod index;
pub mod indicators;
mod logs;

use std::path::Path;

use serde::Serialize;

pub use index::Index;

/// Where in traffic an indicator was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Field {
    /// A packet's source address.
    IpSrc,
    /// A packet's destination address.
    IpDst,
    /// A DNS question's name.
    DnsQuery,
    /// The name a DNS answer is for, or the name it points to (CNAME, NS, MX...).
    DnsAnswerName,
    /// The address a DNS answer gives (A, AAAA).
    DnsAnswerAddress,
    /// A TLS ClientHello's server name.
    TlsSni,
    /// A TLS ClientHello's JA3 hash.
    TlsJa3,
    /// A TLS ClientHello's JA4.
    TlsJa4,
    /// An HTTP request's host.
    HttpHost,
    /// An HTTP request's URL (host and target).
    HttpUrl,
    /// An HTTP request's path (and query).
    HttpPath,
    /// An HTTP request's user agent.
    HttpUserAgent,
    /// An HTTP request's referer.
    HttpReferer,
    /// The MD5 of an HTTP body (a file downloaded or uploaded; decoded too when it was sent
    /// gzip- or deflate-encoded).
    HttpBodyMd5,
    /// The SHA-1 of an HTTP body.
    HttpBodySha1,
    /// The SHA-256 of an HTTP body.
    HttpBodySha256,
    /// The JA3 hash a log line gives for its client.
    LogJa3,
    /// The JA4 a log line gives for its client.
    LogJa4,
    /// The client of an access log's line.
    LogClient,
    /// A flow record's source address.
    FlowSrc,
    /// A flow record's destination address.
    FlowDst,
}

impl Field {
    /// The field's name, in tshark's manner where tshark has one.
    pub fn name(self) -> &'static str {
        match self {
            Field::IpSrc => "ip.src",
            Field::IpDst => "ip.dst",
            Field::DnsQuery => "dns.qry.name",
            Field::DnsAnswerName => "dns.resp.name",
            Field::DnsAnswerAddress => "dns.resp.addr",
            Field::TlsSni => "tls.handshake.extensions_server_name",
            Field::TlsJa3 => "tls.handshake.ja3",
            Field::TlsJa4 => "tls.handshake.ja4",
            Field::HttpHost => "http.host",
            Field::HttpUrl => "http.request.full_uri",
            Field::HttpPath => "http.request.uri",
            Field::HttpUserAgent => "http.user_agent",
            Field::HttpReferer => "http.referer",
            Field::HttpBodyMd5 => "http.file_data.md5",
            Field::HttpBodySha1 => "http.file_data.sha1",
            Field::HttpBodySha256 => "http.file_data.sha256",
            Field::LogJa3 => "log.ja3",
            Field::LogJa4 => "log.ja4",
            Field::LogClient => "log.client",
            Field::FlowSrc => "flow.src",
            Field::FlowDst => "flow.dst",
        }
    }
}

/// The position of a hit in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum At {
    /// A capture's frame, numbered from 1.
    Frame(u64),
    /// A log's line, numbered from 1.
    Line(u64),
    /// A flow record: the frame of the export datagram that carried it and the record's
    /// place in the datagram, both from 1.
    Record {
        /// The datagram's frame.
        frame: u64,
        /// The record in it.
        record: u32,
    },
    /// A record of a JSON flow file, numbered from 1.
    JsonRecord(u64),
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            At::Frame(n) => write!(f, "frame {n}"),
            At::Line(n) => write!(f, "line {n}"),
            At::Record { frame, record } => write!(f, "frame {frame} record {record}"),
            At::JsonRecord(n) => write!(f, "record {n}"),
        }
    }
}

/// An indicator seen, as the hunt gives it to a [`Sink`]: what was seen and its context are
/// made into text only when the sink asks ([`HitRef::seen`], [`HitRef::context`]), so a
/// flood that hits millions of times costs no text it does not show.
pub struct HitRef<'a> {
    /// The position in the file.
    pub at: At,
    /// When (ns since 1970), when the input says.
    pub ts: Option<i64>,
    /// Where in the traffic.
    pub field: Field,
    /// The indicator, by its number in the [`Index`].
    pub indicator: u32,
    seen: Seen<'a>,
    context: &'a dyn Fn() -> String,
}

/// The value seen, as the traffic holds it.
#[derive(Clone, Copy)]
enum Seen<'a> {
    Text(&'a str),
    Address(std::net::IpAddr),
}

impl HitRef<'_> {
    /// The value seen there.
    pub fn seen(&self) -> String {
        match self.seen {
            Seen::Text(t) => t.to_string(),
            Seen::Address(ip) => ip.to_string(),
        }
    }

    /// What was around it: the flow, the DNS answer, the request.
    pub fn context(&self) -> String {
        (self.context)()
    }

    /// The hit, kept.
    pub fn to_hit(&self) -> Hit {
        Hit {
            at: self.at,
            ts: self.ts,
            field: self.field,
            seen: self.seen(),
            indicator: self.indicator,
            context: self.context(),
        }
    }
}

/// An indicator seen, kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The position in the file.
    pub at: At,
    /// When (ns since 1970), when the input says.
    pub ts: Option<i64>,
    /// Where in the traffic.
    pub field: Field,
    /// The value seen there.
    pub seen: String,
    /// The indicator, by its number in the [`Index`].
    pub indicator: u32,
    /// What was around it: the flow, the DNS answer, the request.
    pub context: String,
}

impl Hit {
    /// The hit as a sink is given it.
    pub fn as_ref<'a>(&'a self, context: &'a dyn Fn() -> String) -> HitRef<'a> {
        HitRef {
            at: self.at,
            ts: self.ts,
            field: self.field,
            indicator: self.indicator,
            seen: Seen::Text(&self.seen),
            context,
        }
    }
}

/// What an input file is, as hunted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputKind {
    /// A packet capture.
    Capture,
    /// A capture of flow export datagrams.
    FlowExports,
    /// Flow records as JSON (nfdump's, goflow2's).
    FlowJson,
    /// An access log.
    Log,
}

/// What the hunt of one file read.
#[derive(Debug, Clone, Serialize)]
pub struct FileSummary {
    /// The file, as named.
    pub file: String,
    /// What it is.
    pub kind: InputKind,
    /// Frames, lines or records read.
    pub read: u64,
    /// Hits found.
    pub hits: u64,
    /// Damaged records, malformed lines or datagrams (each told to the sink).
    pub damaged: u64,
    /// The flows of a capture that hold hits, when asked ([`Options::carve`]).
    #[serde(skip)]
    pub flows: Option<carve::Flows>,
    /// What stands out in a capture without an indicator, when asked
    /// ([`Options::anomalies`]): every finding, best first.
    #[serde(skip)]
    pub findings: Vec<anomalies::Finding>,
}

/// Where the hunt of a file sends what it finds.
pub trait Sink {
    /// An indicator seen in `file`.
    fn hit(&mut self, file: &str, hit: &HitRef<'_>);
    /// A record that could not be read, with its file, position and what is wrong.
    fn damaged(&mut self, what: String);
}

/// A file that cannot be hunted.
#[derive(Debug, thiserror::Error)]
pub enum HuntError {
    /// It cannot be opened or read, or holds nothing.
    #[error("{file}: {why}")]
    Unreadable {
        /// The file.
        file: String,
        /// Why.
        why: String,
    },
}

/// How inputs are read.
#[derive(Debug, Clone)]
pub struct Options {
    /// The format of access logs (`--log-format`; detected by default).
    pub log_format: levee_logs::FormatSpec,
    /// Keep the flows of a packet capture that hold hits ([`FileSummary::flows`]), for
    /// [`carve::carve`].
    pub carve: bool,
    /// Hunt captures, logs and flows for what no indicator names ([`anomalies`]).
    pub anomalies: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            log_format: levee_logs::FormatSpec::Auto,
            carve: false,
            anomalies: false,
        }
    }
}

/// Hunts the indicators of `index` in the file at `path`, told by its content (see the
/// crate's overview); hits and damaged records go to `sink` as they are found.
pub fn hunt_file(
    path: &Path,
    index: &Index,
    options: &Options,
    sink: &mut dyn Sink,
) -> Result<FileSummary, HuntError> {
    use levee_engine::requests::{input_kind, InputKind as Kind};
    let file = path.display().to_string();
    let unreadable = |why: String| HuntError::Unreadable {
        file: file.clone(),
        why,
    };
    match input_kind(path) {
        Kind::Empty => Err(unreadable("empty".into())),
        Kind::Unreadable => {
            let why = std::fs::File::open(path)
                .err()
                .map_or_else(|| "cannot be read".to_string(), |e| e.to_string());
            Err(unreadable(why))
        }
        Kind::Text => logs::hunt(path, &file, &options.log_format, index, options, sink),
        Kind::Capture => {
            if let Some(flavor) = levee_engine::flows::json_flavor(path) {
                flows::hunt_json(path, &file, flavor, index, options, sink)
            } else if levee_engine::flows::is_export_capture(path) {
                flows::hunt_exports(path, &file, index, options, sink)
            } else {
                capture::hunt(path, &file, index, options, sink)
            }
        }
    }
}

/// The hunt of one file: where its hits go and what it counted.
struct Hunter<'a> {
    index: &'a Index,
    sink: &'a mut dyn Sink,
    file: &'a str,
    hits: u64,
    damaged: u64,
}

impl<'a> Hunter<'a> {
    fn new(index: &'a Index, sink: &'a mut dyn Sink, file: &'a str) -> Hunter<'a> {
        Hunter {
            index,
            sink,
            file,
            hits: 0,
            damaged: 0,
        }
    }

    /// A hit of indicator `id` when it is valid at `ts`.
    fn found(
        &mut self,
        (at, ts): (At, Option<i64>),
        field: Field,
        seen: Seen<'_>,
        id: u32,
        context: &dyn Fn() -> String,
    ) {
        if self.index.indicator(id).valid_at(ts) {
            self.hits += 1;
            let hit = HitRef {
                at,
                ts,
                field,
                indicator: id,
                seen,
                context,
            };
            self.sink.hit(self.file, &hit);
        }
    }

    /// The hits of an address.
    #[inline]
    fn address(
        &mut self,
        where_: (At, Option<i64>),
        field: Field,
        ip: std::net::IpAddr,
        context: &dyn Fn() -> String,
    ) {
        let mut ids = [0u32; 8];
        let mut n = 0;
        let mut more = Vec::new();
        self.index.address(ip, |id| {
            if n < ids.len() {
                ids[n] = id;
                n += 1;
            } else {
                more.push(id);
            }
        });
        for &id in ids[..n].iter().chain(&more) {
            self.found(where_, field, Seen::Address(ip), id, context);
        }
    }

    /// The hits of what `lookup` finds for `seen`.
    fn each(
        &mut self,
        where_: (At, Option<i64>),
        field: Field,
        seen: &str,
        lookup: impl FnOnce(&Index, &mut dyn FnMut(u32)),
        context: &dyn Fn() -> String,
    ) {
        let mut ids = Vec::new();
        lookup(self.index, &mut |id| ids.push(id));
        for id in ids {
            self.found(where_, field, Seen::Text(seen), id, context);
        }
    }

    fn damaged(&mut self, what: String) {
        self.damaged += 1;
        self.sink.damaged(what);
    }

    fn summary(&self, kind: InputKind, read: u64) -> FileSummary {
        FileSummary {
            file: self.file.to_string(),
            kind,
            read,
            hits: self.hits,
            damaged: self.damaged,
            flows: None,
            findings: Vec::new(),
        }
    }
}

/// The hits of an HTTP request (from a capture's reassembly or a log's line): its host, URL,
/// path, user agent, referer, and the JA3/JA4 a log gives for its client (`fingerprints`:
/// the fields to name them by, `None` for a capture's, whose ClientHellos are hunted
/// themselves).
fn request_hits(
    h: &mut Hunter<'_>,
    where_: (At, Option<i64>),
    r: &levee_logs::Request<'_>,
    fingerprints: Option<(Field, Field)>,
    context: &dyn Fn() -> String,
) {
    let host = r
        .host
        .as_deref()
        .and_then(indicators::authority_host)
        .or_else(|| {
            // An absolute target (a proxy's request) names its host.
            r.is_absolute()
                .then(|| indicators::url_key(&r.target))
                .flatten()
                .and_then(|k| k.split('/').next().map(str::to_string))
        });
    let target = if r.is_absolute() {
        indicators::url_key(&r.target)
            .and_then(|k| k.find('/').map(|i| k[i..].to_string()))
            .unwrap_or_else(|| r.target.to_string())
    } else {
        r.target.to_string()
    };
    if let Some(host) = &host {
        h.each(
            where_,
            Field::HttpHost,
            host,
            |ix, f| ix.domain(host, f),
            context,
        );
        let url = format!("{host}{target}");
        h.each(
            where_,
            Field::HttpUrl,
            &url,
            |ix, f| ix.url(host, &target, f),
            context,
        );
    }
    h.each(
        where_,
        Field::HttpPath,
        &target,
        |ix, f| ix.path(&target, f),
        context,
    );
    if let Some(ua) = r.user_agent.as_deref() {
        h.each(
            where_,
            Field::HttpUserAgent,
            ua,
            |ix, f| ix.user_agent(ua, f),
            context,
        );
    }
    if let Some(referer) = r.referer.as_deref().filter(|r| r.contains("://")) {
        if let Some(key) = indicators::url_key(referer) {
            let (rhost, rtarget) = key.split_at(key.find('/').unwrap_or(key.len()));
            let rtarget = if rtarget.is_empty() { "/" } else { rtarget };
            h.each(
                where_,
                Field::HttpReferer,
                referer,
                |ix, f| {
                    ix.domain(rhost, &mut *f);
                    ix.url(rhost, rtarget, f);
                },
                context,
            );
        }
    }
    if let Some((ja3_field, ja4_field)) = fingerprints {
        if let Some(ja3) = r.ja3.as_deref() {
            let ja3 = ja3.to_ascii_lowercase();
            h.each(where_, ja3_field, &ja3, |ix, f| ix.ja3(&ja3, f), context);
        }
        if let Some(ja4) = r.ja4.as_deref() {
            h.each(where_, ja4_field, ja4, |ix, f| ix.ja4(ja4, f), context);
        }
    }
}

/// A request in one line: method, host and target, protocol, user agent.
fn request_line(r: &levee_logs::Request<'_>) -> String {
    let mut s = format!("{} ", r.method);
    if let Some(host) = r.host.as_deref().filter(|_| !r.is_absolute()) {
        s.push_str(host);
    }
    s.push_str(&r.target);
    if let Some(p) = r.protocol.as_deref() {
        s.push(' ');
        s.push_str(p);
    }
    if let Some(status) = r.status {
        s.push_str(&format!(" -> {status}"));
    }
    if let Some(ua) = r.user_agent.as_deref() {
        s.push_str(&format!(" ({ua})"));
    }
    s
}
