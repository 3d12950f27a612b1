//! `levee logs` end to end: the real honeynet logs, compressed standard input with damaged
//! lines, a custom nginx format, and a file in no known format.

mod common;

use std::collections::HashMap;
use std::io::Write;

use common::*;
use serde_json::Value;

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn the_honeynet_logs_are_read_whole_with_their_busiest_clients() {
    let Some(data) = require_shared("levee logs on sotm34") else {
        return;
    };
    let dir = data.join("logs/sotm34");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let o = run(levee().args(["logs", "--json", "--top", "5"]).args(&files));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["requests"], 3554);
    assert_eq!(s["malformed"], 0);
    assert!(s["files"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["format"] == "combined"));
    // The busiest clients, counted here from the first word of each line.
    let mut by_client: HashMap<String, u64> = HashMap::new();
    for f in &files {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            *by_client
                .entry(line.split(' ').next().unwrap().to_string())
                .or_default() += 1;
        }
    }
    let mut want: Vec<(String, u64)> = by_client.into_iter().collect();
    want.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let got: Vec<(String, u64)> = s["top_clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["requests"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, want[..5]);
    assert_eq!(s["start"], "2005-01-30T09:34:59.000000Z");
    assert_eq!(s["end"], "2005-03-17T16:38:27.000000Z");
}

#[test]
fn gzip_on_standard_input_with_damaged_lines_reports_them_and_goes_on() {
    let log = "10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET /a HTTP/1.1\" 200 5 \"-\" \"ua\"\n\
               10.0.0.2 - - [10/Oct/2000:13:55:37 -0700] \"GET /b HTTP/1.1\" OK 5 \"-\" \"ua\"\n\
               10.0.0.3 - - [10/Oct/2000:13:55:38 -0700] \"GET /c HTTP/1.1\" 404 5 \"-\" \"ua\"\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(log.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let mut child = levee()
        .args(["logs", "--json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&gz).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("levee: standard input: line 2: status is not a number"),
        "{}",
        stderr(&o)
    );
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    let f = &s["files"][0];
    assert_eq!(
        (
            f["compression"].as_str(),
            f["requests"].as_u64(),
            f["malformed"].as_u64()
        ),
        (Some("gzip"), Some(2), Some(1))
    );
    assert_eq!(f["first_malformed"][0]["line"], 2);
}

#[test]
fn a_custom_nginx_format_and_a_file_in_no_known_format() {
    let dir = scratch("logs-formats");
    let custom = dir.join("custom.log");
    std::fs::write(
        &custom,
        "shop.example 203.0.113.9 [10/Oct/2000:13:55:36 -0700] \"POST /login HTTP/1.1\" 401 rt=0.004\n\
         shop.example 203.0.113.9 [10/Oct/2000:13:55:37 -0700] \"POST /login HTTP/1.1\" 401 rt=0.003\n",
    )
    .unwrap();
    let o = run(levee()
        .args(["logs", "--json", "--log-format"])
        .arg("nginx:$host $remote_addr [$time_local] \"$request\" $status rt=$request_time")
        .arg(&custom));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["requests"], 2);
    assert_eq!(s["methods"][0]["name"], "POST");
    assert_eq!(s["top_clients"][0]["name"], "203.0.113.9");
    assert_eq!(s["statuses"][0]["name"], "4xx");

    // The same file in auto mode: not a known format, so no request: an input error.
    let o = run(levee().args(["logs"]).arg(&custom));
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("format levee knows"), "{}", stderr(&o));
    let noise = dir.join("noise.log");
    std::fs::write(&noise, "hello\n".repeat(150)).unwrap();
    let o = run(levee().args(["logs"]).arg(&noise).arg(&custom));
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("none of the first 100 lines is in a known log format"),
        "{}",
        stderr(&o)
    );
    let o = run(levee()
        .args(["logs", "--log-format", "nginx:$status"])
        .arg(&custom));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no client address field"),
        "{}",
        stderr(&o)
    );
}

