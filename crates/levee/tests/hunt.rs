//! `levee hunt` against tshark and grep on the same files: indicators taken from the real
//! captures, logs and flow exports of `../shared/data` (and from levee's synthetic traffic for
//! what the shared captures lack: DNS over TLS names, browsers' hellos), mixed with
//! indicators that occur nowhere. Every frame tshark's filter for an indicator finds (every
//! line grep finds) is a hit, and there is no other hit. The same indicators written as a
//! STIX 2.1 bundle and a MISP event give the same hits.
//!
//! HTTP requests are compared with tshark's `http.desegment_body` off: levee names the frame
//! that completed a request's header block, which is where tshark puts the request then.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{levee, shared};
use serde_json::Value;

/// Frames of `capture` that tshark's display `filter` selects (`decode`: extra `-d` rules).
fn tshark_frames(capture: &Path, filter: &str, decode: &[&str]) -> BTreeSet<u64> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-o", "http.desegment_body:FALSE", "-r"])
        .arg(capture);
    for d in decode {
        cmd.args(["-d", d]);
    }
    let out = cmd
        .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
        .output()
        .unwrap();
    assert!(out.status.success(), "tshark -Y {filter}: {out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

/// `levee hunt --json` of `inputs` with the indicator files `iocs`: its hits and exit code.
fn hunt(iocs: &[&Path], inputs: &[&Path]) -> (Vec<Value>, i32) {
    let mut cmd = levee();
    cmd.arg("hunt").arg("--json");
    for i in iocs {
        cmd.arg("--iocs").arg(i);
    }
    let out = cmd.args(inputs).output().unwrap();
    let hits = String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (hits, out.status.code().unwrap_or(-1))
}

/// The frames of `file` where levee hit the indicator whose value is `value`.
fn hit_frames(hits: &[Value], file: &Path, value: &str) -> BTreeSet<u64> {
    hits.iter()
        .filter(|h| h["file"] == file.display().to_string() && h["indicator"]["value"] == value)
        .map(|h| h["frame"].as_u64().unwrap())
        .collect()
}

/// A domain and its subdomains, as a tshark regex.
fn domain_re(d: &str) -> String {
    format!("(?i)(^|\\\\.){}$", d.replace('.', "\\\\."))
}

/// Everywhere tshark shows a name levee hunts a domain in.
fn domain_filter(d: &str) -> String {
    let re = domain_re(d);
    let host_re = format!("(?i)(^|\\\\.){}(:[0-9]+)?$", d.replace('.', "\\\\."));
    [
        "dns.qry.name",
        "dns.resp.name",
        "dns.cname",
        "dns.ns",
        "dns.mx.mail_exchange",
        "dns.ptr.domain_name",
        "dns.srv.target",
        "tls.handshake.extensions_server_name",
    ]
    .iter()
    .map(|f| format!("{f} matches \"{re}\""))
    .chain([format!("http.host matches \"{host_re}\"")])
    .collect::<Vec<_>>()
    .join(" or ")
}

/// Everywhere tshark shows an address levee hunts one in: the packet's own addresses (not
/// those an ICMP error quotes) and DNS answers.
fn address_filter(a: &str) -> String {
    if a.contains(':') {
        format!("ipv6.src#1 == {a} or ipv6.dst#1 == {a} or dns.aaaa == {a}")
    } else {
        format!("ip.src#1 == {a} or ip.dst#1 == {a} or dns.a == {a}")
    }
}

const TRICKBOT_UA: &str =
    "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 10.0; WOW64; Trident/7.0; .NET4.0C; .NET4.0E)";
const FIREFOX_UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// (the indicator as the list writes it, its value as levee reports it, the tshark filter
/// for where it occurs).
fn cases() -> Vec<(String, String, String)> {
    let mut c: Vec<(String, String, String)> = Vec::new();
    let mut add = |written: &str, value: &str, filter: String| {
        c.push((written.to_string(), value.to_string(), filter))
    };
    // TrickBot's command and control, defanged as reports write it.
    add(
        "82.118.225[.]196",
        "82.118.225.196",
        address_filter("82.118.225.196"),
    );
    add(
        &format!("ua:{TRICKBOT_UA}"),
        TRICKBOT_UA,
        format!("http.user_agent == \"{TRICKBOT_UA}\""),
    );
    add(
        "/OK21pqJAtyyGBEo00sk",
        "/OK21pqJAtyyGBEo00sk",
        "http.request.uri == \"/OK21pqJAtyyGBEo00sk\"".into(),
    );
    add(
        "hxxp://82.118.225.196:7080/OK21pqJAtyyGBEo00sk",
        "82.118.225.196/OK21pqJAtyyGBEo00sk",
        "http.request.full_uri == \"http://82.118.225.196:7080/OK21pqJAtyyGBEo00sk\" or http.referer == \"http://82.118.225.196/OK21pqJAtyyGBEo00sk\"".into(),
    );
    // The DNS-over-TLS client's fingerprint and resolver.
    add(
        "ja3:547df21d727c7b3a5dcb59aa0fd97c2c",
        "547df21d727c7b3a5dcb59aa0fd97c2c",
        "tls.handshake.ja3 == \"547df21d727c7b3a5dcb59aa0fd97c2c\"".into(),
    );
    add("1.1.1.1", "1.1.1.1", address_filter("1.1.1.1"));
    // tcpdump's DNS test captures: names in questions, answers and other sections, and an
    // address an answer gives.
    add("tcpdump.org", "tcpdump.org", domain_filter("tcpdump.org"));
    add(
        "nic.sandelman.ca",
        "nic.sandelman.ca",
        domain_filter("nic.sandelman.ca"),
    );
    add(
        "192.139.46.66",
        "192.139.46.66",
        address_filter("192.139.46.66"),
    );
    // levee's synthetic browsing: DNS, TLS and HTTP names, a hello's JA3, a browser.
    add("example.com", "example.com", domain_filter("example.com"));
    add(
        "sni:cdn.example.net",
        "cdn.example.net",
        "tls.handshake.extensions_server_name == \"cdn.example.net\"".into(),
    );
    add(
        "960a0869595ffe04011a14e807d15d0c",
        "960a0869595ffe04011a14e807d15d0c",
        "tls.handshake.ja3 == \"960a0869595ffe04011a14e807d15d0c\"".into(),
    );
    add(
        &format!("ua:{FIREFOX_UA}"),
        FIREFOX_UA,
        format!("http.user_agent == \"{FIREFOX_UA}\""),
    );
    // Nowhere.
    for (w, v) in [
        ("198.51.100.77", "198.51.100.77"),
        ("2001:db8::dead", "2001:db8::dead"),
        ("203.0.113.0/24", "203.0.113.0/24"),
        ("never-seen.example", "never-seen.example"),
        (
            "ja3:00000000000000000000000000000000",
            "00000000000000000000000000000000",
        ),
        ("ua:NoSuchAgent/1.0", "NoSuchAgent/1.0"),
        ("/no/such/path", "/no/such/path"),
    ] {
        add(w, v, "frame.number == 0".into());
    }
    c
}

fn captures(dir: &Path) -> Vec<PathBuf> {
    let benign = dir.join("benign.pcap");
    let out = levee()
        .args([
            "synth",
            "--scenario",
            "benign",
            "--packets",
            "4000",
            "--out",
        ])
        .arg(&benign)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    vec![
        shared("ir/trickbot.pcap"),
        shared("ir/dns2tcp_tunnel.pcap"),
        shared("tcpdump-tests/dns_udp.pcap"),
        shared("tcpdump-tests/dns_tcp.pcap"),
        shared("attacks/amp.UDP.isakmp.pcap"),
        benign,
    ]
}

#[test]
#[cfg_attr(
    not(all(levee_shared_data, levee_has_tshark)),
    ignore = "needs ../shared/data and tshark"
)]
fn every_occurrence_tshark_finds_is_a_hit_and_nothing_else_is() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = captures(dir.path());
    let cases = cases();
    let list = dir.path().join("iocs.txt");
    let text: Vec<&str> = cases.iter().map(|(w, _, _)| w.as_str()).collect();
    std::fs::write(
        &list,
        format!(
            "# from the captures, and from nowhere\n{}\n",
            text.join("\n")
        ),
    )
    .unwrap();
    let refs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let (hits, code) = hunt(&[&list], &refs);
    assert_eq!(code, 0, "hits were found");
    let mut found = 0;
    for input in &inputs {
        for (written, value, filter) in &cases {
            let theirs = tshark_frames(input, filter, &[]);
            let ours = hit_frames(&hits, input, value);
            assert_eq!(ours, theirs, "{written} in {}", input.display());
            found += ours.len();
        }
    }
    // Every hit is one of those compared: none for another indicator or file.
    let values: BTreeSet<&str> = cases.iter().map(|(_, v, _)| v.as_str()).collect();
    assert!(hits
        .iter()
        .all(|h| values.contains(h["indicator"]["value"].as_str().unwrap())));
    assert!(found > 500, "only {found} frames with hits");
    // Each hit names its source line, field, value seen and context.
    let h = hits
        .iter()
        .find(|h| h["field"] == "tls.handshake.ja3")
        .expect("a JA3 hit");
    assert!(
        h["indicator"]["source"]
            .as_str()
            .unwrap()
            .ends_with("iocs.txt:6"),
        "{h}"
    );
    assert!(
        h["context"].as_str().unwrap().contains("ClientHello"),
        "{h}"
    );
    assert!(h["time"].as_str().unwrap().starts_with("20"), "{h}");

    // Nothing to find: exit 5, no hit.
    let absent = dir.path().join("absent.txt");
    std::fs::write(&absent, "198.51.100.77\nnever-seen.example\n").unwrap();
    let (hits, code) = hunt(&[&absent], &refs);
    assert!(hits.is_empty());
    assert_eq!(code, 5);
}

