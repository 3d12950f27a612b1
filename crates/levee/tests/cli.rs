//! The command line as a user runs it: the demo, synth then summary, JSON golden output, stdin
//! and compressed input, exit codes, refusal to overwrite, damaged and unreadable inputs, and
//! the whole tcpdump test corpus without a panic or a hang.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn synth(dir: &Path, name: &str, args: &[&str]) -> std::path::PathBuf {
    let out = dir.join(name);
    let o = run(levee().args(["synth", "--out"]).arg(&out).args(args));
    assert!(o.status.success(), "{}", stderr(&o));
    out
}

fn summary_json(args: &[&std::ffi::OsStr]) -> (serde_json::Value, std::process::Output) {
    let o = run(levee().arg("summary").arg("--json").args(args));
    let v = serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
    (v, o)
}

#[test]
fn demo_runs_with_no_files_and_shows_the_attacks_with_signatures() {
    let dir = scratch("demo");
    let o = run(levee().arg("demo").arg("--dir").arg(&dir));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    for want in [
        "Attack 1: syn-flood",
        "dns-reflection",
        "ntp-reflection",
        "signature  ip.dst == 10.10.10.10 and tcp.flags == 0x02 and tcp.dstport == 80",
        "signature  ip.dst == 10.10.10.10 and udp.srcport == 123",
    ] {
        assert!(text.contains(want), "missing `{want}` in:\n{text}");
    }
    assert!(
        text.contains(
            "together they drop 54000 of 60000 packets (90.0%): 0 of the traffic that belongs \
             to no attack"
        ),
        "{text}"
    );
    assert!(
        text.contains("attack 2 (dns-reflection): 100.00% stopped"),
        "{text}"
    );
    assert!(dir.join("demo-rules.toml").exists());
    let html = dir.join("report").join("report.html");
    assert!(
        text.contains(&format!("Report for the customer: {}", html.display())),
        "{text}"
    );
    for name in ["report.html", "report.md", "report.json"] {
        assert!(dir.join("report").join(name).exists(), "{name}");
    }
    assert!(dir.join("demo-attack.pcap").exists());
    assert!(dir.join("demo-attack.pcap.labels.csv").exists());
}

