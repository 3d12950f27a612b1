//! Hunting in a packet capture: every frame's addresses, DNS questions and answers, TLS
//! ClientHellos, and the HTTP requests the TCP reassembly gives.

use std::path::Path;

use levee_capture::{CaptureReader, Item};
use levee_decode::app::dns::AnswerData;
use levee_decode::{App, Packet, Transport};
use levee_stream::{HttpExtractor, StreamConfig};

use crate::anomalies::Anomalies;
use crate::carve::{FlowKey, Flows};
use crate::{
    request_hits, request_line, At, Field, FileSummary, HuntError, Hunter, Index, InputKind, Sink,
};

/// Hunts the capture at `path` (named `file`).
pub(crate) fn hunt(
    path: &Path,
    file: &str,
    index: &Index,
    options: &crate::Options,
    sink: &mut dyn Sink,
) -> Result<FileSummary, HuntError> {
    let mut reader = CaptureReader::open(path).map_err(|e| HuntError::Unreadable {
        file: file.to_string(),
        why: e.to_string(),
    })?;
    let mut h = Hunter::new(index, sink, file);
    let (dns, tls, http) = (index.wants_dns(), index.wants_tls(), index.wants_http());
    let config = StreamConfig {
        hash_bodies: index.wants_files(),
        ..StreamConfig::default()
    };
    let extractor = http.then(|| HttpExtractor::new(config.clone()));
    let mut flows = options.carve.then(Flows::default);
    let mut anomalies = options.anomalies.then(Anomalies::new);
    // The requests are reassembled for the anomalies too.
    let mut extractor = extractor.or_else(|| {
        anomalies
            .is_some()
            .then(|| HttpExtractor::new(config.clone()))
    });
    let mut frames = 0u64;
    while let Some(item) = reader.next_item() {
        let f = match item {
            Item::Frame(f) => f,
            Item::Damaged(e) => {
                h.damaged(e.to_string());
                continue;
            }
        };
        frames += 1;
        let number = f.index + 1;
        let at = (At::Frame(number), Some(f.ts_nanos));
        levee_decode::with_decoded(f.linktype, f.data, f.orig_len, |p| {
            let Some(ip) = p.ip.as_ref() else { return };
            if let Some(a) = anomalies.as_mut() {
                a.packet(f.ts_nanos, p);
            }
            let before = h.hits;
            let flow = || flow_of(p);
            h.address(at, Field::IpSrc, ip.src, &flow);
            h.address(at, Field::IpDst, ip.dst, &flow);
            if (dns || tls) && !p.payload.is_empty() {
                application(&mut h, at, p, dns, tls);
            }
            if let (Some(flows), true) = (flows.as_mut(), h.hits > before) {
                flows.extend(FlowKey::of(p));
            }
            if let Some(x) = extractor.as_mut() {
                x.add_numbered(number, f.ts_nanos, p);
                requests(&mut h, x, flows.as_mut(), anomalies.as_mut());
            }
        });
    }
    if let Some(x) = extractor.as_mut() {
        x.finish();
        requests(&mut h, x, flows.as_mut(), anomalies.as_mut());
    }
    if frames == 0 && h.damaged == 0 {
        return Err(HuntError::Unreadable {
            file: file.to_string(),
            why: "no packet in it".into(),
        });
    }
    let mut summary = h.summary(InputKind::Capture, frames);
    summary.flows = flows;
    if let Some(a) = anomalies {
        summary.findings = a.findings(file);
    }
    Ok(summary)
}