/// The indicators of [`cases`] that STIX and MISP can say, in each: the same hits as the
/// plain list's, in the same frames and fields.
#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn stix_and_misp_files_match_as_the_plain_list_does() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = captures(dir.path());
    let refs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let plain = dir.path().join("iocs.txt");
    std::fs::write(
        &plain,
        format!(
            "82.118.225.196\nua:{TRICKBOT_UA}\n/OK21pqJAtyyGBEo00sk\nhttp://82.118.225.196:7080/OK21pqJAtyyGBEo00sk\n\
             tcpdump.org\n192.139.46.66\nexample.com\nja3:960a0869595ffe04011a14e807d15d0c\n198.51.100.77\n"
        ),
    )
    .unwrap();
    let indicator = |id: &str, pattern: &str| {
        serde_json::json!({
            "type": "indicator", "spec_version": "2.1", "id": format!("indicator--{id}"),
            "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z",
            "pattern_type": "stix", "valid_from": "2020-01-01T00:00:00Z", "pattern": pattern
        })
    };
    let ua_path = "network-traffic:extensions.'http-request-ext'";
    let stix = serde_json::json!({
        "type": "bundle", "id": "bundle--1",
        "objects": [
            indicator("1", "[ipv4-addr:value = '82.118.225.196']"),
            indicator("2", &format!("[{ua_path}.request_header.'User-Agent' = '{TRICKBOT_UA}']")),
            indicator("3", &format!("[{ua_path}.request_value = '/OK21pqJAtyyGBEo00sk']")),
            indicator("4", "[url:value = 'http://82.118.225.196:7080/OK21pqJAtyyGBEo00sk']"),
            indicator("5", "[domain-name:value = 'tcpdump.org'] OR [ipv4-addr:value = '192.139.46.66']"),
            indicator("6", "[domain-name:value = 'example.com']"),
            indicator("7", "[ipv4-addr:value IN ('198.51.100.77')]"),
        ]
    });
    let stix_file = dir.path().join("bundle.json");
    std::fs::write(&stix_file, stix.to_string()).unwrap();
    let attribute = |t: &str, v: &str| serde_json::json!({"type": t, "value": v, "to_ids": true});
    let misp = serde_json::json!({"Event": {"info": "test event", "Attribute": [
        attribute("ip-dst|port", "82.118.225.196|7080"),
        attribute("user-agent", TRICKBOT_UA),
        attribute("uri", "/OK21pqJAtyyGBEo00sk"),
        attribute("url", "http://82.118.225.196:7080/OK21pqJAtyyGBEo00sk"),
        attribute("domain|ip", "tcpdump.org|192.139.46.66"),
        attribute("hostname", "example.com"),
        attribute("ja3-fingerprint-md5", "960a0869595ffe04011a14e807d15d0c"),
        attribute("ip-src", "198.51.100.77"),
    ]}});
    let misp_file = dir.path().join("event.json");
    std::fs::write(&misp_file, misp.to_string()).unwrap();

    // (file, frame, field, kind, value) of every hit.
    type Key = (String, u64, String, String, String);
    let keys = |hits: &[Value]| -> BTreeMap<Key, usize> {
        let mut m = BTreeMap::new();
        for h in hits {
            let key = (
                h["file"].as_str().unwrap().to_string(),
                h["frame"].as_u64().unwrap(),
                h["field"].as_str().unwrap().to_string(),
                h["indicator"]["kind"].as_str().unwrap().to_string(),
                h["indicator"]["value"].as_str().unwrap().to_string(),
            );
            *m.entry(key).or_insert(0) += 1;
        }
        m
    };
    let (p, _) = hunt(&[&plain], &refs);
    let from_plain = keys(&p);
    assert!(from_plain.len() > 300, "{} hits", from_plain.len());
    let (s, code) = hunt(&[&stix_file], &refs);
    assert_eq!(code, 0);
    let from_stix = keys(&s);
    // STIX has no JA3: the plain list's JA3 hits are the only difference.
    let no_ja3: BTreeMap<Key, usize> = from_plain
        .iter()
        .filter(|(k, _)| k.3 != "ja3")
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(from_stix, no_ja3);
    let (m, code) = hunt(&[&misp_file], &refs);
    assert_eq!(code, 0);
    assert_eq!(keys(&m), from_plain);
    assert!(s.iter().all(|h| h["indicator"]["source"]
        .as_str()
        .unwrap()
        .contains("bundle.json indicator--")));
    assert!(m.iter().all(|h| h["indicator"]["label"] == "test event"));
}

