//! Alerts reach a local webhook receiver (which refuses the first delivery: the alert is
//! retried) and local syslog listeners over UDP and TCP, in the order the incident changed,
//! each carrying its incident.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use levee_analyze::AnalyzeConfig;
use levee_capture::{CaptureReader, Item};
use levee_incidents::Store;
use levee_monitor::{AlertSink, Monitor, MonitorConfig, Quiet, Syslog, Webhook};
use serde_json::Value;

const T0: i64 = 1_768_478_400_000_000_000;

/// Feeds a synthetic SYN flood to a monitor with `sinks`; returns the number of alerts.
fn run_flood(sinks: Vec<Box<dyn AlertSink>>) -> levee_monitor::MonitorStats {
    let cfg = levee_synth::SynthConfig {
        scenario: levee_synth::Scenario::parse("syn-flood").unwrap(),
        packets: 60_000,
        start_ns: T0,
        ..Default::default()
    };
    let mut pcap = Vec::new();
    levee_synth::generate(&cfg, &mut pcap, std::io::sink()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("incidents.db")).unwrap();
    let mut quiet = Quiet;
    // One decision a second: the flood is a start, one escalation and an end.
    let mut config = MonitorConfig::new(AnalyzeConfig::default());
    config.decide_every_ns = 1_000_000_000;
    let mut m = Monitor::new(config, store, sinks, &mut quiet).unwrap();
    let mut reader = CaptureReader::from_bytes("flood", pcap).unwrap();
    while let Some(item) = reader.next_item() {
        if let Item::Frame(f) = item {
            m.feed(f.ts_nanos, f.linktype, f.data, f.orig_len).unwrap();
        }
    }
    m.finish().unwrap()
}

/// A webhook receiver on loopback: answers 503 to the first request, 200 to the others, and
/// keeps (headers, body) of each.
/// The requests a receiver took: (head, body) each.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

fn receiver() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/alerts", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&seen);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut reader = BufReader::new(conn);
            // Requests on the connection until it closes.
            loop {
                let mut head = String::new();
                let mut line = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                if head.is_empty() {
                    break;
                }
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let first = {
                    let mut k = kept.lock().unwrap();
                    k.push((head, body));
                    k.len() == 1
                };
                let reply: &[u8] = if first {
                    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"
                } else {
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
                };
                reader.get_mut().write_all(reply).unwrap();
            }
        }
    });
    (url, seen)
}

#[test]
fn alerts_reach_a_webhook_with_retries_and_syslog_over_udp_and_tcp() {
    let (url, posted) = receiver();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    let tcp_text = Arc::new(Mutex::new(String::new()));
    let tcp_kept = Arc::clone(&tcp_text);
    std::thread::spawn(move || {
        if let Ok((mut conn, _)) = tcp.accept() {
            let mut all = String::new();
            let _ = conn.read_to_string(&mut all);
            *tcp_kept.lock().unwrap() = all;
        }
    });
    let sinks: Vec<Box<dyn AlertSink>> = vec![
        Box::new(Webhook::new(&url).unwrap()),
        Box::new(Syslog::new(&format!("udp://{}", udp.local_addr().unwrap())).unwrap()),
        Box::new(Syslog::new(&format!("tcp://{tcp_addr}")).unwrap()),
    ];
    let stats = run_flood(sinks);
    assert_eq!(stats.alerts, 3, "{stats:?}");
    assert_eq!(stats.alert_failures, 0, "{stats:?}");

    // The webhook: the first delivery refused and retried, then every alert in order.
    let posted = posted.lock().unwrap().clone();
    assert_eq!(posted.len(), 4, "{posted:?}");
    assert_eq!(posted[0].1, posted[1].1, "the refused alert is sent again");
    let bodies: Vec<Value> = posted[1..]
        .iter()
        .map(|(_, b)| serde_json::from_slice(b).unwrap())
        .collect();
    let kinds: Vec<&str> = bodies
        .iter()
        .map(|b| b["alert"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["start", "escalation", "end"]);
    assert!(bodies
        .iter()
        .all(|b| b["incident"]["id"] == 1 && b["incident"]["vector"] == "syn-flood"));
    let head = posted[1].0.to_ascii_lowercase();
    assert!(head.starts_with("post /alerts http/1.1"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    assert!(head.contains("x-levee-incident: 1"), "{head}");
    assert!(head.contains("idempotency-key: 1:start:"), "{head}");

    // Syslog over UDP: one RFC 5424 message an alert.
    let mut messages = Vec::new();
    let mut buf = [0u8; 65536];
    for _ in 0..3 {
        let (n, _) = udp.recv_from(&mut buf).unwrap();
        messages.push(String::from_utf8(buf[..n].to_vec()).unwrap());
    }
    assert!(messages[0].starts_with("<25>1 "), "{}", messages[0]);
    // PRI and version, timestamp, host, app, process id, message id, then structured data
    // and text.
    let fields: Vec<&str> = messages[0].splitn(7, ' ').collect();
    assert_eq!(fields[3], "levee", "{fields:?}");
    assert_eq!(fields[4], std::process::id().to_string());
    assert_eq!(fields[5], "start");
    assert!(
        fields[6].starts_with(
            "[levee@32473 incident=\"1\" alert=\"start\" resumed=\"false\" vector=\"syn-flood\" target=\"10.10.10.10\""
        ),
        "{fields:?}"
    );
    assert!(
        fields[6].contains("] incident 1: syn-flood on 10.10.10.10 started, peak "),
        "{fields:?}"
    );
    assert!(
        messages[1].contains(" escalation [levee@32473"),
        "{}",
        messages[1]
    );
    assert!(
        messages[2].starts_with("<29>1 ") && messages[2].contains(" end [levee@32473"),
        "{}",
        messages[2]
    );

    // Syslog over TCP: the same messages, framed by their length (RFC 6587).
    std::thread::sleep(Duration::from_millis(200));
    let stream = tcp_text.lock().unwrap().clone();
    let mut rest = stream.as_str();
    let mut framed = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = rest.split_once(' ').unwrap();
        let len: usize = len.parse().unwrap();
        framed.push(&tail[..len]);
        rest = &tail[len..];
    }
    assert_eq!(framed.len(), 3, "{stream}");
    // The same message but for the wall-clock time each was formatted at.
    for (u, t) in messages.iter().zip(&framed) {
        assert_eq!(u.split_once(' ').unwrap().0, t.split_once(' ').unwrap().0);
        assert_eq!(u.splitn(3, ' ').nth(2), t.splitn(3, ' ').nth(2));
    }
}

#[test]
fn a_webhook_nobody_answers_is_counted_and_detection_goes_on() {
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sinks: Vec<Box<dyn AlertSink>> = vec![Box::new(
        Webhook::new(&format!("http://127.0.0.1:{port}/")).unwrap(),
    )];
    let stats = run_flood(sinks);
    assert_eq!(stats.alerts, 3, "{stats:?}");
    assert_eq!(stats.alert_failures, 3, "{stats:?}");
    assert!(Webhook::new("ftp://x").is_err());
    assert!(Syslog::new("udp:/x").is_err());
    assert!(Syslog::new("smtp://127.0.0.1:25").is_err());
}
