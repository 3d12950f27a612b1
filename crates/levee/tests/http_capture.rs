//! Layer 7 from packet captures: `levee requests` against tshark's HTTP dissector (the
//! synthetic shop, whose requests are split, reordered, retransmitted and pipelined, and the
//! real captures that hold HTTP), `analyze --http` against the labels and against the log of
//! the same seed, the rules it writes in `simulate --http`, and `report --http`.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

type Counts = HashMap<(String, String, String, String), u64>;

/// The shop as a capture, with its labels (`line,label,client`).
fn synth_capture(dir: &Path, name: &str, seed: &str, duration: u32, scenario: &str) -> PathBuf {
    let pcap = dir.join(name);
    let o = run(levee()
        .args(["synth", "--http", "--capture", "--sessions-per-second", "3"])
        .args(["--scenario", scenario, "--seed", seed])
        .args(["--duration", &duration.to_string(), "--force", "--out"])
        .arg(&pcap));
    assert!(o.status.success(), "{}", stderr(&o));
    pcap
}

/// Requests by (client, method, target, user agent) and responses by (client, status, -, -)
/// from `levee requests --json`; unfinished header blocks apart.
fn levee_requests(pcap: &Path) -> (Counts, Counts, u64) {
    let o = run(levee().args(["requests", "--json"]).arg(pcap));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (mut req, mut resp, mut unfinished) = (Counts::new(), Counts::new(), 0);
    for line in stdout(&o).lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        if !r["header_incomplete_ms"].is_null() {
            unfinished += 1;
            continue;
        }
        let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
        *req.entry((
            s("remote_addr"),
            s("request_method"),
            s("request_uri"),
            s("http_user_agent"),
        ))
        .or_default() += 1;
        if let Some(code) = r["status"].as_u64() {
            *resp
                .entry((
                    s("remote_addr"),
                    code.to_string(),
                    String::new(),
                    String::new(),
                ))
                .or_default() += 1;
        }
    }
    (req, resp, unfinished)
}

/// The same from tshark (TCP reassembly, out-of-order segments included). Several messages in
/// one frame come as `|`-joined values.
fn tshark_requests(pcap: &Path) -> (Counts, Counts) {
    let fields = |filter: &str, names: &[&str]| -> Vec<Vec<Vec<String>>> {
        let mut cmd = std::process::Command::new("tshark");
        if filter == "http.response" {
            // A response counts once its header block is read, as levee counts it; by
            // default tshark waits for the whole body, which a capture may cut short.
            cmd.args(["-o", "http.desegment_body:FALSE"]);
        }
        cmd.arg("-r")
            .arg(pcap)
            .args(["-o", "tcp.reassemble_out_of_order:TRUE", "-Y", filter])
            .args(["-E", "aggregator=|", "-T", "fields"]);
        for n in names {
            cmd.args(["-e", n]);
        }
        let o = run(&mut cmd);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
            .lines()
            .map(|l| {
                l.split('\t')
                    .map(|f| f.split('|').map(str::to_string).collect())
                    .collect()
            })
            .collect()
    };
    let mut req = Counts::new();
    for f in fields(
        "http.request",
        &[
            "ip.src",
            "ipv6.src",
            "http.request.method",
            "http.request.uri",
            "http.user_agent",
        ],
    ) {
        let client = if f[0][0].is_empty() {
            &f[1][0]
        } else {
            &f[0][0]
        };
        for i in 0..f[2].len() {
            let ua = f[4].get(i).cloned().unwrap_or_default();
            *req.entry((client.clone(), f[2][i].clone(), f[3][i].clone(), ua))
                .or_default() += 1;
        }
    }
    let mut resp = Counts::new();
    for f in fields(
        "http.response",
        &["ip.dst", "ipv6.dst", "http.response.code"],
    ) {
        let client = if f[0][0].is_empty() {
            &f[1][0]
        } else {
            &f[0][0]
        };
        for code in &f[2] {
            *resp
                .entry((client.clone(), code.clone(), String::new(), String::new()))
                .or_default() += 1;
        }
    }
    (req, resp)
}