/// A STIX indicator's validity: traffic outside it is not a hit, traffic inside it is.
#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn a_stix_indicator_matches_only_while_it_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let trickbot = shared("ir/trickbot.pcap");
    let bundle = |from: &str, until: Option<&str>| {
        let mut i = serde_json::json!({
            "type": "indicator", "id": "indicator--v", "pattern_type": "stix",
            "pattern": "[ipv4-addr:value = '82.118.225.196']", "valid_from": from
        });
        if let Some(u) = until {
            i["valid_until"] = Value::from(u);
        }
        let f = dir.path().join("v.json");
        std::fs::write(
            &f,
            serde_json::json!({"type": "bundle", "objects": [i]}).to_string(),
        )
        .unwrap();
        hunt(&[&f], &[&trickbot])
    };
    // Valid for ever: every frame of the address, with its time.
    let (all, _) = bundle("1970-01-01T00:00:00Z", None);
    let times: BTreeMap<u64, i64> = all
        .iter()
        .map(|h| {
            (
                h["frame"].as_u64().unwrap(),
                h["timestamp"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(times.len(), 74);
    let ns = |t: &str| t.parse::<jiff::Timestamp>().unwrap().as_nanosecond() as i64;
    // The capture runs from 18:21:47.55 to 18:21:55.95 on 2020-12-29.
    for (from, until) in [
        ("2020-12-29T18:21:50Z", None),
        ("2020-12-29T18:21:47Z", Some("2020-12-29T18:21:52.5Z")),
        ("2021-01-01T00:00:00Z", None),
        ("2019-01-01T00:00:00Z", Some("2020-12-29T18:21:47Z")),
    ] {
        let (hits, code) = bundle(from, until);
        let frames: BTreeSet<u64> = hits.iter().map(|h| h["frame"].as_u64().unwrap()).collect();
        let expected: BTreeSet<u64> = times
            .iter()
            .filter(|(_, &t)| t >= ns(from) && until.is_none_or(|u| t < ns(u)))
            .map(|(&f, _)| f)
            .collect();
        assert_eq!(frames, expected, "{from} .. {until:?}");
        assert_eq!(code, if expected.is_empty() { 5 } else { 0 });
    }
}

/// The real site's log against grep: the lines of a client and of a user agent, and a line
/// number for each hit.
#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn a_real_logs_hits_are_the_lines_grep_finds() {
    let log = shared("logs/real-site/apache_logs.part1");
    let text = std::fs::read_to_string(&log).unwrap();
    // The busiest client, a user agent of a crawler, and one nobody sent.
    let mut clients: BTreeMap<&str, usize> = BTreeMap::new();
    for l in text.lines() {
        *clients.entry(l.split(' ').next().unwrap()).or_insert(0) += 1;
    }
    let busiest = clients
        .iter()
        .max_by_key(|(_, n)| **n)
        .unwrap()
        .0
        .to_string();
    let ua = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("iocs.txt");
    std::fs::write(&list, format!("{busiest}\nua:{ua}\nua:NoSuchAgent/1.0\n")).unwrap();
    let (hits, code) = hunt(&[&list], &[&log]);
    assert_eq!(code, 0);
    let grep = |args: &[&str]| -> BTreeSet<u64> {
        let out = Command::new("grep").args(args).arg(&log).output().unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l.split(':').next().unwrap().parse().unwrap())
            .collect()
    };
    let lines = |value: &str| -> BTreeSet<u64> {
        hits.iter()
            .filter(|h| h["indicator"]["value"] == value)
            .map(|h| h["line"].as_u64().unwrap())
            .collect()
    };
    let by_client = grep(&["-n", "-F", "--", &format!("{busiest} ")])
        .into_iter()
        .filter(|n| {
            text.lines()
                .nth(*n as usize - 1)
                .unwrap()
                .starts_with(&format!("{busiest} "))
        })
        .collect::<BTreeSet<u64>>();
    assert!(by_client.len() > 50, "{busiest}: {}", by_client.len());
    assert_eq!(lines(&busiest), by_client);
    let by_agent = grep(&["-n", "-F", "--", &format!("\"{ua}\"")]);
    assert!(by_agent.len() > 10, "{}", by_agent.len());
    assert_eq!(lines(ua), by_agent);
    assert!(lines("NoSuchAgent/1.0").is_empty());
    assert!(hits
        .iter()
        .all(|h| h["field"] == "log.client" || h["field"] == "http.user_agent"));
}

/// Real flow exports (Cisco NetFlow v9 and IPFIX) against tshark's decode of the same
/// datagrams: each record whose source or destination is the indicator is a hit.
#[test]
#[cfg_attr(
    not(all(levee_shared_data, levee_has_tshark)),
    ignore = "needs ../shared/data and tshark"
)]
fn flow_records_hit_where_tshark_decodes_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("iocs.txt");
    let cases = [
        (
            "flows/100-IPFIXv10-CISCO.pcap",
            "udp.port==9991,cflow",
            "10.192.12.213",
        ),
        (
            "flows/101-NFv9-CISCO-cust_primitives.pcap",
            "udp.port==9991,cflow",
            "138.187.58.13",
        ),
        (
            "flows/101-NFv9-CISCO-cust_primitives.pcap",
            "udp.port==9991,cflow",
            "138.187.57.33",
        ),
    ];
    let values: Vec<&str> = cases.iter().map(|c| c.2).collect();
    std::fs::write(&list, format!("{}\n198.51.100.77\n", values.join("\n"))).unwrap();
    for (file, decode, address) in cases {
        let capture = shared(file);
        let (hits, code) = hunt(&[&list], &[&capture]);
        assert_eq!(code, 0, "{file}");
        // Per frame: the records with the address as source, and as destination.
        let out = Command::new("tshark")
            .args(["-n", "-d", decode, "-r"])
            .arg(&capture)
            .args([
                "-T",
                "fields",
                "-e",
                "frame.number",
                "-e",
                "cflow.srcaddr",
                "-e",
                "cflow.dstaddr",
            ])
            .output()
            .unwrap();
        let mut theirs: BTreeMap<u64, usize> = BTreeMap::new();
        for l in String::from_utf8(out.stdout).unwrap().lines() {
            let mut f = l.split('\t');
            let frame: u64 = f.next().unwrap().parse().unwrap();
            let n: usize = f
                .map(|list| list.split(',').filter(|a| *a == address).count())
                .sum();
            if n > 0 {
                theirs.insert(frame, n);
            }
        }
        let mut ours: BTreeMap<u64, usize> = BTreeMap::new();
        for h in hits.iter().filter(|h| h["indicator"]["value"] == address) {
            assert!(h["field"] == "flow.src" || h["field"] == "flow.dst", "{h}");
            assert!(h["record"].as_u64().unwrap() >= 1, "{h}");
            *ours.entry(h["frame"].as_u64().unwrap()).or_insert(0) += 1;
        }
        assert!(!theirs.is_empty(), "{address} in {file}");
        assert_eq!(ours, theirs, "{address} in {file}");
    }
}