/// The hits of a packet's DNS message or TLS ClientHello.
fn application(h: &mut Hunter<'_>, at: (At, Option<i64>), p: &Packet<'_>, dns: bool, tls: bool) {
    match p.app() {
        App::Dns(d) if dns => {
            if let Some(q) = d.qname.as_deref() {
                let context = || format!("{} query {q}", flow_of(p));
                h.each(at, Field::DnsQuery, q, |ix, f| ix.domain(q, f), &context);
            }
            if d.ancount > 0 || d.nscount > 0 || d.arcount > 0 {
                let message = match p.transport {
                    Transport::Tcp(_) if p.payload.len() > 2 => &p.payload[2..],
                    _ => p.payload,
                };
                for a in levee_decode::app::dns::records(message) {
                    let context = || {
                        let data = match &a.data {
                            AnswerData::Address(ip) => ip.to_string(),
                            AnswerData::Name(n) => n.clone(),
                        };
                        let t = levee_decode::app::dns::type_name(a.rtype).unwrap_or("?");
                        format!("{} answer {} {t} {data}", flow_of(p), a.name)
                    };
                    h.each(
                        at,
                        Field::DnsAnswerName,
                        &a.name,
                        |ix, f| ix.domain(&a.name, f),
                        &context,
                    );
                    match &a.data {
                        AnswerData::Address(ip) => {
                            h.address(at, Field::DnsAnswerAddress, *ip, &context)
                        }
                        AnswerData::Name(n) => h.each(
                            at,
                            Field::DnsAnswerName,
                            n,
                            |ix, f| ix.domain(n, f),
                            &context,
                        ),
                    }
                }
            }
        }
        App::TlsClientHello(hello) if tls => {
            let context = || {
                format!(
                    "{} ClientHello sni {} ja3 {} ja4 {}",
                    flow_of(p),
                    hello.sni.as_deref().unwrap_or("-"),
                    hello.ja3_hash,
                    hello.ja4
                )
            };
            if let Some(sni) = hello.sni.as_deref() {
                let sni = sni.to_ascii_lowercase();
                h.each(
                    at,
                    Field::TlsSni,
                    &sni,
                    |ix, f| {
                        ix.domain(&sni, &mut *f);
                        ix.sni(&sni, f);
                    },
                    &context,
                );
            }
            h.each(
                at,
                Field::TlsJa3,
                &hello.ja3_hash,
                |ix, f| ix.ja3(&hello.ja3_hash, f),
                &context,
            );
            h.each(
                at,
                Field::TlsJa4,
                &hello.ja4,
                |ix, f| ix.ja4(&hello.ja4, f),
                &context,
            );
        }
        _ => {}
    }
}

/// The hits of the requests the extractor has ready; the connections of those with hits go
/// to `flows`, when kept, and every request to the anomalies, when looked for.
fn requests(
    h: &mut Hunter<'_>,
    x: &mut HttpExtractor,
    mut flows: Option<&mut Flows>,
    mut anomalies: Option<&mut Anomalies>,
) {
    for l in x.drain_located() {
        let r = &l.request;
        if let Some(a) = anomalies.as_deref_mut() {
            a.request(r.ts.unwrap_or(0), l.client.ip(), Some(l.server), r);
        }
        let before = h.hits;
        let context = || format!("tcp {} -> {} {}", l.client, l.server, request_line(r));
        request_hits(h, (At::Frame(l.frame), r.ts), r, None, &context);
        if let (Some(flows), true) = (flows.as_deref_mut(), h.hits > before) {
            let (c, s) = (l.client, l.server);
            flows.insert(FlowKey::new(6, (c.ip(), c.port()), (s.ip(), s.port())));
        }
    }
    for b in x.drain_bodies() {
        let before = h.hits;
        for f in &b.hashes {
            let context = || {
                format!(
                    "tcp {} -> {} {} body, {} bytes{}",
                    b.client,
                    b.server,
                    if b.response { "response" } else { "request" },
                    f.len,
                    if f.decoded { " decoded" } else { "" }
                )
            };
            let at = (At::Frame(b.frame), Some(b.ts));
            for (field, hash) in [
                (Field::HttpBodyMd5, &f.md5),
                (Field::HttpBodySha1, &f.sha1),
                (Field::HttpBodySha256, &f.sha256),
            ] {
                h.each(
                    at,
                    field,
                    hash,
                    |ix, each| ix.file_hash(hash, each),
                    &context,
                );
            }
        }
        if let (Some(flows), true) = (flows.as_deref_mut(), h.hits > before) {
            let (c, s) = (b.client, b.server);
            flows.insert(FlowKey::new(6, (c.ip(), c.port()), (s.ip(), s.port())));
        }
    }
}

/// A packet's flow in one line: `udp 192.0.2.1:53 -> 198.51.100.7:40000`.
fn flow_of(p: &Packet<'_>) -> String {
    let Some(ip) = p.ip.as_ref() else {
        return String::new();
    };
    let proto = levee_analyze::summary::proto_name(ip.proto);
    match p.ports() {
        Some((sp, dp)) => format!(
            "{proto} {} -> {}",
            std::net::SocketAddr::new(ip.src, sp),
            std::net::SocketAddr::new(ip.dst, dp)
        ),
        None => format!("{proto} {} -> {}", ip.src, ip.dst),
    }
}