#[test]
fn synth_then_summary_reports_what_was_generated() {
    let dir = scratch("synth-summary");
    let cap = synth(&dir, "flood.pcap", &["--packets", "20000", "--seed", "7"]);
    let labels = std::fs::read_to_string(dir.join("flood.pcap.labels.csv")).unwrap();
    let attack: u64 = labels
        .lines()
        .filter(|l| l.ends_with("attack:syn-flood"))
        .map(|l| {
            let f: Vec<u64> = l.split(',').take(2).map(|x| x.parse().unwrap()).collect();
            f[1] - f[0] + 1
        })
        .sum();
    assert_eq!(attack, 18_000);
    let (v, o) = summary_json(&[cap.as_os_str()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(v["packets"], 20_000);
    assert_eq!(v["top_destinations"][0]["ip"], "10.10.10.10");
    assert_eq!(v["top_destination_ports"][0]["port"], 80);
    assert_eq!(v["top_source_ports"].as_array().unwrap().len(), 10);
    let o = run(levee().args(["summary", "--json", "--top", "0"]).arg(&cap));
    assert!(o.status.success(), "{}", stderr(&o));
    // Nearly every flood packet has its own source: the estimate must see that.
    let distinct = v["distinct_sources_estimate"].as_u64().unwrap() as f64;
    assert!((distinct - 18_000.0).abs() / 18_000.0 < 0.05, "{distinct}");
    let tcp = v["protocols"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["path"] == "eth:ipv4:tcp")
        .unwrap();
    assert!(tcp["packets"].as_u64().unwrap() > 18_000);
    let series_total: u64 = v["series"]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["packets"].as_u64().unwrap())
        .sum();
    assert_eq!(series_total, 20_000);
}

#[test]
fn summary_json_matches_the_golden_file() {
    let dir = scratch("golden");
    let cap = synth(&dir, "small.pcap", &["--packets", "400", "--seed", "3"]);
    let o = run(Command::new(env!("CARGO_BIN_EXE_levee"))
        .current_dir(&dir)
        .args(["summary", "--json", "--top", "5", "small.pcap"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let _ = cap;
    let got = stdout(&o);
    assert_golden("summary-small.json", &got);
}

#[test]
fn stdin_and_gzip_give_the_same_summary_as_the_file() {
    let dir = scratch("stdin-gzip");
    let cap = synth(&dir, "c.pcap", &["--packets", "3000"]);
    let bytes = std::fs::read(&cap).unwrap();
    let gz_path = dir.join("c.pcap.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz_path).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(&bytes).unwrap();
    gz.finish().unwrap();
    let (plain, _) = summary_json(&[cap.as_os_str()]);
    let (gzipped, _) = summary_json(&[gz_path.as_os_str()]);
    let mut child = levee()
        .args(["summary", "--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let piped: serde_json::Value =
        serde_json::from_slice(&child.wait_with_output().unwrap().stdout).unwrap();
    for v in [&gzipped, &piped] {
        assert_eq!(v["packets"], plain["packets"]);
        assert_eq!(v["protocols"], plain["protocols"]);
        assert_eq!(v["top_sources"], plain["top_sources"]);
    }
    assert_eq!(gzipped["files"][0]["compression"], "gzip");
}

#[test]
fn several_files_are_merged() {
    let dir = scratch("merge");
    let a = synth(&dir, "a.pcap", &["--packets", "1000", "--seed", "1"]);
    let b = synth(
        &dir,
        "b.pcap",
        &["--packets", "500", "--seed", "2", "--scenario", "benign"],
    );
    let (v, o) = summary_json(&[a.as_os_str(), b.as_os_str()]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(v["packets"], 1500);
    assert_eq!(v["files"][1]["packets"], 500);
}

#[test]
fn synth_never_overwrites_without_force() {
    let dir = scratch("no-overwrite");
    let target = dir.join("precious.pcap");
    std::fs::write(&target, b"user data").unwrap();
    let o = run(levee()
        .args(["synth", "--packets", "10", "--out"])
        .arg(&target));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&target).unwrap(), b"user data");
    let o = run(levee()
        .args(["synth", "--packets", "10", "--force", "--out"])
        .arg(&target));
    assert!(o.status.success());
}

#[test]
fn unreadable_input_exits_3_and_the_rest_is_still_summarised() {
    let dir = scratch("unreadable");
    let good = synth(&dir, "good.pcap", &["--packets", "100"]);
    let text = dir.join("notes.txt");
    std::fs::write(&text, "not a capture").unwrap();
    let missing = dir.join("missing.pcap");
    let (v, o) = summary_json(&[good.as_os_str(), text.as_os_str(), missing.as_os_str()]);
    assert_eq!(o.status.code(), Some(3));
    let err = stderr(&o);
    assert!(
        err.contains("notes.txt: not a pcap or pcapng capture"),
        "{err}"
    );
    assert!(err.contains("missing.pcap: cannot read"), "{err}");
    assert_eq!(v["packets"], 100);
}

#[test]
fn damaged_records_exit_4_with_file_record_and_offset() {
    let dir = scratch("damaged");
    let cap = synth(&dir, "d.pcap", &["--packets", "50"]);
    let mut bytes = std::fs::read(&cap).unwrap();
    bytes.truncate(bytes.len() - 5);
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &bytes).unwrap();
    let (v, o) = summary_json(&[cut.as_os_str()]);
    assert_eq!(o.status.code(), Some(4));
    let err = stderr(&o);
    assert!(
        err.contains("cut.pcap: record 49 at byte offset") && err.contains("truncated record"),
        "{err}"
    );
    assert_eq!(v["packets"], 49);
    assert_eq!(v["damage"]["records_skipped"], 1);
    assert_eq!(v["damage"]["by_kind"]["truncated_record"], 1);
}

#[test]
fn fields_prints_tab_separated_values_and_refuses_unknown_names() {
    let dir = scratch("fields");
    let cap = synth(
        &dir,
        "f.pcap",
        &["--packets", "200", "--scenario", "benign"],
    );
    let o = run(levee().arg("fields").arg(&cap).args([
        "-e",
        "ip.dst",
        "-e",
        "tcp.flags.str",
        "-e",
        "dns.qry.name",
    ]));
    assert!(o.status.success());
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 200);
    assert!(
        out.lines().any(|l| l.starts_with("10.10.10.10\tS\t")),
        "{out}"
    );
    assert!(out.lines().any(|l| l.ends_with("example.com")), "{out}");
    let o = run(levee().arg("fields").arg(&cap).args(["-e", "ip.bogus"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown field `ip.bogus`"));
}

#[test]
fn a_million_spoofed_sources_fit_in_bounded_memory() {
    let dir = scratch("memory");
    let cap = synth(&dir, "big.pcap", &["--packets", "1000000", "--seed", "11"]);
    // The capture is mapped (about 115 MiB of address space); the analysis itself must fit in
    // what is left of 384 MiB, whatever the number of distinct sources (about 900 000 here).
    let o = run(&mut summary_within_address_space(393_216, &cap));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["packets"], 1_000_000);
    let distinct = v["distinct_sources_estimate"].as_u64().unwrap() as f64;
    assert!(
        (distinct - 900_000.0).abs() / 900_000.0 < 0.05,
        "{distinct}"
    );
}

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn real_attack_captures_summarise_to_their_known_shape() {
    let Some(shared) = require_shared("real_attack_captures_summarise") else {
        return;
    };
    // (file, packets, victim, the dominant port: "dst" for a direct flood, "src" for the
    // service port of a reflection)
    let cases = [
        // BACnet (47808) and DVR (37810) reflectors both: BACnet dominates.
        (
            "amp.UDP.bacnet.IOT.37810.pcapng",
            9617,
            "10.10.10.1",
            ("src", "udp", 47808),
        ),
        (
            "amp.UDP.isakmp.pcap",
            3984,
            "10.10.10.10",
            ("src", "udp", 4500),
        ),
        (
            "amp.TCP.reflection.SYNACK.pcap",
            8000,
            "10.10.10.10",
            ("src", "tcp", 80),
        ),
        (
            "pkt.TCP.synflood.spoofed.pcap",
            37841,
            "10.10.10.10",
            ("dst", "tcp", 25565),
        ),
    ];
    for (name, packets, victim, (side, proto, port)) in cases {
        let f = shared.join("attacks").join(name);
        let (v, o) = summary_json(&[f.as_os_str()]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        assert_eq!(v["packets"], packets, "{name}");
        assert_eq!(v["top_destinations"][0]["ip"], victim, "{name}");
        let list = if side == "src" {
            "top_source_ports"
        } else {
            "top_destination_ports"
        };
        assert_eq!(v[list][0]["proto"], proto, "{name}");
        assert_eq!(v[list][0]["port"], port, "{name}");
        if name.contains("37810") {
            assert_eq!(v["top_source_ports"][1]["port"], 37810, "{name}");
        }
        // The mean rate is packets over the time from the first to the last packet.
        let span = v["end_epoch"].as_f64().unwrap() - v["start_epoch"].as_f64().unwrap();
        let mean = v["series"]["mean_pps"].as_f64().unwrap();
        assert!(
            (mean - packets as f64 / span).abs() / mean < 0.01,
            "{name}: {mean}"
        );
        let paths: Vec<&str> = v["protocols"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["path"].as_str().unwrap())
            .collect();
        assert!(
            !paths.iter().any(|p| p.ends_with("icmp:data")),
            "{name}: {paths:?}"
        );
    }
}

#[test]
fn a_closed_output_pipe_is_not_a_crash() {
    let dir = scratch("pipe");
    let cap = synth(&dir, "p.pcap", &["--packets", "20000"]);
    for args in [
        vec!["fields", "--list"],
        vec!["summary", "--json"],
        vec!["fields", "-e", "ip.src"],
    ] {
        let mut cmd = levee();
        cmd.args(&args);
        if args[0] != "fields" || args[1] != "--list" {
            cmd.arg(&cap);
        }
        // The reader takes nothing and closes its end at once.
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert!(
            matches!(out.status.code(), Some(0)),
            "{args:?}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn bad_arguments_exit_2() {
    let o = run(levee().args(["summary"]));
    assert_eq!(o.status.code(), Some(2));
    let o = run(levee().args(["frobnicate"]));
    assert_eq!(o.status.code(), Some(2));
}

/// `levee summary --json FILE` in a shell whose address space is limited to `kib` KiB, so that
/// an allocation beyond it fails instead of passing unnoticed.
fn summary_within_address_space(kib: u64, file: &Path) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "ulimit -v {kib} && exec \"$0\" summary --json \"$1\""
        ))
        .arg(env!("CARGO_BIN_EXE_levee"))
        .arg(file);
    cmd
}

/// Runs a command with a deadline; kills it and fails when the deadline passes.
fn run_with_deadline(cmd: &mut Command, deadline: Duration) -> std::process::ExitStatus {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            panic!("timed out after {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn every_tcpdump_test_capture_is_summarised_without_panic_or_hang() {
    let Some(shared) = require_shared("every_tcpdump_test_capture") else {
        return;
    };
    let files = tcpdump_corpus(&shared, &["pcap", "pcapng", "cap"]);
    assert!(files.len() > 800, "{} captures found", files.len());
    let mut by_code = std::collections::BTreeMap::new();
    for f in &files {
        // 512 MiB of address space at most: a damaged length must never make levee allocate
        // what the file claims.
        let status = run_with_deadline(
            &mut summary_within_address_space(524_288, f),
            Duration::from_secs(20),
        );
        let code = status.code();
        assert!(
            matches!(code, Some(0 | 3 | 4)),
            "{}: exit {:?} (a panic exits 101, a signal has no code)",
            f.display(),
            status
        );
        *by_code.entry(code.unwrap()).or_insert(0) += 1;
    }
    eprintln!("{} captures by exit code: {by_code:?}", files.len());
}

/// ARCHITECTURE.md lists the crates in dependency order: each crate's `[dependencies]` name
/// only crates above it, so the list (and the README's sentence saying so) stays true.
#[test]
fn each_crate_depends_only_on_the_crates_above_it() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let order: Vec<String> = doc
        .lines()
        .skip_while(|l| !l.starts_with("## Crates, in dependency order"))
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect();
    let crates: Vec<String> = std::fs::read_dir(root.join("crates"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        order.iter().collect::<BTreeSet<_>>(),
        crates.iter().collect::<BTreeSet<_>>(),
        "ARCHITECTURE.md lists {order:?}"
    );
    for (i, name) in order.iter().enumerate() {
        let manifest =
            std::fs::read_to_string(root.join("crates").join(name).join("Cargo.toml")).unwrap();
        let deps: Vec<&str> = manifest
            .lines()
            .skip_while(|l| l.trim() != "[dependencies]")
            .skip(1)
            .take_while(|l| !l.starts_with('['))
            .filter_map(|l| l.split('=').next())
            .map(str::trim)
            .filter(|d| d.starts_with("levee"))
            .collect();
        for d in deps {
            let at = order.iter().position(|o| o == d);
            assert!(
                at.is_some_and(|at| at < i),
                "{name} depends on {d}, which ARCHITECTURE.md does not list above it"
            );
        }
    }
}

/// Functions longer than this are split (generated tables and tests aside).
const LONGEST_FUNCTION: usize = 150;

/// Every crate's `src` directory with its Rust files: (crate name, `src`, files).
fn library_sources() -> Vec<(String, std::path::PathBuf, Vec<std::path::PathBuf>)> {
    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                rust_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut sources = Vec::new();
    for krate in std::fs::read_dir(&crates).unwrap() {
        let krate = krate.unwrap().path();
        let src = krate.join("src");
        if !src.is_dir() {
            continue;
        }
        let name = krate.file_name().unwrap().to_string_lossy().to_string();
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        sources.push((name, src, files));
    }
    sources
}

/// Every function of the library and binary sources (outside `mod tests`), as (file under
/// `crates/`, name, lines from its signature to its closing brace).
fn function_lengths() -> Vec<(String, String, usize)> {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found = Vec::new();
    for (_, _, files) in library_sources() {
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            let name = file.strip_prefix(&crates).unwrap().display().to_string();
            for (i, line) in lines.iter().enumerate() {
                let trimmed = line.trim_start();
                if trimmed.starts_with("mod tests") {
                    break;
                }
                let indent = &line[..line.len() - trimmed.len()];
                let signature = trimmed
                    .trim_start_matches("pub(crate) ")
                    .trim_start_matches("pub ")
                    .trim_start_matches("const ");
                let Some(rest) = signature.strip_prefix("fn ") else {
                    continue;
                };
                let fn_name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                // A declaration, or a body on its signature's line (a trait's default `{}`).
                if trimmed.ends_with(';') || trimmed.ends_with('}') {
                    found.push((name.clone(), fn_name, 1));
                    continue;
                }
                let closing = format!("{indent}}}");
                if let Some(end) = lines[i..].iter().position(|l| *l == closing) {
                    found.push((name.clone(), fn_name, end + 1));
                }
            }
        }
    }
    found
}

/// No function of the crates' sources is longer than [`LONGEST_FUNCTION`] lines; `main.rs` is
/// argument handling and dispatch, under 300 lines.
#[test]
fn functions_stay_short_and_main_stays_thin() {
    let lengths = function_lengths();
    assert!(lengths.len() > 500, "the scan finds the functions");
    for (file, name, n) in &lengths {
        assert!(
            *n <= LONGEST_FUNCTION,
            "{file}: fn {name} is {n} lines, longer than {LONGEST_FUNCTION}: split it"
        );
    }
    let main =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/main.rs")).unwrap();
    assert!(
        main.lines().count() < 300,
        "main.rs is {} lines: it parses arguments and dispatches",
        main.lines().count()
    );
}

/// `levee fields --list` prints every declared field once, with its type, its layer and the
/// targets whose compilers express it.
#[test]
fn fields_list_prints_each_declared_field_with_its_targets() {
    let out = stdout(&run(levee().args(["fields", "--list"])));
    let rows: Vec<Vec<&str>> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), levee_decode::FIELDS.len());
    for (row, def) in rows.iter().zip(levee_decode::FIELDS) {
        assert_eq!(row[0], def.name);
    }
    let row = |name: &str| rows.iter().find(|r| r[0] == name).unwrap().clone();
    assert_eq!(row("ip.src")[1], "ip");
    assert!(row("ip.dst")[3].split(',').any(|t| t == "nftables"));
    assert!(row("tcp.flags.syn")[3].contains("iptables"));
    assert_eq!(row("http.host")[3], "cloudflare-waf,nginx");
    // No engine levee compiles for reads DNS question names.
    assert_eq!(row("dns.qry.name")[3], "-");
}

/// The modules of each crate that one module names (`crate::name`), outside comments and
/// tests: (crate, module) -> the modules it names.
fn module_references() -> Vec<(String, String, BTreeSet<String>)> {
    let mut found: Vec<(String, String, BTreeSet<String>)> = Vec::new();
    for (name, src, files) in library_sources() {
        for file in files {
            let rel = file.strip_prefix(&src).unwrap();
            let first = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            let module = first.trim_end_matches(".rs").to_string();
            if module == "lib" || module == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            let mut names = BTreeSet::new();
            for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for (at, _) in line.match_indices("crate::") {
                    let rest = &line[at + "crate::".len()..];
                    let group = rest.strip_prefix('{').map(|g| g.split('}').next().unwrap());
                    let heads: Vec<&str> = match group {
                        Some(g) => g.split(',').collect(),
                        None => vec![rest],
                    };
                    for head in heads {
                        let head: String = head
                            .trim()
                            .chars()
                            .take_while(|c| {
                                c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'
                            })
                            .collect();
                        if !head.is_empty() && head != module {
                            names.insert(head);
                        }
                    }
                }
            }
            match found
                .iter_mut()
                .find(|(c, m, _)| *c == name && *m == module)
            {
                Some((_, _, n)) => n.extend(names),
                None => found.push((name.clone(), module, names)),
            }
        }
    }
    found
}

/// Every library documents what it makes public: each warns on a missing doc (and clippy,
/// run before every commit, turns a warning into a failure), beside its `//!` overview.
#[test]
fn every_library_warns_on_missing_docs() {
    let libraries: Vec<_> = library_sources()
        .into_iter()
        .filter(|(_, src, _)| src.join("lib.rs").is_file())
        .collect();
    assert!(libraries.len() >= 11, "the scan finds the libraries");
    for (name, src, _) in libraries {
        let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
        assert!(
            lib.starts_with("//!"),
            "{name}: lib.rs opens with its //! overview"
        );
        assert!(
            lib.lines().any(|l| l.trim() == "#![warn(missing_docs)]"),
            "{name}: lib.rs lacks #![warn(missing_docs)]"
        );
    }
}

/// No two modules of a crate need each other, but for the real nesting of protocols in
/// levee-decode (a link layer carries IP, IP carries tunnels, a tunnel carries a link layer or
/// IP again).
#[test]
fn no_module_cycle_but_the_nesting_of_link_tunnel_and_ip() {
    let refs = module_references();
    assert!(
        refs.len() > 60,
        "the scan finds the modules: {}",
        refs.len()
    );
    let named = |krate: &str, module: &str| -> BTreeSet<String> {
        refs.iter()
            .find(|(c, m, _)| c == krate && m == module)
            .map(|(_, _, n)| n.clone())
            .unwrap_or_default()
    };
    let reaches = |krate: &str, from: &str, to: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(m) = todo.pop() {
            for n in named(krate, &m) {
                if n == to {
                    return true;
                }
                if seen.insert(n.clone()) {
                    todo.push(n);
                }
            }
        }
        false
    };
    let nesting = ["ip", "link", "tunnel"];
    let mut cycles = Vec::new();
    for (krate, module, names) in &refs {
        for n in names {
            let allowed = krate == "levee-decode"
                && nesting.contains(&module.as_str())
                && nesting.contains(&n.as_str());
            if !allowed && reaches(krate, n, module) {
                cycles.push(format!("{krate}: {module} <-> {n}"));
            }
        }
    }
    assert!(cycles.is_empty(), "module cycles: {cycles:?}");
    assert!(
        reaches("levee-decode", "link", "ip") && reaches("levee-decode", "ip", "link"),
        "the scan sees the one cycle that is allowed"
    );
}
