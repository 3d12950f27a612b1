//! `levee report` end to end: the reports of the real attack captures agree with `levee
//! analyze`; golden Markdown and JSON on a small synthesised capture; countries and ASes from
//! MaxMind's test databases checked against the JSON they were built from; and the HTML page
//! rendered in headless Chromium (screenshot, PDF, DOM) without requesting any URL, its charts
//! drawn and its key figures equal to `report.json`.

mod common;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

/// Runs `levee report` and returns the parsed `report.json`.
fn report(args: &[&str], files: &[&Path], out: &Path) -> Value {
    let o = run(levee()
        .arg("report")
        .args(files)
        .arg("--out")
        .arg(out)
        .args(args));
    assert!(
        matches!(o.status.code(), Some(0) | Some(4)),
        "report {files:?} failed: {}",
        stderr(&o)
    );
    assert!(stdout(&o).contains("Report written: "), "{}", stdout(&o));
    let text = std::fs::read_to_string(out.join("report.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn analyze_json(files: &[&Path]) -> Value {
    let o = run(levee().arg("analyze").arg("--json").args(files));
    assert!(
        matches!(o.status.code(), Some(0) | Some(4)),
        "{}",
        stderr(&o)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn synth(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let o = run(levee()
        .arg("synth")
        .args(args)
        .arg("--out")
        .arg(&out)
        .arg("--force"));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    out
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn reports_of_the_real_attack_captures_agree_with_analyze() {
    let Some(d) = require_shared("reports of the real captures") else {
        return;
    };
    let dir = scratch("report-real");
    let mut caps: Vec<PathBuf> = std::fs::read_dir(d.join("attacks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    caps.sort();
    assert!(caps.len() >= 4, "{caps:?}");
    for cap in &caps {
        let name = cap.file_name().unwrap().to_string_lossy().to_string();
        let out = dir.join(&name);
        let r = report(&[], &[cap], &out);
        let a = analyze_json(&[cap]);
        let ra = &r["analysis"];
        assert_eq!(ra["capture"]["packets"], a["capture"]["packets"], "{name}");
        assert_eq!(ra["capture"]["bytes"], a["capture"]["bytes"], "{name}");
        let (ours, theirs) = (
            ra["attacks"].as_array().unwrap(),
            a["attacks"].as_array().unwrap(),
        );
        assert!(!theirs.is_empty(), "{name}: analyze finds no attack");
        assert_eq!(ours.len(), theirs.len(), "{name}");
        assert_eq!(r["summary"]["attacks"], theirs.len(), "{name}");
        assert_eq!(r["attacks"].as_array().unwrap().len(), theirs.len());
        let md = std::fs::read_to_string(out.join("report.md")).unwrap();
        let html = std::fs::read_to_string(out.join("report.html")).unwrap();
        for (x, y) in ours.iter().zip(theirs) {
            for field in [
                "vector", "packets", "bytes", "peak_pps", "peak_bps", "start", "end",
            ] {
                assert_eq!(x[field], y[field], "{name}: {field}");
            }
            assert_eq!(x["signature"], y["signature"], "{name}");
            // The same figures are what a person reads in the Markdown and HTML.
            let packets = thousands(y["packets"].as_u64().unwrap());
            let vector = y["vector"].as_str().unwrap();
            assert!(md.contains(&format!("| {vector} |")), "{name}: {vector}");
            assert!(md.contains(&packets), "{name}: {packets} not in report.md");
            assert!(
                html.contains(&packets),
                "{name}: {packets} not in report.html"
            );
        }
        // The per-attack histograms count exactly the attack's packets.
        for (sec, at) in r["attacks"].as_array().unwrap().iter().zip(ours) {
            let ttl: u64 = sec["ttl_histogram"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p[1].as_u64().unwrap())
                .sum();
            assert_eq!(
                ttl,
                at["packets"].as_u64().unwrap(),
                "{name}: TTL histogram"
            );
            let len: u64 = sec["length_histogram"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["packets"].as_u64().unwrap())
                .sum();
            assert_eq!(len, ttl, "{name}: length histogram");
            assert!(!sec["samples"].as_array().unwrap().is_empty(), "{name}");
            // The recommended rule stops what the signature covers.
            let stopped = sec["stopped_share"].as_f64().unwrap();
            let coverage = at["signature"]["coverage"].as_f64().unwrap();
            assert!(stopped >= coverage - 1e-9, "{name}: {stopped} < {coverage}");
            for e in sec["rules"].as_array().unwrap() {
                if e["text"].is_string() {
                    // Every compiled rule says what it was compiled from and what that stops.
                    let cov = e["coverage"].as_f64().expect("coverage");
                    assert!(e["collateral"].is_f64() && e["expression"].is_string());
                    if e["target"] == "bpf" || e["target"] == "nftables" {
                        // These engines express every field: the signature itself.
                        assert_eq!(e["expression"], at["signature"]["expression"], "{name}");
                        assert_eq!(cov, coverage);
                    } else if e["note"].is_string() {
                        // An alternative, named and measured, when the signature cannot be.
                        assert_ne!(e["expression"], at["signature"]["expression"]);
                    }
                } else {
                    assert!(e["refused"].is_string(), "{name}: {e}");
                }
            }
            let engines: Vec<&str> = sec["rules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["target"].as_str().unwrap())
                .collect();
            for t in ["nftables", "iptables", "bpf", "cloudflare"] {
                assert!(engines.contains(&t), "{name}: no {t} rule");
            }
        }
        // The timeline adds up to the capture.
        let total: u64 = r["timeline"]["series"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["packets"].as_array().unwrap().iter())
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(total, a["capture"]["packets"].as_u64().unwrap(), "{name}");
        assert!(r["timeline"]["series"].as_array().unwrap().len() <= 1 + theirs.len());
        // Without databases, the report says so instead of showing empty tables.
        assert!(r["enrichment"]["note"]
            .as_str()
            .unwrap()
            .contains("unavailable"));
        assert!(html.contains("unavailable (no database)"));
        // The report stays small: aggregated series, not one point per packet.
        let size = std::fs::metadata(out.join("report.html")).unwrap().len();
        assert!(size < 2_000_000, "{name}: report.html is {size} bytes");
    }
}

/// A small capture whose report is kept as golden files.
#[test]
fn golden_markdown_and_json_of_a_small_capture() {
    let dir = scratch("report-golden");
    synth(
        &dir,
        "small.pcap",
        &[
            "--scenario",
            "ntp-reflection",
            "--packets",
            "3000",
            "--seed",
            "5",
        ],
    );
    // Relative names, so the documents do not depend on where the tests run.
    let o = run(levee()
        .current_dir(&dir)
        .args(["report", "small.pcap", "--out", "out"]));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let md = std::fs::read_to_string(dir.join("out/report.md")).unwrap();
    let json = std::fs::read_to_string(dir.join("out/report.json")).unwrap();
    assert_golden("report-small.md", &md);
    assert_golden("report-small.json", &json);
}

#[test]
fn report_refuses_to_replace_files_and_bad_databases_before_reading() {
    let dir = scratch("report-refusals");
    let cap = synth(
        &dir,
        "a.pcap",
        &["--scenario", "dns-reflection", "--packets", "2000"],
    );
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("report.md"), "the user's own notes").unwrap();
    let o = run(levee().arg("report").arg(&cap).arg("--out").arg(&out));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("report.md exists"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(out.join("report.md")).unwrap(),
        "the user's own notes"
    );
    assert!(!out.join("report.html").exists());
    // A database that is not one is refused up front, naming the file.
    let bogus = dir.join("bogus.mmdb");
    std::fs::write(&bogus, b"not a database").unwrap();
    let o = run(levee()
        .arg("report")
        .arg(&cap)
        .arg("--out")
        .arg(dir.join("out2"))
        .arg("--geoip")
        .arg(&bogus));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("bogus.mmdb"), "{}", stderr(&o));
    assert!(!dir.join("out2").exists());
    // --force replaces the report files only.
    let o = run(levee()
        .arg("report")
        .arg(&cap)
        .arg("--out")
        .arg(&out)
        .arg("--force"));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(std::fs::read_to_string(out.join("report.md"))
        .unwrap()
        .starts_with("# Attack report"));
    assert!(!std::fs::read_dir(&out).unwrap().any(|e| e
        .unwrap()
        .path()
        .extension()
        .is_some_and(|x| x == "partial")));
}

#[test]
fn report_reads_standard_input_and_measures_given_rules() {
    let dir = scratch("report-stdin-rules");
    let cap = synth(
        &dir,
        "a.pcap",
        &["--scenario", "syn-flood", "--packets", "4000"],
    );
    let rules = dir.join("rules.toml");
    std::fs::write(
        &rules,
        "version = 1\n[[rule]]\nid = 'all-syn'\nexpression = 'tcp.flags.syn and not tcp.flags.ack'\naction = 'block'\n",
    )
    .unwrap();
    let out = dir.join("out");
    let o = run(levee()
        .arg("report")
        .arg("-")
        .arg("--out")
        .arg(&out)
        .arg("--rules")
        .arg(&rules)
        .stdin(std::fs::File::open(&cap).unwrap()));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(r["analysis"]["capture"]["files"][0]["name"], "-");
    assert_eq!(r["mitigation"]["source"], "given");
    assert_eq!(r["mitigation"]["simulation"]["rules"][0]["id"], "all-syn");
    // Blocking every SYN stops the whole flood, and the benign clients' SYNs with it.
    assert!(r["summary"]["rules_stop_attack_share"].as_f64().unwrap() > 0.999);
    assert!(r["summary"]["good_packets_stopped"].as_u64().unwrap() > 0);
    assert!(r["mitigation"]["rules_toml"]
        .as_str()
        .unwrap()
        .contains("all-syn"));
}

/// Prefixes of a MaxMind test database's source JSON with the value `pick` takes from each.
fn mmdb_json(path: &Path, pick: impl Fn(&Value) -> Option<String>) -> Vec<(ipnet::IpNet, String)> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut out = Vec::new();
    for entry in v.as_array().unwrap() {
        for (net, rec) in entry.as_object().unwrap() {
            if let (Ok(n), Some(x)) = (net.parse::<ipnet::IpNet>(), pick(rec)) {
                out.push((n, x));
            }
        }
    }
    out
}

/// Longest-prefix match.
fn lookup(table: &[(ipnet::IpNet, String)], ip: IpAddr) -> Option<String> {
    table
        .iter()
        .filter(|(n, _)| n.contains(&ip))
        .max_by_key(|(n, _)| n.prefix_len())
        .map(|(_, v)| v.clone())
}

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn countries_and_ases_come_from_the_databases_given() {
    let Some(d) = require_shared("report enrichment") else {
        return;
    };
    let mmdb = d.join("mmdb");
    let countries = mmdb_json(&mmdb.join("GeoLite2-Country-Test.json"), |r| {
        r["country"]["iso_code"].as_str().map(str::to_string)
    });
    let asns = mmdb_json(&mmdb.join("GeoLite2-ASN-Test.json"), |r| {
        r["autonomous_system_number"]
            .as_u64()
            .map(|n| format!("AS{n}"))
    });
    assert!(countries.len() > 10 && asns.len() > 100);
    let dir = scratch("report-enrich");
    // Reflectors from five networks the test databases know (or half know): SE, BT, US, GB,
    // and a network only the AS database holds.
    let nets = "89.160.20.128/25,67.43.156.0/24,216.160.83.56/29,81.2.69.160/27,1.128.0.0/24";
    let cap = synth(
        &dir,
        "refl.pcap",
        &[
            "--scenario",
            "dns-reflection",
            "--packets",
            "20000",
            "--reflectors",
            nets,
        ],
    );
    let out = dir.join("out");
    let r = report(
        &[
            "--geoip",
            mmdb.join("GeoLite2-Country-Test.mmdb").to_str().unwrap(),
            "--asn",
            mmdb.join("GeoLite2-ASN-Test.mmdb").to_str().unwrap(),
        ],
        &[&cap],
        &out,
    );
    assert!(r["enrichment"]["note"].is_null());
    let sec = r["attacks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["vector"] == "dns-reflection")
        .expect("the reflection is found");
    // Every top source's country and AS is the one the database's source JSON gives.
    let rows = sec["top_sources"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    for row in rows {
        let ip: IpAddr = row["ip"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            row["country"].as_str().map(str::to_string),
            lookup(&countries, ip),
            "{ip}"
        );
        assert_eq!(
            row["asn"].as_str().map(str::to_string),
            lookup(&asns, ip),
            "{ip}"
        );
    }
    // Each of the five networks holds about a fifth of the reflectors, so of the packets.
    let shares = |tallies: &Value| -> HashMap<String, f64> {
        tallies
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["name"].as_str().unwrap().into(),
                    t["share"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let (countries, ases) = (shares(&sec["countries"]), shares(&sec["asns"]));
    for (tally, names) in [
        (&countries, &["SE", "BT", "US", "GB", "unknown"][..]),
        (&ases, &["AS29518", "AS35908", "AS209", "AS1221"][..]),
    ] {
        for name in names {
            let got = tally.get(*name).copied().unwrap_or(0.0);
            assert!((got - 0.2).abs() < 0.07, "{name}: {got} in {tally:?}");
        }
    }
    let top_country = r["summary"]["top_source_country"]["name"].as_str().unwrap();
    assert!(
        ["SE", "BT", "US", "GB"].contains(&top_country),
        "{top_country}"
    );
    assert!(r["summary"]["top_source_asn"]["name"]
        .as_str()
        .unwrap()
        .starts_with("AS"));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(!html.contains("unavailable (no database)"));
    assert!(html.contains("AS29518"));
}

/// Requests a page made, from a Chromium net log: URL requests started on behalf of a page
/// (the browser's own background requests carry no initiator and are left out).
fn page_requests(netlog: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(netlog).unwrap();
    // Chromium may be stopped before it closes the JSON array of events.
    let v: Value = serde_json::from_str(&text)
        .or_else(|_| serde_json::from_str(&format!("{}]}}", text.trim_end().trim_end_matches(','))))
        .expect("a net log");
    let start_job = v["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
        .as_u64()
        .expect("URL_REQUEST_START_JOB in the net log's constants");
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"].as_u64() == Some(start_job))
        .filter(|e| e["params"]["initiator"].as_str() != Some("not an origin"))
        .filter_map(|e| e["params"]["url"].as_str().map(str::to_string))
        .collect()
}

/// Runs headless Chromium on `page` with `args`, logging the network to `netlog`.
fn chromium(page: &Path, netlog: &Path, profile: &Path, args: &[&str]) -> std::process::Output {
    let url = format!("file://{}", page.display());
    run(std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--log-net-log={}", netlog.display()))
        .args(args)
        .arg(url))
}

/// Every `data-figure` of a page with its `data-value`.
fn figures(dom: &str) -> HashMap<String, String> {
    let re = regex::Regex::new(r#"data-figure="([^"]+)" data-value="([^"]*)""#).unwrap();
    re.captures_iter(dom)
        .map(|c| (c[1].to_string(), c[2].to_string()))
        .collect()
}

#[test]
#[cfg_attr(not(levee_has_chromium), ignore = "needs chromium")]
fn the_page_renders_offline_in_chromium_with_charts_and_the_figures_of_the_json() {
    if !require_tool("report in chromium", "chromium") {
        return;
    }
    let dir = scratch("report-chromium");
    // The net-log check must be able to fail: a page that loads an image is caught.
    let control = dir.join("control.html");
    std::fs::write(
        &control,
        "<!doctype html><html><body><img src=\"http://127.0.0.1:9/pixel.png\"></body></html>",
    )
    .unwrap();
    let log = dir.join("control-net.json");
    chromium(&control, &log, &dir.join("profile0"), &["--dump-dom"]);
    assert_eq!(page_requests(&log), vec!["http://127.0.0.1:9/pixel.png"]);

    let cap = synth(
        &dir,
        "multi.pcap",
        &["--scenario", "multi", "--packets", "30000"],
    );
    let out = dir.join("out");
    let r = report(&[], &[&cap], &out);
    let page = out.join("report.html");

    // The DOM after loading: the charts are drawn and the figures are those of the JSON.
    let log = dir.join("dom-net.json");
    let o = chromium(&page, &log, &dir.join("profile1"), &["--dump-dom"]);
    let dom = stdout(&o);
    assert!(dom.contains("</html>"), "no DOM: {}", stderr(&o));
    assert_eq!(page_requests(&log), Vec::<String>::new());
    let max_re = regex::Regex::new(r#"data-max="([0-9.]+)""#).unwrap();
    let areas = regex::Regex::new(r#"<path class="area" d="([^"]+)""#).unwrap();
    for id in ["timeline-pps", "timeline-bps"] {
        let start = dom.find(&format!("id=\"{id}\"")).expect(id);
        let svg = &dom[start..start + dom[start..].find("</svg>").unwrap()];
        let max: f64 = max_re.captures(svg).unwrap()[1].parse().unwrap();
        assert!(max > 0.0, "{id}: empty chart");
        let drawn: Vec<usize> = areas
            .captures_iter(svg)
            .map(|c| c[1].matches('L').count())
            .collect();
        // One band per vector and one for the rest, each drawn over many buckets.
        assert_eq!(
            drawn.len(),
            r["timeline"]["series"].as_array().unwrap().len(),
            "{id}"
        );
        assert!(drawn.iter().all(|&n| n > 100), "{id}: {drawn:?}");
        assert_eq!(svg.matches("class=\"window\"").count(), 3, "{id}");
    }
    let bars = regex::Regex::new(r#"<rect class="bar"[^>]* data-value="([0-9]+)""#).unwrap();
    let filled = bars.captures_iter(&dom).filter(|c| &c[1] != "0").count();
    assert!(filled >= 6, "histograms have {filled} filled bars");

    let f = figures(&dom);
    let num = |k: &str| -> f64 {
        f.get(k)
            .unwrap_or_else(|| panic!("no figure {k} in the page"))
            .parse()
            .unwrap()
    };
    let s = &r["summary"];
    assert_eq!(num("attacks"), s["attacks"].as_f64().unwrap());
    assert_eq!(
        num("largest_pps"),
        s["largest_pps"]["value"].as_f64().unwrap()
    );
    assert_eq!(
        num("largest_bps"),
        s["largest_bps"]["value"].as_f64().unwrap()
    );
    assert_eq!(
        num("attack_duration_s"),
        s["attack_duration_s"].as_f64().unwrap()
    );
    assert_eq!(
        num("rules_stop_attack_share"),
        s["rules_stop_attack_share"].as_f64().unwrap()
    );
    assert_eq!(
        num("rules_stop_good_share"),
        s["rules_stop_good_share"].as_f64().unwrap()
    );
    assert_eq!(
        num("capture_packets"),
        r["analysis"]["capture"]["packets"].as_f64().unwrap()
    );
    assert_eq!(f["main_target"], s["main_target"]["name"].as_str().unwrap());
    for a in r["analysis"]["attacks"].as_array().unwrap() {
        let id = a["id"].as_u64().unwrap();
        assert_eq!(
            num(&format!("attack-{id}-packets")),
            a["packets"].as_f64().unwrap()
        );
        assert_eq!(
            num(&format!("attack-{id}-peak_pps")),
            a["peak_pps"].as_f64().unwrap()
        );
        assert_eq!(
            num(&format!("attack-{id}-coverage")),
            a["signature"]["coverage"].as_f64().unwrap()
        );
        assert_eq!(
            num(&format!("attack-{id}-collateral")),
            a["signature"]["collateral"].as_f64().unwrap()
        );
    }
    // What a person reads next to each figure is the same number, rounded.
    let text_of = |k: &str| -> String {
        let re = regex::Regex::new(&format!(r#"data-figure="{k}" data-value="[^"]*">([^<]*)<"#))
            .unwrap();
        re.captures(&dom).unwrap()[1].to_string()
    };
    let kpps = s["largest_pps"]["value"].as_f64().unwrap() / 1e3;
    assert_eq!(text_of("largest_pps"), format!("{kpps:.1} kpps"));
    assert_eq!(text_of("attacks"), "3");
    let share = s["rules_stop_attack_share"].as_f64().unwrap() * 100.0;
    let shown = text_of("rules_stop_attack_share").replace("&gt;", ">");
    if share > 99.99 && share < 100.0 {
        // Rounding must not claim everything was stopped when a few packets were not.
        assert_eq!(shown, ">99.99%");
    } else {
        assert_eq!(shown, format!("{share:.2}%"));
    }

    // The screenshot shows the charts in their colours.
    let png = dir.join("report.png");
    let log = dir.join("png-net.json");
    let o = chromium(
        &page,
        &log,
        &dir.join("profile2"),
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1100,1500",
        ],
    );
    assert!(png.exists(), "no screenshot: {}", stderr(&o));
    assert_eq!(page_requests(&log), Vec::<String>::new());
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1100, 1500));
    let channels = info.line_size / info.width as usize;
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(channels).collect();
    let count = |rgb: [u8; 3]| pixels.iter().filter(|p| p[..3] == rgb).count();
    // The first three series' colours (syn-flood, dns-reflection, ntp-reflection) fill areas.
    for rgb in [[0xd1, 0x49, 0x5b], [0xed, 0xae, 0x49], [0x00, 0x79, 0x8c]] {
        assert!(
            count(rgb) > 2_000,
            "colour {rgb:02x?} covers {} pixels",
            count(rgb)
        );
    }

    // The PDF a customer gets when printing the page.
    let pdf = dir.join("report.pdf");
    let log = dir.join("pdf-net.json");
    let o = chromium(
        &page,
        &log,
        &dir.join("profile3"),
        &[
            &format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer",
        ],
    );
    let bytes = std::fs::read(&pdf).unwrap_or_else(|e| panic!("no PDF ({e}): {}", stderr(&o)));
    assert!(bytes.starts_with(b"%PDF-"));
    assert!(bytes.len() > 50_000, "PDF of {} bytes", bytes.len());
    assert_eq!(page_requests(&log), Vec::<String>::new());
}

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn report_on_two_threads_equals_one_thread() {
    let Some(d) = require_shared("report on two threads") else {
        return;
    };
    let dir = scratch("report-threads");
    let cap = d.join("attacks/amp.UDP.bacnet.IOT.37810.pcapng");
    let one = report(&[], &[&cap], &dir.join("one"));
    let two = report(&["--threads", "2"], &[&cap], &dir.join("two"));
    assert_eq!(one["summary"]["attacks"], two["summary"]["attacks"]);
    assert_eq!(one["timeline"], two["timeline"]);
    assert_eq!(
        one["mitigation"]["simulation"],
        two["mitigation"]["simulation"]
    );
    for (x, y) in one["attacks"]
        .as_array()
        .unwrap()
        .iter()
        .zip(two["attacks"].as_array().unwrap())
    {
        // Exact counts and the earliest packets are the same whatever the threads.
        for field in [
            "ttl_histogram",
            "length_histogram",
            "source_ports",
            "destination_ports",
            "samples",
            "stopped_packets",
            "rules",
        ] {
            assert_eq!(x[field], y[field], "{field}");
        }
    }
}

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn reports_of_access_logs_agree_with_analyze_and_simulate() {
    let dir = scratch("report-logs");
    let log = dir.join("shop.log");
    synth_shop(&log, "3", 600);
    let r = report(&[], &[&log], &dir.join("shop"));
    assert_eq!(r["input"], "log");
    let a = analyze_json(&[&log]);
    // The analysis inside the report is analyze's, unchanged.
    assert_eq!(r["analysis"]["attacks"], a["attacks"]);
    assert_eq!(r["analysis"]["verdicts"], a["verdicts"]);
    let vectors: Vec<&str> = r["summary"]["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for v in ["http-flood", "login-abuse", "cache-busting", "http-scanner"] {
        assert!(vectors.contains(&v), "{v} missing from {vectors:?}");
    }
    // The recommended rules, measured: what `levee simulate` says of the same rules.
    let rules = dir.join("rules.toml");
    std::fs::write(&rules, r["mitigation"]["rules_toml"].as_str().unwrap()).unwrap();
    let o = run(levee()
        .args(["simulate", "--json", "--rules"])
        .arg(&rules)
        .arg(&log));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let sim: Value = serde_json::from_slice(&o.stdout).unwrap();
    let mine = &r["mitigation"]["simulation"];
    assert_eq!(mine["attacks"], sim["attacks"]);
    assert_eq!(mine["good_clients"], sim["good_clients"]);
    assert_eq!(mine["rules"], sim["rules"]);
    let s = &r["summary"];
    assert!(
        s["rules_stop_attack_share"].as_f64().unwrap() >= 0.95,
        "{s}"
    );
    assert_eq!(
        s["good_clients_limited_or_blocked"],
        sim["good_clients"]["limited_or_blocked"]
    );
    // The timeline adds up to the log, each attack's series to its requests.
    let series = r["timeline"]["series"].as_array().unwrap();
    let total: u64 = series
        .iter()
        .flat_map(|x| x["packets"].as_array().unwrap())
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(total, a["requests"].as_u64().unwrap());
    for at in a["attacks"].as_array().unwrap() {
        let x = series.iter().find(|x| x["name"] == at["vector"]).unwrap();
        let n: u64 = x["packets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .sum();
        assert_eq!(n, at["requests"].as_u64().unwrap(), "{}", at["vector"]);
    }
    // Both HTTP engines, compiled; the page and the Markdown carry the same figures.
    let compiled = r["mitigation"]["compiled"].as_array().unwrap();
    for t in ["cloudflare-waf", "nginx"] {
        let e = compiled.iter().find(|e| e["target"] == t).unwrap();
        assert!(e["text"].as_str().is_some_and(|x| x.len() > 100), "{e}");
    }
    let page = std::fs::read_to_string(dir.join("shop/report.html")).unwrap();
    let f = figures(&page);
    assert_eq!(f["requests"], a["requests"].to_string());
    assert_eq!(
        f["attacks"],
        a["attacks"].as_array().unwrap().len().to_string()
    );
    assert_eq!(
        f["rules_stop_attack_share"].parse::<f64>().unwrap(),
        s["rules_stop_attack_share"].as_f64().unwrap()
    );
    assert!(page.contains("limit_req_zone") && page.contains("cf.colo.id"));
    assert!(page.contains("requests/s") && !page.contains("packets/s"));
    let md = std::fs::read_to_string(dir.join("shop/report.md")).unwrap();
    assert!(md.contains("### Attack #1: "), "{md}");
    assert!(md.contains(&format!(
        "Requests: {}",
        thousands(a["requests"].as_u64().unwrap())
    )));

    // The honeynet's logs, read from standard input with a rules file of the user's.
    let Some(data) = require_shared("levee report on sotm34") else {
        return;
    };
    let honeynet = data.join("logs/sotm34/access_log");
    let out = dir.join("honeynet");
    let o = run(levee()
        .args(["report", "-", "--rules"])
        .arg(&rules)
        .arg("--out")
        .arg(&out)
        .stdin(std::fs::File::open(&honeynet).unwrap()));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(r["mitigation"]["source"], "given");
    assert_eq!(r["files"][0]["name"], "-");
    assert!(r["summary"]["vectors"]
        .as_array()
        .unwrap()
        .contains(&Value::from("http-scanner")));
}