fn differences(a: &Counts, b: &Counts) -> Vec<String> {
    let mut out = Vec::new();
    for (k, n) in a {
        if b.get(k) != Some(n) {
            out.push(format!("{k:?}: {n} against {:?}", b.get(k)));
        }
    }
    for (k, n) in b {
        if !a.contains_key(k) {
            out.push(format!("{k:?}: none against {n}"));
        }
    }
    out.sort();
    out.truncate(10);
    out
}

#[test]
#[cfg_attr(
    not(all(levee_shared_data, levee_has_tshark)),
    ignore = "needs ../shared/data, tshark"
)]
fn requests_reassembled_from_captures_equal_tsharks() {
    if !require_tool("levee requests against tshark", "tshark") {
        return;
    }
    let dir = scratch("http-capture-tshark");
    let pcap = synth_capture(&dir, "shop.pcap", "7", 120, "http-mix+bad-bot+slowloris");
    let (req, resp, unfinished) = levee_requests(&pcap);
    let (t_req, t_resp) = tshark_requests(&pcap);
    let total: u64 = req.values().sum();
    assert!(total > 10_000, "{total}");
    assert_eq!(differences(&req, &t_req), Vec::<String>::new());
    assert_eq!(differences(&resp, &t_resp), Vec::<String>::new());
    // tshark lists no request whose header block never ended; levee reports each.
    assert_eq!(unfinished, 180);
    // The real captures that hold HTTP over TCP. (eapon1.pcap's HTTP is SSDP over UDP, which
    // tshark also calls HTTP; levee reads SSDP as a service of its own, not as requests.)
    let Some(data) = require_shared("levee requests on real captures") else {
        return;
    };
    let mut real = 0;
    for name in [
        "print-flags.pcap",
        "accecn_handshake.pcap",
        "ipv4_tcp_http_xml_tso.pcap",
    ] {
        let pcap = data.join("tcpdump-tests").join(name);
        let (req, resp, _) = levee_requests(&pcap);
        let (t_req, t_resp) = tshark_requests(&pcap);
        assert!(!t_req.is_empty(), "{name}");
        assert_eq!(differences(&req, &t_req), Vec::<String>::new(), "{name}");
        assert_eq!(differences(&resp, &t_resp), Vec::<String>::new(), "{name}");
        real += req.values().sum::<u64>();
    }
    assert_eq!(real, 3);
}