#[test]
fn indicator_files_that_cannot_be_read_stop_the_hunt_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("c.pcap");
    let out = levee()
        .args(["synth", "--scenario", "benign", "--packets", "200", "--out"])
        .arg(&capture)
        .output()
        .unwrap();
    assert!(out.status.success());
    let run = |iocs: &Path| {
        levee()
            .arg("hunt")
            .arg("--iocs")
            .arg(iocs)
            .arg(&capture)
            .output()
            .unwrap()
    };
    // Missing, not text, and nothing usable: exit 3, named.
    let missing = dir.path().join("missing.txt");
    let out = run(&missing);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.txt"));
    let binary = dir.path().join("binary.txt");
    std::fs::write(&binary, [0xff, 0xfe, 0, 1]).unwrap();
    let out = run(&binary);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not UTF-8"));
    let useless = dir.path().join("useless.csv");
    std::fs::write(&useless, "type,value\nemail-src,a@b.example\nsha256,abcd\n").unwrap();
    let out = run(&useless);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("useless.csv:2: not looked for: email-src"),
        "{err}"
    );
    assert!(err.contains("no indicator levee can look for"), "{err}");
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"type\": \"bundle\", \"objects\": [").unwrap();
    let out = run(&broken);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not JSON"));
    // An output file is never replaced without --force, and no input is one.
    let list = dir.path().join("iocs.txt");
    std::fs::write(&list, "10.0.0.1\n").unwrap();
    let out = levee()
        .arg("hunt")
        .arg("--iocs")
        .arg(&list)
        .arg(&capture)
        .arg("--out")
        .arg(&list)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&list).unwrap(), "10.0.0.1\n");
}

