//! The synthetic shop written as a log and as a capture from the same seed: every request of
//! the log comes out of the capture's reassembly, with its client, method, target, user agent,
//! referer and status, although the capture splits requests over segments, reorders and
//! retransmits them, pipelines them and chunks responses.

use std::collections::BTreeMap;

use levee_capture::{CaptureReader, Item};
use levee_stream::{HttpExtractor, StreamConfig};
use levee_synth::http::{generate_http, HttpConfig, HTTP_ATTACKS};

type Key = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<u16>,
);

fn config(seed: u64) -> HttpConfig {
    HttpConfig {
        attacks: HTTP_ATTACKS.iter().map(|s| s.to_string()).collect(),
        seed,
        duration_s: 300.0,
        ..Default::default()
    }
}

fn from_log(cfg: &HttpConfig) -> BTreeMap<Key, u32> {
    let mut log = Vec::new();
    generate_http(cfg, &mut log, std::io::sink()).unwrap();
    let mut times = levee_logs::time::TimeCache::default();
    let mut out = BTreeMap::new();
    for line in std::str::from_utf8(&log).unwrap().lines() {
        let (r, _) = levee_logs::clf::parse(line, &mut times).unwrap();
        *out.entry(key(&r)).or_insert(0) += 1;
    }
    out
}

fn key(r: &levee_logs::Request<'_>) -> Key {
    (
        r.client.to_string(),
        r.method.to_string(),
        r.target.to_string(),
        r.user_agent.as_deref().map(str::to_string),
        r.referer.as_deref().map(str::to_string),
        r.status,
    )
}

/// Requests reassembled from the capture, and the extractor's counters.
fn from_capture(
    cfg: &HttpConfig,
    slowloris: bool,
) -> (Vec<levee_logs::Request<'static>>, levee_stream::StreamStats) {
    let mut pcap = Vec::new();
    levee_synth::http_capture::generate_http_capture(cfg, slowloris, &mut pcap, std::io::sink())
        .unwrap();
    let mut reader = CaptureReader::from_bytes("shop.pcap", pcap).unwrap();
    let mut x = HttpExtractor::new(StreamConfig::default());
    let mut out = Vec::new();
    let mut last = i64::MIN;
    while let Some(item) = reader.next_item() {
        let Item::Frame(f) = item else {
            panic!("damaged record")
        };
        assert!(f.ts_nanos >= last, "the capture is in time order");
        last = f.ts_nanos;
        let p = levee_decode::decode(f.linktype, f.data, f.orig_len);
        x.add(f.ts_nanos, &p);
        out.extend(x.drain());
    }
    x.finish();
    out.extend(x.drain());
    (out, x.stats().clone())
}

#[test]
fn every_request_of_the_log_comes_out_of_the_capture() {
    for seed in [3, 11] {
        let cfg = config(seed);
        let want = from_log(&cfg);
        let (got, stats) = from_capture(&cfg, false);
        let mut have: BTreeMap<Key, u32> = BTreeMap::new();
        for r in &got {
            *have.entry(key(r)).or_insert(0) += 1;
        }
        let missing: Vec<_> = want
            .iter()
            .filter(|(k, n)| have.get(*k) != Some(n))
            .take(5)
            .collect();
        let extra: Vec<_> = have
            .iter()
            .filter(|(k, n)| want.get(*k) != Some(n))
            .take(5)
            .collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "seed {seed}: missing {missing:?}\nextra {extra:?}\n{stats:?}"
        );
        assert_eq!(stats.requests, got.len() as u64);
        assert_eq!(
            stats.answered,
            got.len() as u64,
            "every request is answered"
        );
        assert_eq!(stats.gaps, 0);
        assert_eq!(stats.malformed, 0);
        assert_eq!(stats.incomplete_headers, 0);
        // Every client sent a TLS hello first, joined to each of its requests.
        let clients: std::collections::BTreeSet<&str> = want.keys().map(|k| k.0.as_str()).collect();
        assert_eq!(stats.tls_hellos, clients.len() as u64, "{stats:?}");
        assert!(got.iter().all(|r| r.ja4.is_some() && r.ja3.is_some()));
        // Requests come with the header names in the order sent: browsers' with Accept-Language,
        // the tools' without.
        assert!(got.iter().all(|r| r
            .header_names
            .as_deref()
            .is_some_and(|h| h.starts_with("Host,"))));
        let with_language = got
            .iter()
            .filter(|r| {
                r.header_names
                    .as_deref()
                    .is_some_and(|h| h.contains("Accept-Language"))
            })
            .count();
        assert!(
            with_language > 1000 && with_language < got.len() / 2,
            "{with_language}"
        );
    }
}