fn analyze_json(args: &[&str], input: &Path) -> Value {
    let o = run(levee().arg("analyze").args(args).arg("--json").arg(input));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn http_clients_of_a_capture_are_judged_by_what_their_packets_show() {
    let dir = scratch("http-capture-analyze");
    let scenario = "http-mix+bad-bot";
    let pcap = synth_capture(
        &dir,
        "shop.pcap",
        "4",
        600,
        &format!("{scenario}+slowloris"),
    );
    let truth = client_labels(&dir.join("shop.pcap.labels.csv"));
    let a = analyze_json(&["--http"], &pcap);
    assert_eq!(a["input"], "capture");
    let judged = clients_by_ip(&a);
    let good_total = truth
        .values()
        .filter(|l| *l == "benign" || *l == "crawler")
        .count();
    assert!(good_total > 1000, "{good_total}");
    let mut good_called_malicious = 0;
    for (client, label) in &truth {
        let c = judged.get(client.as_str());
        match label.as_str() {
            "benign" | "crawler" => {
                good_called_malicious +=
                    usize::from(c.is_some_and(|c| c["verdict"] == "malicious"));
            }
            vector => {
                let c = c.unwrap_or_else(|| panic!("{vector} client {client} not listed"));
                assert_eq!(c["verdict"], "malicious", "{c}");
                assert_eq!(c["vector"], vector, "{c}");
            }
        }
    }
    assert!(
        good_called_malicious * 200 < good_total,
        "{good_called_malicious} of {good_total} good clients called malicious"
    );
    // The scrapers are caught by their stack, not their rate: the header order of a script
    // under Chrome's user agent, one copied cookie. Every one of them (taking one from the
    // map picked a different scraper each run, and one of the 25 reaches a request a second).
    let scrapers: Vec<&Value> = judged
        .values()
        .copied()
        .filter(|c| c["vector"] == "bad-bot")
        .collect();
    assert!(scrapers.len() > 10, "{} scrapers", scrapers.len());
    let mut peaks = Vec::new();
    for scraper in &scrapers {
        let why = scraper["reasons"].to_string();
        assert!(
            why.contains("claims to be a browser but sends the headers of a script"),
            "{why}"
        );
        assert!(
            why.contains("different addresses: a copied session"),
            "{why}"
        );
        // Product pages and their photos, never the shop's script nor its beacon.
        assert!(why.contains("runs no JavaScript"), "{why}");
        assert_eq!(scraper["footprint"]["runs_scripts"], false, "{scraper}");
        peaks.push(scraper["peak_per_minute"].as_u64().unwrap());
    }
    // At most a request a second, most well under it: no rate limit stops them.
    peaks.sort_unstable();
    assert!(*peaks.last().unwrap() <= 60, "{peaks:?}");
    assert!(peaks[peaks.len() / 2] < 60, "{peaks:?}");
    // Each client's TLS hello (to port 443) is joined to its cleartext requests: the attack
    // tools' JA4 is a group of its own, all malicious, the browsers' all good.
    let ja4 = a["groups"]["ja4"].as_array().unwrap();
    let share = |prefix: &str| {
        ja4.iter()
            .find(|g| g["key"].as_str().unwrap().starts_with(prefix))
            .map(|g| g["malicious_share"].as_f64().unwrap())
    };
    assert_eq!(share("t13d3109h1_"), Some(1.0), "{ja4:?}");
    assert_eq!(share("t13d0910h2_"), Some(0.0), "{ja4:?}");
    // Slowloris: each attacker's connections, held about 200 s.
    let slow: Vec<&Value> = judged
        .values()
        .copied()
        .filter(|c| c["vector"] == "slowloris")
        .collect();
    assert_eq!(slow.len(), 6);
    for c in &slow {
        let why = c["reasons"][0].as_str().unwrap();
        assert!(
            why.starts_with("30 connections held open on a request header block"),
            "{why}"
        );
    }
    let attacks = a["attacks"].as_array().unwrap();
    let vectors: Vec<&str> = attacks
        .iter()
        .map(|x| x["vector"].as_str().unwrap())
        .collect();
    assert_eq!(attacks.len(), 6, "{vectors:?}");
    let slowloris = attacks.iter().find(|x| x["vector"] == "slowloris").unwrap();
    assert_eq!(slowloris["requests"], 180);
    // The attack lasts as long as its connections were held, not as long as it took to open them.
    assert!(
        slowloris["end"].as_str().unwrap() > "2026-01-15T12:06:30",
        "{slowloris}"
    );

    // The log of the same seed holds the same people and attackers: the same verdicts for
    // the four attacks a log shows, while the scrapers, with nothing but their missing
    // JavaScript footprint to go by, are only suspicious.
    let log = dir.join("shop.log");
    let o = run(levee()
        .args([
            "synth",
            "--http",
            "--sessions-per-second",
            "3",
            "--scenario",
            scenario,
        ])
        .args(["--seed", "4", "--duration", "600", "--force", "--out"])
        .arg(&log));
    assert!(o.status.success(), "{}", stderr(&o));
    let from_log = analyze_json(&[], &log);
    let l = clients_by_ip(&from_log);
    for (client, label) in &truth {
        match label.as_str() {
            "bad-bot" => {
                let c = l[client.as_str()];
                assert_eq!(c["verdict"], "suspicious", "{c}");
                assert!(
                    c["reasons"].to_string().contains("runs no JavaScript"),
                    "{c}"
                );
            }
            "http-flood" | "login-abuse" | "cache-busting" | "http-scanner" => {
                assert_eq!(
                    l[client.as_str()]["vector"],
                    judged[client.as_str()]["vector"],
                    "{client}"
                );
            }
            _ => {}
        }
    }

    // The requests written out and read back as a log give the same verdicts.
    let export = dir.join("shop.jsonl");
    let o = run(levee()
        .args(["requests", "--json", "--force", "--out"])
        .arg(&export)
        .arg(&pcap));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let back = analyze_json(&[], &export);
    assert_eq!(back["verdicts"], a["verdicts"]);
    assert_eq!(back["requests"], a["requests"]);

    // The cookie the shop's script sets in the browser comes back from its browsers: learned
    // from the capture (no response sets it, unlike the session cookie), and kept through the
    // export.
    let cookies = &a["footprint"]["site"]["script_cookies"];
    assert_eq!(cookies.as_array().unwrap().len(), 1, "{cookies}");
    assert_eq!(cookies[0]["name"], "_sv", "{cookies}");
    assert!(cookies[0]["share"].as_f64().unwrap() > 0.95, "{cookies}");
    assert_eq!(back["footprint"]["site"]["script_cookies"], *cookies);
    for c in judged.values() {
        if c["footprint"]["runs_scripts"] == true {
            assert_eq!(c["footprint"]["returns_script_cookie"], true, "{c}");
        }
    }
    // Scrapers that download the shop's script with every page, as a tool does to look like a
    // browser, still never send its cookie: the footprint says they do not run it.
    let downloading = dir.join("downloading.jsonl");
    let mut lines = String::new();
    for line in std::fs::read_to_string(&export).unwrap().lines() {
        lines.push_str(line);
        lines.push('\n');
        let mut r: Value = serde_json::from_str(line).unwrap();
        let scraper = truth
            .get(r["remote_addr"].as_str().unwrap())
            .map(String::as_str)
            == Some("bad-bot");
        if scraper && r["request_uri"].as_str().unwrap().starts_with("/product") {
            r["request_uri"] = "/static/app.4f1c2e.js".into();
            r["timestamp"] = (r["timestamp"].as_i64().unwrap() + 100_000_000).into();
            r["set_cookie_names"] = "".into();
            lines.push_str(&format!("{r}\n"));
        }
    }
    std::fs::write(&downloading, lines).unwrap();
    let d = analyze_json(&[], &downloading);
    let dl = clients_by_ip(&d);
    let mut scrapers = 0;
    for (client, label) in &truth {
        if label == "bad-bot" {
            let c = dl[client.as_str()];
            let why = c["reasons"].to_string();
            assert_eq!(c["verdict"], "malicious", "{c}");
            assert!(
                why.contains("downloads the scripts without running them"),
                "{why}"
            );
            assert!(!why.contains("runs no JavaScript"), "{why}");
            scrapers += 1;
        }
    }
    assert!(scrapers >= 10, "{scrapers}");
    assert_eq!(d["verdicts"], a["verdicts"]);
}

#[test]
fn rules_written_from_a_capture_stop_its_attacks_and_spare_good_clients() {
    let dir = scratch("http-capture-rules");
    let pcap = synth_capture(&dir, "shop.pcap", "9", 600, "http-mix+bad-bot+slowloris");
    let rules = dir.join("rules.toml");
    let o = run(levee()
        .args(["analyze", "--http", "--force", "--rules-out"])
        .arg(&rules)
        .arg(&pcap));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = run(levee()
        .args(["simulate", "--http", "--json", "--rules"])
        .arg(&rules)
        .arg(&pcap));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["input"], "capture");
    let attacks = s["attacks"].as_array().unwrap();
    assert_eq!(attacks.len(), 6, "{attacks:?}");
    for at in attacks {
        assert!(at["share"].as_f64().unwrap() >= 0.95, "{at}");
    }
    let good = &s["good_clients"];
    assert!(
        good["limited_or_blocked"].as_u64().unwrap() * 200 < good["total"].as_u64().unwrap(),
        "{good}"
    );
    // The report of the same capture's HTTP clients.
    let out = dir.join("report");
    let o = run(levee()
        .args(["report", "--http", "--force", "--out"])
        .arg(&out)
        .arg(&pcap));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(r["input"], "capture");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("slowloris") && html.contains("bad-bot"));
    // Who sends the traffic: the attack tools' TLS fingerprint, all malicious, beside the
    // browsers' (every figure from report.json's analysis).
    assert!(html.contains("Who sends the traffic"));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let ja4 = r["analysis"]["groups"]["ja4"].as_array().unwrap();
    assert!(ja4.len() >= 2, "{ja4:?}");
    for g in ja4 {
        let key = g["key"].as_str().unwrap();
        assert!(html.contains(key) && md.contains(key), "{key}");
    }
    assert!(md.contains("### TLS fingerprints (JA4)"));
    assert!(
        md.contains("| `t13d3109h1_e8f1e7e78f70_1e39ade74021` | "),
        "{md}"
    );
}

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn every_tcpdump_test_capture_goes_through_the_reassembly() {
    // The whole corpus (fuzzer-found crashers among them) in one run: damaged records are
    // reported and skipped, and whatever TCP they hold goes through the reassembly.
    let Some(data) = require_shared("levee requests on the tcpdump corpus") else {
        return;
    };
    let files = tcpdump_corpus(&data, &["pcap", "pcapng", "cap"]);
    assert!(files.len() > 800);
    let o = run(levee()
        .args(["requests", "--json", "--max-errors", "0"])
        .args(&files));
    assert!(
        matches!(o.status.code(), Some(0 | 3 | 4)),
        "exit {:?}: {}",
        o.status,
        stderr(&o)
    );
    let lines = stdout(&o).lines().count();
    assert!(lines >= 3, "{lines} requests");
    for line in stdout(&o).lines() {
        let _: Value = serde_json::from_str(line).unwrap();
    }
}