/// `--carve`: for a capture with hits, every frame of the flows that hold them (tshark's TCP
/// and UDP streams of the frames hit), in order and byte for byte; none for a capture
/// without hits.
#[test]
#[cfg_attr(
    not(all(levee_shared_data, levee_has_tshark)),
    ignore = "needs ../shared/data and tshark"
)]
fn carving_writes_every_frame_of_the_flows_with_hits() {
    let dir = tempfile::tempdir().unwrap();
    let benign = dir.path().join("benign.pcap");
    let out = levee()
        .args([
            "synth",
            "--scenario",
            "benign",
            "--packets",
            "4000",
            "--out",
        ])
        .arg(&benign)
        .output()
        .unwrap();
    assert!(out.status.success());
    let tunnel = shared("ir/dns2tcp_tunnel.pcap");
    let list = dir.path().join("iocs.txt");
    std::fs::write(&list, "api.example.com\n").unwrap();
    let carve = dir.path().join("carved");
    let out = levee()
        .args(["hunt", "--json", "--iocs"])
        .arg(&list)
        .arg("--carve")
        .arg(&carve)
        .arg(&benign)
        .arg(&tunnel)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let hit_frames: BTreeSet<u64> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["frame"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(hit_frames.len() > 20);
    // The streams of the frames hit, and every frame of them.
    let fields = |capture: &Path, filter: &str, fields: &[&str]| -> Vec<String> {
        let mut cmd = Command::new("tshark");
        cmd.args(["-n", "-r"])
            .arg(capture)
            .args(["-Y", filter, "-T", "fields"]);
        for f in fields {
            cmd.args(["-e", f]);
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{o:?}");
        String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let numbers: Vec<String> = hit_frames.iter().map(u64::to_string).collect();
    let streams = fields(
        &benign,
        &format!("frame.number in {{{}}}", numbers.join(",")),
        &["tcp.stream", "udp.stream"],
    );
    let (mut tcp, mut udp) = (BTreeSet::new(), BTreeSet::new());
    for s in &streams {
        let (t, u) = s.split_once('\t').unwrap();
        if !t.is_empty() {
            tcp.insert(t.to_string());
        }
        if !u.is_empty() {
            udp.insert(u.to_string());
        }
    }
    let join = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(",");
    let filter = format!(
        "tcp.stream in {{{}}} or udp.stream in {{{}}}",
        join(&tcp),
        join(&udp)
    );
    let what = [
        "frame.time_epoch",
        "frame.len",
        "frame.cap_len",
        "ip.src",
        "ip.dst",
    ];
    let expected = fields(&benign, &filter, &what);
    let carved_file = carve.join("benign.pcap.hits.pcap");
    let carved = fields(&carved_file, "frame", &what);
    assert!(
        expected.len() > hit_frames.len(),
        "{} frames",
        expected.len()
    );
    assert_eq!(carved, expected);
    // The capture without hits has no carved file; nothing else is in the directory.
    let files: Vec<_> = std::fs::read_dir(&carve)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files, ["benign.pcap.hits.pcap"]);
    // A second run does not replace it without --force.
    let again = levee()
        .args(["hunt", "--iocs"])
        .arg(&list)
        .arg("--carve")
        .arg(&carve)
        .arg(&benign)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
}

/// `--report DIR`: the timeline of the report is the hits of `--json` grouped by indicator,
/// file and field (counts, first and last times, first position), in the three files.
#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn the_report_is_the_timeline_of_the_hits() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = captures(dir.path());
    let refs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let list = dir.path().join("iocs.txt");
    std::fs::write(
        &list,
        "82.118.225.196\ntcpdump.org\nexample.com\n198.51.100.77\nsha512:aa\n",
    )
    .unwrap();
    let (hits, code) = hunt(&[&list], &refs);
    assert_eq!(code, 0);
    let report = dir.path().join("report");
    let out = levee()
        .args(["hunt", "--iocs"])
        .arg(&list)
        .arg("--report")
        .arg(&report)
        .args(&refs)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // (indicator, file, field) -> (hits, first time, last time, first position).
    type Group = (u64, String, String, String);
    let mut want: BTreeMap<(String, String, String), Group> = BTreeMap::new();
    for h in &hits {
        let key = (
            h["indicator"]["value"].as_str().unwrap().to_string(),
            h["file"].as_str().unwrap().to_string(),
            h["field"].as_str().unwrap().to_string(),
        );
        let t = h["time"].as_str().unwrap().to_string();
        let at = format!("frame {}", h["frame"]);
        let g = want.entry(key).or_insert((0, t.clone(), t.clone(), at));
        g.0 += 1;
        g.1 = g.1.clone().min(t.clone());
        g.2 = g.2.clone().max(t);
    }
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("report.json")).unwrap())
            .unwrap();
    let got: BTreeMap<(String, String, String), Group> = json["sightings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                (
                    s["indicator"]["value"].as_str().unwrap().to_string(),
                    s["file"].as_str().unwrap().to_string(),
                    s["field"].as_str().unwrap().to_string(),
                ),
                (
                    s["hits"].as_u64().unwrap(),
                    s["first"].as_str().unwrap().to_string(),
                    s["last"].as_str().unwrap().to_string(),
                    s["first_at"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect();
    assert!(want.len() > 5, "{} sightings", want.len());
    assert_eq!(got, want);
    let firsts: Vec<&str> = json["sightings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["first"].as_str().unwrap())
        .collect();
    assert!(
        firsts.windows(2).all(|w| w[0] <= w[1]),
        "the timeline is in time order"
    );
    assert_eq!(json["not_found"][0]["value"], "198.51.100.77");
    assert!(json["unusable"][0]["why"]
        .as_str()
        .unwrap()
        .contains("file hash"));
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    for (value, _, field) in want.keys() {
        assert!(
            html.contains(value.as_str()) && html.contains(field.as_str()),
            "{value}"
        );
        assert!(
            md.contains(value.as_str()) && md.contains(field.as_str()),
            "{value}"
        );
    }
    assert!(html.contains("198.51.100.77") && md.contains("198.51.100.77"));
}

/// A pcap of an implant calling home: every minute, ±10 % jitter, thirty times, a TLS-like
/// exchange (handshake, a request, an answer, both FINs) from `client` to `server`:443,
/// starting at `start_s`.
fn beacon_pcap(path: &Path, client: [u8; 4], server: [u8; 4], start_s: u32) {
    let mut frames = Vec::new();
    let frame = |from: [u8; 4], to: [u8; 4], sport: u16, dport: u16, flags: u8, len: usize| {
        let mut f = vec![0u8; 12];
        f.extend([0x08, 0x00]);
        let total = (40 + len) as u16;
        f.extend([0x45, 0]);
        f.extend(total.to_be_bytes());
        f.extend([0, 0, 0x40, 0, 64, 6, 0, 0]);
        f.extend(from);
        f.extend(to);
        f.extend(sport.to_be_bytes());
        f.extend(dport.to_be_bytes());
        f.extend([0, 0, 0, 1, 0, 0, 0, 1, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend(std::iter::repeat_n(0x17u8, len));
        f
    };
    let mut state = 12345u64;
    for i in 0..30u32 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let jitter_ms = (state >> 33) % 12_000; // 0 .. 12 s, centred below
        let at_ms = u64::from(start_s) * 1000 + u64::from(i) * 60_000 + jitter_ms - 6_000;
        let sport = 49152 + i as u16;
        let exchange = [
            (client, server, sport, 443, 0x02, 0),
            (server, client, 443, sport, 0x12, 0),
            (client, server, sport, 443, 0x10, 0),
            (client, server, sport, 443, 0x18, 220),
            (server, client, 443, sport, 0x18, 540),
            (client, server, sport, 443, 0x11, 0),
            (server, client, 443, sport, 0x11, 0),
            (client, server, sport, 443, 0x10, 0),
        ];
        for (k, (from, to, sp, dp, flags, len)) in exchange.into_iter().enumerate() {
            let ms = at_ms + k as u64 * 40;
            let f = frame(from, to, sp, dp, flags, len);
            frames.push((ms, f.len() as u32, f));
        }
    }
    common::write_pcap(path, &frames);
}

/// Hunting without indicators: a beacon hidden in half an hour of browsing and in real
/// captures is the top beaconing finding; the real captures of `../shared/data` but the
/// malware's raise none at the default score (50).
#[test]
#[cfg_attr(
    not(all(levee_shared_data, levee_has_mergecap)),
    ignore = "needs ../shared/data and mergecap (wireshark-common)"
)]
fn a_hidden_beacon_is_the_top_beaconing_finding_and_benign_captures_raise_none() {
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
    let beacon = dir.path().join("beacon.pcap");
    // 2026-01-15T12:00:37Z: inside the browsing's half hour.
    beacon_pcap(&beacon, [10, 1, 2, 3], [203, 0, 113, 66], 1_768_478_437);
    let merged = dir.path().join("merged.pcapng");
    let real = [
        shared("ir/trickbot.pcap"),
        shared("tcpdump-tests/HSRP_failover.pcap"),
        shared("tcpdump-tests/edns-opts.pcap"),
        shared("tcpdump-tests/dhcp-rfc4388.pcap"),
    ];
    let status = Command::new("mergecap")
        .arg("-w")
        .arg(&merged)
        .arg(&browsing)
        .arg(&beacon)
        .args(&real)
        .status()
        .unwrap();
    assert!(status.success());
    let out = levee()
        .args(["hunt", "--anomalies", "--json", "--min-score", "0"])
        .arg(&merged)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let findings: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(findings.iter().all(|f| f["type"] == "finding"));
    // TrickBot's command and control, merged in, is a finding of its own kind.
    assert!(findings.iter().any(|f| f["kind"] == "c2-like-http"
        && f["subject"] == "10.12.29.101 -> 82.118.225.196:7080/tcp"));
    let findings: Vec<&Value> = findings
        .iter()
        .filter(|f| f["kind"] == "beaconing")
        .collect();
    let top = &findings[0];
    assert_eq!(
        top["subject"], "10.1.2.3 -> 203.0.113.66:443/tcp",
        "{findings:?}"
    );
    assert_eq!(top["kind"], "beaconing");
    assert!(top["score"].as_u64().unwrap() >= 80, "{top}");
    assert!(
        top["evidence"].as_str().unwrap().starts_with("30 contacts"),
        "{top}"
    );
    assert!(
        top["first"]
            .as_str()
            .unwrap()
            .starts_with("2026-01-15T12:00:"),
        "{top}"
    );
    assert!(
        findings[1..]
            .iter()
            .all(|f| f["score"].as_u64().unwrap() < 50),
        "{findings:?}"
    );

    // Every real capture and log of ../shared/data but the malware's: no finding at the
    // default score.
    let mut all: Vec<PathBuf> = Vec::new();
    for sub in ["attacks", "scans", "web-attacks", "flows", "tcpdump-tests"] {
        for e in std::fs::read_dir(shared(sub)).unwrap() {
            let p = e.unwrap().path();
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            if matches!(ext, "pcap" | "pcapng" | "cap") {
                all.push(p);
            }
        }
    }
    assert!(all.len() > 800, "{} captures", all.len());
    // And every real access log: their user agents of one client are leads, below 50.
    for e in std::fs::read_dir(shared("logs/sotm34")).unwrap() {
        all.push(e.unwrap().path());
    }
    all.push(shared("logs/real-site/apache_logs.part1"));
    all.push(shared("l7-payloads/crs-requests.log"));
    let out = levee()
        .args(["hunt", "--anomalies", "--json", "--max-errors", "0"])
        .args(&all)
        .output()
        .unwrap();
    // Some of tcpdump's test captures are damaged on purpose (exit 3 or 4): none is a finding.
    assert!(matches!(out.status.code(), Some(3..=5)), "{:?}", out.status);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "",
        "findings in real captures"
    );
}