#[test]
fn slowloris_connections_come_out_as_unfinished_header_blocks() {
    let cfg = config(5);
    let (got, stats) = from_capture(&cfg, true);
    let slow: Vec<_> = got
        .iter()
        .filter(|r| r.header_incomplete_ns.is_some())
        .collect();
    let expected = (levee_synth::http_capture::SLOWLORIS_CLIENTS
        * levee_synth::http_capture::SLOWLORIS_CONNECTIONS) as usize;
    assert_eq!(slow.len(), expected, "{stats:?}");
    assert_eq!(stats.incomplete_headers, expected as u64);
    // Held from inside the attack's first 20 seconds to its end, a third of the capture.
    for r in &slow {
        let held = r.header_incomplete_ns.unwrap();
        assert!(
            (70_000_000_000..=100_000_000_000).contains(&held),
            "held {held} ns"
        );
        assert_eq!((&*r.method, &*r.target), ("GET", "/"));
        assert!(r.status.is_none());
    }
}

/// Random segments, half of them pieces of real requests and responses, never make the
/// reassembly panic, and what it holds stays within its bounds.
#[test]
fn random_segments_never_break_the_reassembly() {
    let pieces: [&[u8]; 6] = [
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /login HTTP/1.1\r\nContent-Length: 5\r\n\r\nab",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
        b"0\r\n\r\nHTTP/1.1 304 N\r\n\r\n",
        b"\r\nX-a: b\r\n",
        b"HEAD / HTTP/1.0\r\n\r\nGE",
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut found = 0u64;
    for _ in 0..2_000 {
        let mut data = Vec::new();
        for _ in 0..(next() % 60) {
            let r = next();
            let piece: Vec<u8> = if r % 2 == 0 {
                pieces[(r >> 8) as usize % pieces.len()].to_vec()
            } else {
                (0..(r >> 8) % 40)
                    .map(|i| (next() >> (i % 8)) as u8)
                    .collect()
            };
            data.extend([(r >> 16) as u8, (r >> 24) as u8, piece.len() as u8]);
            data.extend(piece);
        }
        let mut x = HttpExtractor::new(StreamConfig::default());
        let mut requests = 0u64;
        for (i, f) in levee_stream::fuzzing::segments(&data).enumerate() {
            let p = levee_decode::decode(1, &f, f.len() as u32);
            x.add(i as i64 * 1_000_000, &p);
            requests += x.drain().count() as u64;
        }
        x.finish();
        requests += x.drain().count() as u64;
        assert_eq!(x.stats().requests, requests);
        assert!(x.stats().connections <= 2 * 60);
        found += requests;
    }
    // The pieces of real messages do make requests now and then.
    assert!(found > 1_000, "{found}");
}

#[test]
fn each_request_is_located_on_its_connection_and_the_frame_that_completed_it() {
    let mut pcap = Vec::new();
    levee_synth::http_capture::generate_http_capture(
        &config(11),
        false,
        &mut pcap,
        std::io::sink(),
    )
    .unwrap();
    // Every frame's endpoints, by number from 1.
    let mut frames = vec![None];
    let mut reader = CaptureReader::from_bytes("shop.pcap", pcap.clone()).unwrap();
    while let Some(Item::Frame(f)) = reader.next_item() {
        let p = levee_decode::decode(f.linktype, f.data, f.orig_len);
        let ends = p.ip.as_ref().zip(p.ports()).map(|(ip, (sp, dp))| {
            (
                std::net::SocketAddr::new(ip.src, sp),
                std::net::SocketAddr::new(ip.dst, dp),
                !p.payload.is_empty(),
            )
        });
        frames.push(ends);
    }
    let mut reader = CaptureReader::from_bytes("shop.pcap", pcap).unwrap();
    let mut x = HttpExtractor::new(StreamConfig::default());
    let mut located = Vec::new();
    // Numbered from 1000, to tell a given number from a counted one.
    let mut number = 999;
    while let Some(Item::Frame(f)) = reader.next_item() {
        number += 1;
        let p = levee_decode::decode(f.linktype, f.data, f.orig_len);
        x.add_numbered(number, f.ts_nanos, &p);
        located.extend(x.drain_located());
    }
    x.finish();
    located.extend(x.drain_located());
    assert!(located.len() > 1000, "{} requests", located.len());
    for l in &located {
        assert_eq!(Some(l.client.ip()), l.request.ip);
        let frame = frames[(l.frame - 999) as usize];
        // The frame that completed the header block is the client's, with data.
        assert_eq!(frame, Some((l.client, l.server, true)), "{l:?}");
    }
}