/// The real web-attack captures: a Nikto scan with Shellshock and other probes, named
/// `http-scanner` (never `http-flood`, however fast it went), and an SQL injection campaign,
/// named `sql-injection`; in each, the attacking client is caught and no other is flagged.
#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn real_web_attacks_are_named_for_what_they_try() {
    let Some(data) = require_shared("analyze --http on real web attacks") else {
        return;
    };
    for (name, attacker, vector, categories) in [
        (
            "WebattackRCE.pcap",
            "127.0.0.1",
            "http-scanner",
            &["shellshock", "user agent of a scanning tool"][..],
        ),
        (
            "WebattackSQLinj.pcap",
            "172.16.0.1",
            "sql-injection",
            // The categories, and what in the first request was hostile, decoded.
            &[
                "sql-injection",
                "rule quote-then-boolean on `id=1' and 1=1#`",
            ][..],
        ),
    ] {
        let a = analyze_json(&["--http"], &data.join("web-attacks").join(name));
        let attacks = a["attacks"].as_array().unwrap();
        assert_eq!(attacks.len(), 1, "{name}: {attacks:?}");
        assert_eq!(attacks[0]["vector"], vector, "{name}");
        let flagged: Vec<&Value> = a["clients"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["verdict"] != "good")
            .collect();
        assert_eq!(flagged.len(), 1, "{name}: {flagged:?}");
        let c = flagged[0];
        assert_eq!(c["ip"], attacker, "{name}");
        assert_eq!(c["verdict"], "malicious", "{name}");
        assert_eq!(c["vector"], vector, "{name}");
        let reasons = c["reasons"].to_string();
        for want in categories {
            assert!(reasons.contains(want), "{name}: {want} not in {reasons}");
        }
    }
}