/// The real malicious captures: TrickBot's command and control over HTTP, and DNS tunnelled
/// over TLS to a public resolver (dns2tcp), each the top finding of its capture.
#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn the_real_malware_and_dns_tunnel_are_findings() {
    for (file, kind, subject) in [
        (
            "ir/trickbot.pcap",
            "c2-like-http",
            "10.12.29.101 -> 82.118.225.196:7080/tcp",
        ),
        (
            "ir/dns2tcp_tunnel.pcap",
            "encrypted-dns",
            "192.168.20.211 -> 1.1.1.1:443/tcp",
        ),
    ] {
        let out = levee()
            .args(["hunt", "--anomalies", "--json", "--min-score", "0"])
            .arg(shared(file))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{file}: {out:?}");
        let first: Value = serde_json::from_str(
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .next()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            (first["kind"].as_str(), first["subject"].as_str()),
            (Some(kind), Some(subject)),
            "{first}"
        );
        assert!(first["score"].as_u64().unwrap() >= 50, "{first}");
    }
}

/// The hashes (MD5, SHA-1, SHA-256) of every object tshark exports from the HTTP of real
/// captures (TrickBot's upload and download, a Nikto scan's and an SQL injection's answers),
/// with hashes that occur nowhere: each object is a hit of each of its hashes, as many times
/// as tshark exports it, and nothing else is.
#[test]
#[cfg_attr(
    not(all(levee_shared_data, levee_has_tshark)),
    ignore = "needs ../shared/data and tshark"
)]
fn file_hashes_hit_every_object_tshark_exports() {
    let dir = tempfile::tempdir().unwrap();
    let captures = [
        shared("ir/trickbot.pcap"),
        shared("web-attacks/WebattackRCE.pcap"),
        shared("web-attacks/WebattackSQLinj.pcap"),
    ];
    // (capture, field, hash) -> objects.
    let mut want: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    // Each hash once (an object exported twice is one indicator), and hashes of nothing.
    let mut hashes = BTreeSet::new();
    hashes.insert(format!("md5:{}", "0".repeat(32)));
    hashes.insert(format!("sha1:{}", "1".repeat(40)));
    hashes.insert(format!("sha256:{}", "2".repeat(64)));
    for (i, capture) in captures.iter().enumerate() {
        let objects = dir.path().join(format!("objects-{i}"));
        std::fs::create_dir_all(&objects).unwrap();
        let status = Command::new("tshark")
            .args(["-n", "-q", "-r"])
            .arg(capture)
            .arg("--export-objects")
            .arg(format!("http,{}", objects.display()))
            .status()
            .unwrap();
        assert!(status.success());
        let mut exported = 0;
        for entry in std::fs::read_dir(&objects).unwrap() {
            let path = entry.unwrap().path();
            exported += 1;
            for (tool, field) in [
                ("md5sum", "http.file_data.md5"),
                ("sha1sum", "http.file_data.sha1"),
                ("sha256sum", "http.file_data.sha256"),
            ] {
                let out = Command::new(tool).arg(&path).output().unwrap();
                let hash = String::from_utf8(out.stdout).unwrap();
                let hash = hash.split(' ').next().unwrap().to_string();
                hashes.insert(hash.clone());
                *want
                    .entry((capture.display().to_string(), field.to_string(), hash))
                    .or_default() += 1;
            }
        }
        assert!(
            exported > 0,
            "tshark exported nothing from {}",
            capture.display()
        );
    }
    let iocs = dir.path().join("hashes.txt");
    let list: Vec<String> = hashes.into_iter().collect();
    std::fs::write(&iocs, list.join("\n") + "\n").unwrap();
    let refs: Vec<&Path> = captures.iter().map(PathBuf::as_path).collect();
    let (hits, code) = hunt(&[&iocs], &refs);
    assert_eq!(code, 0);
    let mut got: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for h in &hits {
        let key = (
            h["file"].as_str().unwrap().to_string(),
            h["field"].as_str().unwrap().to_string(),
            h["seen"].as_str().unwrap().to_string(),
        );
        *got.entry(key).or_default() += 1;
    }
    assert_eq!(got, want);
}