/// The sotm34 logs' lines.
fn sotm34_lines(data: &std::path::Path) -> (Vec<std::path::PathBuf>, Vec<String>) {
    let mut files: Vec<_> = std::fs::read_dir(data.join("logs/sotm34"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let lines = files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    (files, lines)
}

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn analyze_finds_each_kind_of_hostile_client_of_the_honeynet_and_attributes_it() {
    let Some(data) = require_shared("levee analyze on sotm34") else {
        return;
    };
    let (files, lines) = sotm34_lines(&data);
    let o = run(levee().args(["analyze", "--json"]).args(&files));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let a: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(a["input"], "log");
    assert_eq!(a["requests"], 3554);
    let clients: HashMap<String, &Value> = a["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["ip"].as_str().unwrap().to_string(), c))
        .collect();
    // Each kind of hostile request, the sources that sent it (found here from the raw lines),
    // and what levee must say of every one of them.
    for (needle, vector, reason) in [
        ("cmd.exe", "http-scanner", "iis-worm-probe"),
        ("root.exe", "http-scanner", "iis-worm-probe"),
        ("default.ida", "http-scanner", "iis-worm-probe"),
        (
            "\"POST /_vti_bin/_vti_aut/fp30reg.dll",
            "http-scanner",
            "frontpage-exploit",
        ),
        ("\"GET http://", "http-proxy-abuse", "open proxy"),
        ("\"CONNECT ", "http-proxy-abuse", "CONNECT"),
        ("\"OPTIONS ", "http-scanner", "OPTIONS"),
        (
            "awstats.pl?configdir",
            "http-scanner",
            "php-vulnerability-probe",
        ),
        ("/phpBB2/", "http-scanner", "scanning"),
    ] {
        let mut sources: Vec<&str> = lines
            .iter()
            .filter(|l| l.contains(needle))
            .map(|l| l.split(' ').next().unwrap())
            .collect();
        sources.sort();
        sources.dedup();
        assert!(!sources.is_empty(), "{needle}");
        for ip in sources {
            let c = clients
                .get(ip)
                .unwrap_or_else(|| panic!("{ip} ({needle}) is not listed"));
            assert_eq!(c["verdict"], "malicious", "{ip} ({needle}): {c}");
            let reasons = c["reasons"].to_string();
            // The reasons name everything the client did; a client that did several things is
            // attributed to the first vector of the documented order.
            assert!(
                reasons.contains(reason),
                "{ip} ({needle}) reasons lack `{reason}`: {c}"
            );
            assert!(
                c["vector"] == vector || c["vector"] == "http-proxy-abuse",
                "{ip} ({needle}): {c}"
            );
        }
    }
    // The attacks: scanning and proxy abuse, each with its busiest sources.
    let attacks = a["attacks"].as_array().unwrap();
    let vectors: Vec<&str> = attacks
        .iter()
        .map(|x| x["vector"].as_str().unwrap())
        .collect();
    assert!(
        vectors.contains(&"http-scanner") && vectors.contains(&"http-proxy-abuse"),
        "{vectors:?}"
    );
    let scanner = attacks
        .iter()
        .find(|x| x["vector"] == "http-scanner")
        .unwrap();
    assert_eq!(scanner["top_clients"][0]["name"], "64.62.145.98");
    // The attack's requests are exactly its clients' requests.
    let members: u64 = clients
        .values()
        .filter(|c| c["vector"] == "http-scanner")
        .map(|c| c["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(scanner["requests"].as_u64().unwrap(), members);
    let counts = &a["verdicts"];
    let listed_bad = clients.values().filter(|c| c["verdict"] != "good").count() as u64;
    assert_eq!(
        listed_bad,
        counts["malicious"].as_u64().unwrap() + counts["suspicious"].as_u64().unwrap()
    );
    // A client that only asked for the home page once is not called malicious.
    let single_home: Vec<&str> = {
        let mut by_ip: HashMap<&str, Vec<&str>> = HashMap::new();
        for l in &lines {
            by_ip
                .entry(l.split(' ').next().unwrap())
                .or_default()
                .push(l);
        }
        by_ip
            .into_iter()
            .filter(|(_, v)| v.len() == 1 && v[0].contains("\"GET / HTTP/1."))
            .map(|(ip, _)| ip)
            .collect()
    };
    assert!(single_home.len() > 50, "{}", single_home.len());
    for ip in single_home {
        if let Some(c) = clients.get(ip) {
            assert_ne!(c["verdict"], "malicious", "{ip}: {c}");
        }
    }
    // The text says the same.
    let o = run(levee().arg("analyze").args(&files));
    let text = stdout(&o);
    assert!(text.contains("Attack 1: http-scanner"), "{text}");
    assert!(text.contains("64.62.145.98"), "{text}");
}

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn analyze_refuses_mixed_inputs_and_reads_logs_from_standard_input() {
    let Some(data) = require_shared("levee analyze log inputs") else {
        return;
    };
    let log = data.join("logs/sotm34/access_log");
    let cap = data.join("attacks/amp.UDP.isakmp.pcap");
    let o = run(levee().arg("analyze").arg(&log).arg(&cap));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("separate"), "{}", stderr(&o));
    let mut child = levee()
        .args(["analyze", "--json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(&log).unwrap())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let a: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(a["requests"], 292);
}

#[test]
fn synthetic_shop_logs_attacks_are_found_and_good_clients_are_not_called_malicious() {
    let dir = scratch("logs-synth");
    for seed in ["1", "2"] {
        let log = dir.join(format!("shop-{seed}.log"));
        synth_shop(&log, seed, 900);
        let truth = client_labels(&dir.join(format!("shop-{seed}.log.labels.csv")));
        let o = run(levee().args(["analyze", "--json"]).arg(&log));
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let a: Value = serde_json::from_slice(&o.stdout).unwrap();
        let judged = clients_by_ip(&a);
        let good_total = truth
            .values()
            .filter(|l| *l == "benign" || *l == "crawler")
            .count();
        assert!(good_total > 2000, "{good_total}");
        let mut good_called_malicious = 0;
        for (client, label) in &truth {
            let verdict = judged.get(client.as_str()).map(|c| &c["verdict"]);
            match label.as_str() {
                "benign" | "crawler" => {
                    if verdict.is_some_and(|v| v == "malicious") {
                        good_called_malicious += 1;
                    }
                }
                vector => {
                    let c = judged.get(client.as_str()).unwrap_or_else(|| {
                        panic!("seed {seed}: {vector} client {client} not listed")
                    });
                    assert_eq!(c["verdict"], "malicious", "seed {seed}: {c}");
                    assert_eq!(c["vector"], vector.to_string(), "seed {seed}: {c}");
                }
            }
        }
        // Under 0.5 % of good clients judged malicious.
        assert!(
            good_called_malicious * 200 < good_total,
            "seed {seed}: {good_called_malicious} of {good_total} good clients called malicious"
        );
        // Crawlers from their networks are verified, not bad bots.
        let crawlers: Vec<&&Value> = judged
            .values()
            .filter(|c| c["reasons"].to_string().contains("verified"))
            .collect();
        assert!(crawlers.iter().all(|c| c["verdict"] == "good"));
        // Each attack: all four vectors, holding the attack lines of the labels.
        let mut attack_lines: HashMap<String, u64> = HashMap::new();
        for line in std::fs::read_to_string(dir.join(format!("shop-{seed}.log.labels.csv")))
            .unwrap()
            .lines()
            .skip(1)
        {
            let label = line.split(',').nth(1).unwrap();
            if label != "benign" && label != "crawler" {
                *attack_lines.entry(label.to_string()).or_default() += 1;
            }
        }
        let attacks = a["attacks"].as_array().unwrap();
        assert_eq!(attacks.len(), 4, "seed {seed}: {attacks:?}");
        for at in attacks {
            let vector = at["vector"].as_str().unwrap();
            assert_eq!(
                at["requests"].as_u64(),
                attack_lines.get(vector).copied(),
                "seed {seed}: {vector}"
            );
        }
    }
    // Browsing and crawling alone: no attack, no malicious client.
    let log = dir.join("benign.log");
    let o = run(levee()
        .args([
            "synth",
            "--http",
            "--scenario",
            "benign",
            "--duration",
            "600",
            "--force",
            "--out",
        ])
        .arg(&log));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(levee().args(["analyze", "--json"]).arg(&log));
    let a: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        a["attacks"].as_array().unwrap().len(),
        0,
        "{}",
        a["attacks"]
    );
    assert_eq!(a["verdicts"]["malicious"], 0);
}

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn simulate_on_logs_measures_attacks_stopped_and_good_clients_hit() {
    let dir = scratch("logs-simulate");
    let log = dir.join("shop.log");
    synth_shop(&log, "1", 600);
    let rules = dir.join("rules.toml");
    std::fs::write(
        &rules,
        r#"[[rule]]
id = "scanners"
expression = 'http.user_agent contains "zgrab"'
action = "block"

[[rule]]
id = "login-limit"
expression = 'http.request.method == "POST" and http.request.uri.path == "/login"'
action = "rate_limit"
rate = 0.1
burst = 5
key = "ip.src"

[[rule]]
id = "everyone-home"
expression = 'http.request.uri.path == "/"'
action = "block"
"#,
    )
    .unwrap();
    let o = run(levee()
        .args(["simulate", "--json", "--rules"])
        .arg(&rules)
        .arg(&log));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["input"], "log");
    let rules_out = s["rules"].as_array().unwrap();
    let dropped: u64 = rules_out
        .iter()
        .map(|r| r["dropped"].as_u64().unwrap())
        .sum();
    assert_eq!(s["blocked"].as_u64().unwrap(), dropped);
    let stopped = |v: &str| {
        s["attacks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["vector"] == v)
            .map(|a| a["share"].as_f64().unwrap())
            .unwrap()
    };
    assert_eq!(stopped("http-scanner"), 1.0);
    assert!(stopped("login-abuse") > 0.7, "{}", s["attacks"]);
    // The scanner and login rules touch no good client; blocking the home page hits many.
    assert_eq!(rules_out[0]["good_clients_hit"], 0);
    assert_eq!(rules_out[1]["good_clients_hit"], 0);
    let home = rules_out[2]["good_clients_hit"].as_u64().unwrap();
    let good = s["good_clients"]["total"].as_u64().unwrap();
    assert!(home * 10 > good, "{home} of {good}");
    assert_eq!(
        s["good_clients"]["limited_or_blocked"].as_u64().unwrap(),
        home
    );

    // The honeynet's FrontPage exploit POSTs, stopped exactly.
    let Some(data) = require_shared("levee simulate on sotm34") else {
        return;
    };
    let (files, _) = sotm34_lines(&data);
    std::fs::write(
        &rules,
        "[[rule]]\nid = \"frontpage\"\nexpression = 'http.request.uri.path == \"/_vti_bin/_vti_aut/fp30reg.dll\" and http.request.method == \"POST\"'\naction = \"block\"\n",
    )
    .unwrap();
    let o = run(levee()
        .args(["simulate", "--json", "--rules"])
        .arg(&rules)
        .args(&files));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["blocked"], 587);
    assert_eq!(s["good_clients"]["limited_or_blocked"], 0);
    let text = stdout(&run(levee()
        .args(["simulate", "--rules"])
        .arg(&rules)
        .args(&files)));
    assert!(text.contains("587 blocked"), "{text}");
}

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn rules_written_for_log_attacks_stop_them_and_spare_good_clients() {
    let dir = scratch("logs-rules-out");
    let mut logs = Vec::new();
    for seed in ["1", "2"] {
        let log = dir.join(format!("shop-{seed}.log"));
        synth_shop(&log, seed, 600);
        logs.push(log);
    }
    let rules = dir.join("rules.toml");
    let o = run(levee()
        .args(["analyze", "--force", "--rules-out"])
        .arg(&rules)
        .arg(&logs[0]));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(run(levee().args(["rules", "check"]).arg(&rules))
        .status
        .success());
    // They compile for Cloudflare's WAF; packet engines refuse the HTTP fields by name.
    let o = run(levee()
        .args(["rules", "compile", "--target", "cloudflare-waf"])
        .arg(&rules));
    assert!(o.status.success(), "{}", stderr(&o));
    let waf: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(waf["phase"], "http_request_firewall_custom");
    let custom = waf["rules"].as_array().unwrap();
    assert!(custom
        .iter()
        .any(|r| r["expression"].as_str().unwrap().starts_with("ip.src in {")));
    // The rate limits are their own ruleset, each counted per source over a period.
    assert!(
        stderr(&o).contains("--target cloudflare-ratelimit"),
        "{}",
        stderr(&o)
    );
    let o = run(levee()
        .args(["rules", "compile", "--target", "cloudflare-ratelimit"])
        .arg(&rules));
    assert!(o.status.success(), "{}", stderr(&o));
    let limits: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(limits["phase"], "http_ratelimit");
    let limits = limits["rules"].as_array().unwrap();
    assert!(!limits.is_empty());
    assert!(limits.iter().all(|r| r["ratelimit"]["characteristics"]
        .as_array()
        .unwrap()
        .contains(&Value::from("cf.colo.id"))));
    assert!(limits.iter().chain(custom).any(|r| r["expression"]
        .as_str()
        .unwrap()
        .contains("http.request.uri.path in {")));
    let o = run(levee()
        .args(["rules", "compile", "--target", "nftables"])
        .arg(&rules));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("`http.request.uri.path` cannot be written for nftables"),
        "{}",
        stderr(&o)
    );
    let simulate = |log: &std::path::Path| -> Value {
        let o = run(levee()
            .args(["simulate", "--json", "--rules"])
            .arg(&rules)
            .arg(log));
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    // On the log they were written for: at least 95 % of every attack stopped, under 0.5 %
    // of good clients limited or blocked.
    let s = simulate(&logs[0]);
    let attacks = s["attacks"].as_array().unwrap();
    assert_eq!(attacks.len(), 4, "{attacks:?}");
    for a in attacks {
        assert!(a["share"].as_f64().unwrap() >= 0.95, "{a}");
    }
    let good = &s["good_clients"];
    assert!(
        good["limited_or_blocked"].as_u64().unwrap() * 200 < good["total"].as_u64().unwrap(),
        "{good}"
    );
    // On another day's log (other attackers, other people), the rate limits still spare the
    // good clients: their thresholds sit above every good client's rate.
    let s = simulate(&logs[1]);
    let good = &s["good_clients"];
    assert!(good["total"].as_u64().unwrap() > 1000, "{good}");
    assert!(
        good["limited_or_blocked"].as_u64().unwrap() * 200 < good["total"].as_u64().unwrap(),
        "{good}"
    );
    let login = s["attacks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["vector"] == "login-abuse")
        .unwrap();
    assert!(login["share"].as_f64().unwrap() > 0.9, "{login}");
    // The honeynet: all proxy abuse and scanning stopped, no good client touched.
    let Some(data) = require_shared("levee analyze --rules-out on sotm34") else {
        return;
    };
    let (files, _) = sotm34_lines(&data);
    let o = run(levee()
        .args(["analyze", "--force", "--rules-out"])
        .arg(&rules)
        .args(&files));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = run(levee()
        .args(["simulate", "--json", "--rules"])
        .arg(&rules)
        .args(&files));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    for a in s["attacks"].as_array().unwrap() {
        assert_eq!(a["share"], 1.0, "{a}");
    }
    assert_eq!(s["good_clients"]["limited_or_blocked"], 0);
}

#[test]
fn cloudflare_logs_with_ja4_unmask_scrapers_posing_as_browsers() {
    // The shop as Cloudflare HTTP request logs: each client's JA3 and JA4 beside its user
    // agent. The scrapers claim Chrome; their TLS hello is a script's.
    let dir = scratch("logs-cloudflare");
    let log = dir.join("shop.json");
    let o = run(levee()
        .args([
            "synth",
            "--http",
            "--cloudflare",
            "--sessions-per-second",
            "3",
        ])
        .args([
            "--scenario",
            "http-mix+bad-bot",
            "--seed",
            "6",
            "--duration",
            "600",
        ])
        .args(["--force", "--out"])
        .arg(&log));
    assert!(o.status.success(), "{}", stderr(&o));
    let truth = client_labels(&dir.join("shop.json.labels.csv"));
    let o = run(levee().args(["analyze", "--json"]).arg(&log));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let a: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        a["files"][0]["format"]
            .as_str()
            .unwrap()
            .starts_with("json"),
        "{}",
        a["files"]
    );
    let judged = clients_by_ip(&a);
    let (mut scrapers, mut good, mut good_malicious) = (0, 0, 0);
    for (client, label) in &truth {
        let c = judged.get(client.as_str());
        match label.as_str() {
            "bad-bot" => {
                let c = c.unwrap();
                assert_eq!(c["vector"], "bad-bot", "{c}");
                let why = c["reasons"].to_string();
                assert!(why.contains("its TLS hello is not a browser's"), "{why}");
                // Product pages and their photos, never a script: no browser.
                assert!(why.contains("runs no JavaScript"), "{why}");
                scrapers += 1;
            }
            "benign" | "crawler" => {
                good += 1;
                good_malicious += usize::from(c.is_some_and(|c| c["verdict"] == "malicious"));
            }
            vector => assert_eq!(c.unwrap()["vector"], vector, "{client}"),
        }
    }
    assert_eq!(scrapers, 25);
    assert!(
        good > 1000 && good_malicious * 200 < good,
        "{good_malicious} of {good}"
    );
    // The scrapers' JA4 is a group of its own, all malicious; the browsers' are not.
    let ja4 = a["groups"]["ja4"].as_array().unwrap();
    let scripted = ja4
        .iter()
        .find(|g| g["key"].as_str().unwrap().starts_with("t13d3109h1_"))
        .unwrap();
    assert!(
        scripted["malicious_share"].as_f64().unwrap() > 0.99,
        "{scripted}"
    );
    let chrome = ja4
        .iter()
        .find(|g| g["key"].as_str().unwrap().starts_with("t13d1516h2_"))
        .unwrap();
    assert_eq!(chrome["malicious_share"], 0.0, "{chrome}");
    // A rule on the fingerprint stops the scrapers without touching a good client.
    let rules = dir.join("ja4.toml");
    std::fs::write(
        &rules,
        format!(
            "version = 1\n\n[[rule]]\nid = \"scripted-tls-posing-as-chrome\"\naction = \"block\"\nexpression = '''tls.ja4 == \"{}\" and http.user_agent contains \"Chrome/\"'''\n",
            scripted["key"].as_str().unwrap()
        ),
    )
    .unwrap();
    let o = run(levee()
        .args(["simulate", "--json", "--rules"])
        .arg(&rules)
        .arg(&log));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    let bad_bot = s["attacks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["vector"] == "bad-bot")
        .unwrap();
    assert_eq!(bad_bot["share"], 1.0, "{bad_bot}");
    assert_eq!(
        s["good_clients"]["limited_or_blocked"], 0,
        "{}",
        s["good_clients"]
    );
}

#[test]
fn a_search_hammered_below_the_flood_rate_is_an_http_flood() {
    // Ten bots at about 100 searches a minute each: a sixth of the flood rate of a page, but
    // each an expensive query. People search now and then and are not touched.
    let dir = scratch("logs-search-flood");
    let log = dir.join("shop.log");
    let o = run(levee()
        .args(["synth", "--http", "--sessions-per-second", "3"])
        .args([
            "--scenario",
            "http-mix+search-flood",
            "--seed",
            "8",
            "--duration",
            "900",
        ])
        .args(["--force", "--out"])
        .arg(&log));
    assert!(o.status.success(), "{}", stderr(&o));
    let truth = client_labels(&dir.join("shop.log.labels.csv"));
    let rules = dir.join("rules.toml");
    let o = run(levee()
        .args(["analyze", "--json", "--force", "--rules-out"])
        .arg(&rules)
        .arg(&log));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let a: Value = serde_json::from_slice(&o.stdout).unwrap();
    let judged = clients_by_ip(&a);
    let (mut searchers, mut good, mut good_malicious) = (0, 0, 0);
    for (client, label) in &truth {
        let c = judged.get(client.as_str());
        match label.as_str() {
            "benign" | "crawler" => {
                good += 1;
                good_malicious += usize::from(c.is_some_and(|c| c["verdict"] == "malicious"));
            }
            vector => {
                let c = c.unwrap();
                assert_eq!(c["vector"], vector, "{c}");
                if c["reasons"].to_string().contains("hammering the search") {
                    assert!(c["peak_per_minute"].as_u64().unwrap() < 600, "{c}");
                    searchers += 1;
                }
            }
        }
    }
    assert_eq!(searchers, 10);
    assert!(
        good > 2000 && good_malicious * 200 < good,
        "{good_malicious} of {good}"
    );
    let o = run(levee()
        .args(["simulate", "--json", "--rules"])
        .arg(&rules)
        .arg(&log));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    for at in s["attacks"].as_array().unwrap() {
        assert!(at["share"].as_f64().unwrap() >= 0.95, "{at}");
    }
    let g = &s["good_clients"];
    assert!(
        g["limited_or_blocked"].as_u64().unwrap() * 200 < g["total"].as_u64().unwrap(),
        "{g}"
    );
}

/// A real web server's log of 2015 with no attack (`../shared/data/logs/real-site/`): its
/// crawlers came from addresses that were their operators' then but are not in today's
/// published crawler lists. They are labelled crawlers (from the operator's own blocks), a
/// claim that cannot be checked makes a client suspicious at most, and at most 1 % of the
/// clients are malicious.
#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn crawlers_of_years_ago_are_crawlers_and_a_quiet_site_has_no_attack() {
    let Some(data) = require_shared("levee analyze on the real site log") else {
        return;
    };
    let log = data.join("logs/real-site/apache_logs.part1");
    let o = run(levee().args(["analyze", "--json"]).arg(&log));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let a: Value = serde_json::from_slice(&o.stdout).unwrap();
    let v = &a["verdicts"];
    let total = ["good", "suspicious", "malicious"]
        .iter()
        .map(|k| v[k].as_u64().unwrap())
        .sum::<u64>();
    let malicious = v["malicious"].as_u64().unwrap();
    assert!(total > 900, "{v}");
    assert!(
        malicious * 100 <= total,
        "{malicious} of {total} malicious: {v}"
    );
    let crawler = |name: &str| {
        a["crawlers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} not counted: {}", a["crawlers"]))
            .clone()
    };
    // Every Bingbot of 2015 was in Microsoft's own blocks, none in today's list.
    let bing = crawler("Bingbot");
    assert_eq!(bing["unverified"], 0, "{bing}");
    assert!(bing["operator_network"].as_u64().unwrap() >= 20, "{bing}");
    let google = crawler("Googlebot");
    assert!(google["published"].as_u64().unwrap() >= 3, "{google}");
    // Baiduspider from Baidu's own /16 is verified; from its carriers' blocks it cannot be.
    let baidu = crawler("Baiduspider");
    assert!(baidu["operator_network"].as_u64().unwrap() >= 30, "{baidu}");
    for c in a["clients"].as_array().unwrap() {
        let agent = c["user_agent"].as_str().unwrap_or("").to_ascii_lowercase();
        if ["bingbot", "googlebot", "baiduspider"]
            .iter()
            .any(|t| agent.contains(t))
        {
            assert_ne!(c["verdict"], "malicious", "{c}");
        }
    }
    let text = run(levee().arg("analyze").arg(&log));
    assert!(
        stdout(&text).contains("Crawler Bingbot: 21 client(s)"),
        "{}",
        stdout(&text)
    );
}

/// With an ASN database (`--asn`), a crawler's claim from an address in none of the known
/// networks is settled: from the operator's autonomous system it holds, from another's it is
/// false (malicious), and where the database knows nothing it stays unverified (suspicious).
/// MaxMind's test database places 1.0.0.0/24 in Google's AS15169 and 12.81.92.0/22 in AT&T's.
#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn crawler_claims_are_settled_by_the_asn_database() {
    let Some(data) = require_shared("analyze --asn") else {
        return;
    };
    let dir = scratch("logs-asn");
    let log = dir.join("crawlers.log");
    let googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
    let mut text = String::new();
    // The last two are logged by host name (the server resolved them).
    let clients = [
        "1.0.0.5",
        "12.81.92.5",
        "203.0.113.9",
        "crawl-66-249-66-1.googlebot.com",
        "host-1.example.net",
    ];
    for (i, ip) in clients.iter().enumerate() {
        for page in 0..5 {
            text.push_str(&format!(
                "{ip} - - [10/Oct/2025:13:5{i}:0{page} +0000] \"GET /page/{page} HTTP/1.1\" 200 512 \"-\" \"{googlebot}\"\n"
            ));
        }
    }
    std::fs::write(&log, text).unwrap();
    let verdicts = |asn: bool| -> HashMap<String, (String, String)> {
        let mut cmd = levee();
        cmd.args(["analyze", "--json"]);
        if asn {
            cmd.arg("--asn")
                .arg(data.join("mmdb/GeoLite2-ASN-Test.mmdb"));
        }
        let o = run(cmd.arg(&log));
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let a: Value = serde_json::from_slice(&o.stdout).unwrap();
        a["clients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["ip"].as_str().unwrap().to_string(),
                    (
                        c["verdict"].as_str().unwrap().to_string(),
                        c["reasons"].to_string(),
                    ),
                )
            })
            .collect()
    };
    let with = verdicts(true);
    assert_eq!(with["12.81.92.5"].0, "malicious", "{with:?}");
    assert!(
        with["12.81.92.5"].1.contains("AS7018, not one of Google's"),
        "{with:?}"
    );
    assert_eq!(with["203.0.113.9"].0, "suspicious", "{with:?}");
    assert!(
        with["203.0.113.9"].1.contains("cannot be verified"),
        "{with:?}"
    );
    // The verified crawler is good (and listed among the busiest good clients).
    assert_eq!(with["1.0.0.5"].0, "good", "{with:?}");
    assert!(
        with["1.0.0.5"]
            .1
            .contains("verified Googlebot crawler (address in Google's AS15169)"),
        "{with:?}"
    );
    // By name: under the crawler's domain it is verified; elsewhere, unverified.
    assert_eq!(
        with["crawl-66-249-66-1.googlebot.com"].0, "good",
        "{with:?}"
    );
    assert!(
        with["crawl-66-249-66-1.googlebot.com"]
            .1
            .contains("a host name of Google's"),
        "{with:?}"
    );
    assert_eq!(with["host-1.example.net"].0, "suspicious", "{with:?}");
    // Without the database nothing settles the two claims outside the known networks.
    let without = verdicts(false);
    for ip in ["1.0.0.5", "12.81.92.5"] {
        assert_eq!(without[ip].0, "suspicious", "{ip}: {without:?}");
    }
    // A capture's packets are not judged as clients: --asn is refused there, before reading.
    let o = run(levee()
        .args(["analyze", "--asn"])
        .arg(data.join("mmdb/GeoLite2-ASN-Test.mmdb"))
        .arg(data.join("attacks/amp.UDP.isakmp.pcap")));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// `levee analyze` of `inputs` on 1, 2 and 3 threads: what it prints, to standard output and
/// to standard error, and its exit code.
/// `inputs` analysed on 1, 2 and 3 threads, then on 2 threads with no temporary directory to
/// keep the first pass's requests in (the second pass reads the inputs again): what each run
/// printed, with its name.
fn analyzed_on_threads(
    inputs: &[std::path::PathBuf],
) -> Vec<(String, Option<i32>, String, String)> {
    [
        ("1", None),
        ("2", None),
        ("3", None),
        ("2", Some("/nonexistent/levee-tmp")),
    ]
    .iter()
    .map(|&(t, tmp)| {
        let mut cmd = levee();
        cmd.args(["analyze", "--json", "--threads", t]).args(inputs);
        if let Some(tmp) = tmp {
            cmd.env("TMPDIR", tmp);
        }
        let o = run(&mut cmd);
        let name = match tmp {
            Some(_) => format!("{t} threads reading the inputs twice"),
            None => format!("{t} threads"),
        };
        (
            name,
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr(&o),
        )
    })
    .collect()
}

#[test]
fn logs_read_on_several_threads_give_one_threads_analysis() {
    let dir = scratch("logs-threads");
    let shop = dir.join("shop.log");
    synth_shop(&shop, "7", 600);
    // Damaged lines, a comment, a blank line and a gzip-compressed copy: what is told of
    // them, and the exit code, are one thread's too.
    let mut damaged = std::fs::read_to_string(&shop).unwrap();
    let at = damaged.len() / 2;
    let at = damaged[at..].find('\n').unwrap() + at + 1;
    damaged.insert_str(
        at,
        "# a comment\n\nnot a request line\n2001:db8::7 broken\n",
    );
    damaged.push_str("garbage at the end\n");
    let damaged_log = dir.join("damaged.log");
    std::fs::write(&damaged_log, &damaged).unwrap();
    let gz = dir.join("shop.log.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(damaged.as_bytes()).unwrap();
    enc.finish().unwrap();
    for inputs in [vec![shop], vec![damaged_log.clone(), gz]] {
        let code = assert_one_threads_analysis(&inputs);
        if inputs.contains(&damaged_log) {
            assert_eq!(code, Some(4), "damaged records");
        }
    }
}

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn the_shared_logs_read_on_several_threads_give_one_threads_analysis() {
    let Some(data) = require_shared("levee analyze --threads on the shared logs") else {
        return;
    };
    assert_one_threads_analysis(&sotm34_lines(&data).0);
    assert_one_threads_analysis(&[data.join("logs/real-site/apache_logs.part1")]);
}

/// Checks that `inputs` analysed on 2 and 3 threads give what one thread gives, to the byte;
/// returns the exit code.
fn assert_one_threads_analysis(inputs: &[std::path::PathBuf]) -> Option<i32> {
    let runs = analyzed_on_threads(inputs);
    let (_, code, out, err) = &runs[0];
    let a: Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("{inputs:?}: {e}\n{err}"));
    assert!(a["requests"].as_u64().unwrap() > 1000, "{inputs:?}");
    assert!(*code == Some(0) || err.contains("line "), "{err}");
    for (name, other_code, other_out, other_err) in runs.iter().skip(1) {
        assert_eq!(other_code, code, "{inputs:?} on {name}");
        assert_eq!(other_err, err, "{inputs:?} on {name}");
        assert!(
            other_out == out,
            "{inputs:?}: the analysis on {name} differs"
        );
    }
    *code
}

#[test]
fn a_browser_that_never_runs_the_sites_scripts_is_told_by_its_footprint() {
    let dir = scratch("logs-footprint");
    let log = dir.join("shop.log");
    let o = run(levee()
        .args([
            "synth",
            "--http",
            "--scenario",
            "http-mix+bad-bot",
            "--seed",
            "4",
        ])
        .args([
            "--duration",
            "600",
            "--sessions-per-second",
            "2",
            "--force",
            "--out",
        ])
        .arg(&log));
    assert!(o.status.success(), "{}", stderr(&o));
    let truth = client_labels(&dir.join("shop.log.labels.csv"));
    let o = run(levee().args(["analyze", "--json"]).arg(&log));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let a: Value = serde_json::from_slice(&o.stdout).unwrap();
    // What the shop's browsers do after a page is learned from them: its script and style,
    // and the beacon its script sends.
    let site = &a["footprint"]["site"];
    let paths = |k: &str| -> Vec<(String, f64)> {
        site[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["path"].as_str().unwrap().to_string(),
                    p["share"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let scripts = paths("scripts");
    assert!(
        scripts
            .iter()
            .any(|(p, s)| p == "/static/app.4f1c2e.js" && *s > 0.9),
        "{site}"
    );
    assert!(
        scripts.iter().all(|(p, _)| !p.starts_with("/img/")),
        "{site}"
    );
    assert_eq!(paths("calls")[0].0, "/api/collect", "{site}");
    // The scrapers fetch product pages and photos, like a browser, and never run a script.
    let judged = clients_by_ip(&a);
    let mut scrapers = 0;
    for (client, label) in &truth {
        let c = judged.get(client.as_str());
        match label.as_str() {
            "bad-bot" => {
                let c = c.unwrap();
                assert_eq!(c["verdict"], "suspicious", "{c}");
                assert!(
                    c["reasons"].to_string().contains("runs no JavaScript"),
                    "{c}"
                );
                let f = &c["footprint"];
                assert_eq!(f["runs_scripts"], false, "{c}");
                assert!(c["assets"].as_u64().unwrap() >= 10, "{c}");
                assert_eq!(f["site_scripts"], "0 of 2", "{c}");
                scrapers += 1;
            }
            // No person is suspected of running no script.
            "benign" => {
                if let Some(c) = c {
                    assert!(
                        !c["reasons"].to_string().contains("runs no JavaScript"),
                        "{c}"
                    );
                    if c["footprint"]["page_loads"].as_u64() >= Some(10) {
                        assert_eq!(c["footprint"]["runs_scripts"], true, "{c}");
                    }
                }
            }
            _ => {}
        }
    }
    assert_eq!(scrapers, 25);
    // Per user agent: the scrapers' Chrome runs scripts less often than the other browsers.
    let agents = a["footprint"]["user_agents"].as_array().unwrap();
    let share = |needle: &str| {
        agents
            .iter()
            .find(|u| {
                let ua = u["user_agent"].as_str().unwrap();
                ua.contains(needle) && !ua.contains("Edg/")
            })
            .and_then(|u| u["runs_scripts_share"].as_f64())
            .unwrap_or_else(|| panic!("{needle}: {agents:?}"))
    };
    assert!(share("Windows NT 10.0; Win64; x64) AppleWebKit") < share("Firefox/133"));
    let text = run(levee().arg("analyze").arg(&log));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("JavaScript footprint: of ") && text.contains("most call /api/collect ("),
        "{text}"
    );
}
