//! `levee hunt --anomalies` beyond beaconing: DNS tunnels, generated names and an upload
//! planted in levee's benign traffic and real captures are each the top finding of their
//! kind, with the figures tshark counts in the same capture; flow records beacon and spike
//! as packets do; the user agents a real access log's hosts alone present are the ones a
//! plain reading of the log finds.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use common::{levee, shared, write_pcap};
use serde_json::Value;

/// The findings `levee hunt --anomalies --min-score 0` prints as JSON lines for `inputs`.
fn findings(inputs: &[&Path]) -> Vec<Value> {
    let out = levee()
        .args(["hunt", "--anomalies", "--json", "--min-score", "0"])
        .args(inputs)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|f| f["type"] == "finding")
        .collect()
}

/// The findings of `kind`, best first (as printed).
fn of_kind<'a>(all: &'a [Value], kind: &str) -> Vec<&'a Value> {
    all.iter().filter(|f| f["kind"] == kind).collect()
}

fn score(f: &Value) -> u64 {
    f["score"].as_u64().unwrap()
}

/// Ethernet, IPv4 and UDP or TCP (`proto` 17 or 6) around `payload`; the IP length says
/// `ip_len` when given (a frame captured short of its length), else what follows.
fn frame(
    from: [u8; 4],
    to: [u8; 4],
    proto: u8,
    ports: (u16, u16),
    payload: &[u8],
    ip_len: Option<u16>,
) -> Vec<u8> {
    let header = if proto == 6 { 20 } else { 8 };
    let total = ip_len.unwrap_or((20 + header + payload.len()) as u16);
    let mut f = vec![0u8; 12];
    f.extend([0x08, 0x00, 0x45, 0]);
    f.extend(total.to_be_bytes());
    f.extend([0, 0, 0x40, 0, 64, proto, 0, 0]);
    f.extend(from);
    f.extend(to);
    f.extend(ports.0.to_be_bytes());
    f.extend(ports.1.to_be_bytes());
    if proto == 6 {
        f.extend([0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
    } else {
        f.extend(((8 + payload.len()) as u16).to_be_bytes());
        f.extend([0, 0]);
    }
    f.extend(payload);
    f
}

/// A DNS message of one question (and, answered, no record: `rcode` says how it went).
fn dns(id: u16, response: bool, rcode: u8, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend([
        if response { 0x81 } else { 0x01 },
        if response { 0x80 | rcode } else { 0 },
    ]);
    m.extend([0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend(label.bytes());
    }
    m.extend([0]);
    m.extend(qtype.to_be_bytes());
    m.extend([0, 1]);
    m
}

/// `len` characters of base32, as a tunnel's encoder writes them, from `seed`.
fn base32(seed: u64, len: usize) -> String {
    let alphabet = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            alphabet[(x % 32) as usize] as char
        })
        .collect()
}

/// What is planted, from `start_ms`: a DNS tunnel (10.1.2.4, NULL questions of base32 below
/// `t.tunnel-example.net`, answered), a client of a domain generation algorithm (10.1.2.5,
/// 80 random names answered NXDOMAIN), a person resolving sites (10.1.2.7, some typos among
/// them), and a host (10.1.2.6) sending 2 KB every 10 s for twenty minutes, then 200 MB in
/// one minute to 198.51.100.200 (frames captured short of their 9,000 bytes).
fn planted(start_ms: u64) -> Vec<(u64, u32, Vec<u8>)> {
    let resolver = [10, 1, 2, 1];
    let mut frames = Vec::new();
    let udp = |ms: u64, from, to, ports, payload: &[u8]| {
        let f = frame(from, to, 17, ports, payload, None);
        (ms, f.len() as u32, f)
    };
    for i in 0..300u64 {
        let ms = start_ms + 60_000 + i * 1_000;
        let name = format!(
            "{}.{}.{}.t.tunnel-example.net",
            base32(i, 63),
            base32(i + 1_000, 63),
            base32(i + 2_000, 40)
        );
        let id = i as u16;
        frames.push(udp(
            ms,
            [10, 1, 2, 4],
            resolver,
            (40001, 53),
            &dns(id, false, 0, &name, 10),
        ));
        frames.push(udp(
            ms + 20,
            resolver,
            [10, 1, 2, 4],
            (53, 40001),
            &dns(id, true, 0, &name, 10),
        ));
    }
    for i in 0..80u64 {
        let ms = start_ms + 120_000 + i * 3_000;
        let tld = ["com", "net", "org", "info"][i as usize % 4];
        let name = format!(
            "{}.{tld}",
            base32(i * 7, 10 + i as usize % 6).replace(char::is_numeric, "q")
        );
        let id = 1000 + i as u16;
        frames.push(udp(
            ms,
            [10, 1, 2, 5],
            resolver,
            (40002, 53),
            &dns(id, false, 0, &name, 1),
        ));
        frames.push(udp(
            ms + 15,
            resolver,
            [10, 1, 2, 5],
            (53, 40002),
            &dns(id, true, 3, &name, 1),
        ));
    }
    let sites = [
        "www.wikipedia.org",
        "mail.example.com",
        "gogle.com",
        "news.ycombinator.com",
        "exmaple.net",
        "cdn.jsdelivr.net",
    ];
    for i in 0..120u64 {
        let ms = start_ms + 30_000 + i * 7_000 + (i * i * 37) % 5_000;
        let name = sites[i as usize % sites.len()];
        let rcode = if name.contains("gogle") || name.contains("exmaple") {
            3
        } else {
            0
        };
        let id = 3000 + i as u16;
        frames.push(udp(
            ms,
            [10, 1, 2, 7],
            resolver,
            (40003, 53),
            &dns(id, false, 0, name, 1),
        ));
        frames.push(udp(
            ms + 12,
            resolver,
            [10, 1, 2, 7],
            (53, 40003),
            &dns(id, true, rcode, name, 1),
        ));
    }
    for i in 0..120u64 {
        let f = frame(
            [10, 1, 2, 6],
            [93, 184, 216, 34],
            6,
            (50000, 443),
            &[0x17; 20],
            Some(2_000),
        );
        frames.push((start_ms + i * 10_000, 2_014, f));
    }
    let upload_ms = start_ms + 21 * 60_000 + 5_000;
    for i in 0..22_222u64 {
        let f = frame(
            [10, 1, 2, 6],
            [198, 51, 100, 200],
            6,
            (50001, 443),
            &[0x17; 20],
            Some(8_986),
        );
        frames.push((upload_ms + i * 2, 9_000, f));
    }
    frames.sort_by_key(|f| f.0);
    frames
}

/// Frames tshark's display `filter` selects in `capture`.
fn tshark_count(capture: &Path, filter: &str) -> usize {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(capture)
        .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().lines().count()
}

/// A DNS tunnel, a generation algorithm and an upload planted in half an hour of levee's
/// benign traffic (with its own DNS) and in real captures (TrickBot's, one of DNS, the dns2tcp
/// tunnel's): each is the top finding of its kind, with the counts tshark gives, and nothing
/// else of those kinds reaches the default score.
#[test]
#[cfg_attr(
    not(all(levee_shared_data, levee_has_mergecap, levee_has_tshark)),
    ignore = "needs ../shared/data, mergecap and tshark (wireshark-common, tshark)"
)]
fn a_dns_tunnel_generated_names_and_an_upload_planted_in_real_traffic_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let browsing = dir.path().join("browsing.pcap");
    let out = levee()
        .args([
            "synth",
            "--scenario",
            "benign",
            "--packets",
            "36000",
            "--benign-pps",
            "20",
            "--out",
        ])
        .arg(&browsing)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let plant = dir.path().join("planted.pcap");
    // 2026-01-15T12:00:00Z, when the browsing starts.
    write_pcap(&plant, &planted(1_768_478_400_000));
    let merged = dir.path().join("merged.pcapng");
    let status = Command::new("mergecap")
        .arg("-w")
        .arg(&merged)
        .arg(&browsing)
        .arg(&plant)
        .arg(shared("ir/trickbot.pcap"))
        .arg(shared("ir/dns2tcp_tunnel.pcap"))
        .arg(shared("tcpdump-tests/edns-opts.pcap"))
        .status()
        .unwrap();
    assert!(status.success());
    let all = findings(&[&merged]);

    let tunnels = of_kind(&all, "dns-tunnel");
    let top = tunnels[0];
    assert_eq!(
        top["subject"], "10.1.2.4 -> *.tunnel-example.net",
        "{tunnels:?}"
    );
    assert!(score(top) >= 90, "{top}");
    let questions = tshark_count(
        &merged,
        "ip.src == 10.1.2.4 && dns.flags.response == 0 && dns.qry.name contains \"tunnel-example.net\"",
    );
    assert_eq!(questions, 300);
    let evidence = top["evidence"].as_str().unwrap();
    assert!(
        evidence.starts_with(&format!("{questions} questions below tunnel-example.net")),
        "{top}"
    );
    assert!(evidence.contains("100 % TXT/NULL/KEY/private"), "{top}");
    assert!(tunnels[1..].iter().all(|f| score(f) < 50), "{tunnels:?}");

    let generated = of_kind(&all, "generated-names");
    assert_eq!(generated[0]["subject"], "10.1.2.5", "{generated:?}");
    assert!(score(generated[0]) >= 80, "{generated:?}");
    let nx = tshark_count(&merged, "ip.dst == 10.1.2.5 && dns.flags.rcode == 3");
    assert!(
        generated[0]["evidence"]
            .as_str()
            .unwrap()
            .contains(&format!("({nx} of {nx} answers, 100 %)")),
        "{generated:?}"
    );
    // The person's typos are no generated names.
    assert!(
        generated[1..].iter().all(|f| score(f) < 50),
        "{generated:?}"
    );

    let volume = of_kind(&all, "outbound-volume");
    let top = volume[0];
    assert_eq!(top["subject"], "10.1.2.6 -> outside", "{volume:?}");
    assert!(
        top["evidence"]
            .as_str()
            .unwrap()
            .starts_with("200.0 MB out in one minute"),
        "{top}"
    );
    assert!(
        top["evidence"]
            .as_str()
            .unwrap()
            .contains("198.51.100.200 (200.0 MB)"),
        "{top}"
    );
    assert!(score(top) >= 60, "{top}");
    assert!(volume[1..].iter().all(|f| score(f) < 50), "{volume:?}");

    // The real tunnel and malware are still found beside what was planted.
    assert!(of_kind(&all, "encrypted-dns")
        .iter()
        .any(|f| f["subject"] == "192.168.20.211 -> 1.1.1.1:443/tcp"));
    assert!(of_kind(&all, "c2-like-http")
        .iter()
        .any(|f| f["subject"] == "10.12.29.101 -> 82.118.225.196:7080/tcp"));
}

/// goflow2's JSON line of one flow record.
fn goflow(
    start_ms: u64,
    end_ms: u64,
    src: &str,
    dst: &str,
    ports: (u16, u16),
    bytes: u64,
) -> String {
    format!(
        r#"{{"type":"IPFIX","time_received_ns":{},"sampling_rate":1,"sampler_address":"192.0.2.1","time_flow_start_ns":{},"time_flow_end_ns":{},"bytes":{bytes},"packets":{},"src_addr":"{src}","dst_addr":"{dst}","etype":"IPv4","proto":"TCP","src_port":{},"dst_port":{},"tcp_flags":27}}"#,
        (end_ms + 1_000) * 1_000_000,
        start_ms * 1_000_000,
        end_ms * 1_000_000,
        bytes / 500 + 1,
        ports.0,
        ports.1
    )
}

/// Flow records beacon and spike as packets do: an implant's connection every 90 s ± 5 s for
/// 45 minutes, long connections exported every minute by their active timeout (no beacon),
/// people's connections at random, and a host uploading 500 MB in a minute after half an
/// hour of 1 MB minutes.
#[test]
fn flow_records_beacon_and_spike_as_packets_do() {
    let dir = tempfile::tempdir().unwrap();
    let start = 1_768_478_400_000u64;
    let mut lines = Vec::new();
    let mut x = 99u64;
    let mut rand = |n: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % n
    };
    for i in 0..30u64 {
        let at = start + i * 90_000 + rand(10_000);
        lines.push((
            at + 800,
            goflow(
                at,
                at + 800,
                "10.2.0.9",
                "203.0.113.50",
                (50000 + i as u16, 8443),
                4_000,
            ),
        ));
    }
    for i in 0..45u64 {
        let at = start + i * 60_000;
        lines.push((
            at + 59_000,
            goflow(
                at,
                at + 59_000,
                "10.2.0.10",
                "198.51.100.20",
                (41000, 443),
                30_000,
            ),
        ));
        lines.push((
            at + 59_000,
            goflow(
                at,
                at + 59_000,
                "10.2.0.11",
                "192.0.2.80",
                (42000, 443),
                1_000_000,
            ),
        ));
        let people = start + rand(45 * 60_000);
        lines.push((
            people + 3_000,
            goflow(
                people,
                people + 3_000,
                "10.2.0.12",
                "198.51.100.99",
                (43000 + i as u16, 443),
                20_000,
            ),
        ));
    }
    let upload = start + 35 * 60_000 + 1_000;
    lines.push((
        upload + 50_000,
        goflow(
            upload,
            upload + 50_000,
            "10.2.0.11",
            "203.0.113.77",
            (44000, 443),
            500_000_000,
        ),
    ));
    // Exporters send records as flows end.
    lines.sort_by_key(|(at, l)| (*at, l.clone()));
    let path = dir.path().join("flows.json");
    std::fs::write(
        &path,
        lines.into_iter().map(|(_, l)| l + "\n").collect::<String>(),
    )
    .unwrap();
    let all = findings(&[&path]);
    let beacons = of_kind(&all, "beaconing");
    assert_eq!(
        beacons[0]["subject"], "10.2.0.9 -> 203.0.113.50:8443/tcp",
        "{beacons:?}"
    );
    assert!(score(beacons[0]) >= 80, "{beacons:?}");
    assert!(
        beacons[0]["evidence"]
            .as_str()
            .unwrap()
            .starts_with("30 contacts"),
        "{beacons:?}"
    );
    assert!(beacons[1..].iter().all(|f| score(f) < 50), "{beacons:?}");
    let volume = of_kind(&all, "outbound-volume");
    assert_eq!(volume.len(), 1, "{volume:?}");
    assert_eq!(volume[0]["subject"], "10.2.0.11 -> outside");
    // 500 MB against a baseline of 1 MB a minute: 30 × log10(500) = 81.
    assert_eq!(score(volume[0]), 81, "{volume:?}");
}

/// The user agents of a real site's access log that one client alone presents are a lead
/// each (at most 45), and they are exactly those a plain reading of the log finds, with their
/// uses; `levee hunt` exits 0 with findings and no indicator file.
#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn the_user_agents_one_client_alone_presents_are_the_ones_the_log_shows() {
    let log = shared("logs/real-site/apache_logs.part1");
    let mut clients: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut uses: BTreeMap<String, usize> = BTreeMap::new();
    let mut hosts = BTreeSet::new();
    for line in std::fs::read_to_string(&log).unwrap().lines() {
        let quoted: Vec<&str> = line.split('"').collect();
        let (Some(client), Some(ua)) = (line.split(' ').next(), quoted.get(5)) else {
            continue;
        };
        if ua.is_empty() || *ua == "-" {
            continue;
        }
        hosts.insert(client.to_string());
        clients
            .entry(ua.to_string())
            .or_default()
            .insert(client.to_string());
        *uses.entry(ua.to_string()).or_default() += 1;
    }
    let expected: BTreeMap<String, (String, usize)> = clients
        .iter()
        .filter(|(_, c)| c.len() == 1)
        .map(|(ua, c)| (ua.clone(), (c.iter().next().unwrap().clone(), uses[ua])))
        .collect();
    assert!(
        expected.len() > 50 && expected.len() < 1_000,
        "{}",
        expected.len()
    );
    let all = findings(&[&log]);
    let rare = of_kind(&all, "rare-fingerprint");
    let mut found = BTreeMap::new();
    for f in &rare {
        let subject = f["subject"].as_str().unwrap();
        let (client, ua) = subject.split_once(" user agent `").unwrap();
        let ua = ua.strip_suffix('`').unwrap();
        let n: usize = f["evidence"]
            .as_str()
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            f["evidence"]
                .as_str()
                .unwrap()
                .ends_with(&format!("of {} hosts presenting a user agent", hosts.len())),
            "{f}"
        );
        assert!((20..=45).contains(&score(f)), "{f}");
        found.insert(ua.to_string(), (client.to_string(), n));
    }
    assert_eq!(found, expected);
}
