//! `levee monitor` and `levee incidents` as a user runs them: a synthetic SYN flood played
//! into the monitor is one incident with start, escalation and end alerts on standard
//! output; people acknowledge, note and resolve it; a monitor stopped by SIGTERM leaves the
//! incident active, one killed by SIGKILL too, and a monitor started again continues it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

fn levee() -> Command {
    Command::new(env!("CARGO_BIN_EXE_levee"))
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

fn flood(dir: &Path) -> PathBuf {
    let out = dir.join("flood.pcap");
    let o = run(levee()
        .args([
            "synth",
            "--scenario",
            "syn-flood",
            "--packets",
            "60000",
            "--out",
        ])
        .arg(&out));
    assert!(o.status.success(), "{o:?}");
    out
}

fn incidents(db: &Path, args: &[&str]) -> Output {
    run(levee().arg("incidents").args(args).arg("--db").arg(db))
}

fn json(o: &Output) -> Value {
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn a_flood_played_into_the_monitor_is_an_incident_people_work_on() {
    let dir = tempfile::tempdir().unwrap();
    let capture = flood(dir.path());
    let db = dir.path().join("incidents.db");
    let o = run(levee()
        .args(["monitor", "--read"])
        .arg(&capture)
        .arg("--db")
        .arg(&db)
        .arg("--evidence")
        .arg(dir.path().join("evidence"))
        .arg("--metrics")
        .arg(dir.path().join("levee.prom"))
        .args(["--alerts", "-"]));
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let alerts: Vec<Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = alerts
        .iter()
        .map(|a| a["alert"].as_str().unwrap())
        .collect();
    // A start, escalations as the flood's peak doubles, an end.
    assert_eq!(kinds.first(), Some(&"start"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"end"), "{kinds:?}");
    assert!(kinds.len() >= 3, "{kinds:?}");
    assert!(
        kinds[1..kinds.len() - 1].iter().all(|k| *k == "escalation"),
        "{kinds:?}"
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("START      incident 1: syn-flood on 10.10.10.10"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "1 incidents opened, {} alerts (0 not delivered)",
            kinds.len()
        )),
        "{stderr}"
    );

    // The counters, as node_exporter's textfile collector reads them.
    let metrics = std::fs::read_to_string(dir.path().join("levee.prom")).unwrap();
    for line in [
        "# TYPE levee_packets_total counter".to_string(),
        "levee_packets_total 60000".to_string(),
        "levee_incidents_opened_total 1".to_string(),
        "levee_incidents_active 0".to_string(),
        format!("levee_alerts_total {}", kinds.len()),
        "levee_alert_failures_total 0".to_string(),
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line}: {metrics}");
    }
    assert!(!dir.path().join("levee.prom.tmp").exists());

    let list = json(&incidents(&db, &["list", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["vector"], "syn-flood");
    assert_eq!(list[0]["status"], "open");
    assert_eq!(list[0]["active"], false);

    // The incident's packets, as a capture levee itself analyses to the same attack.
    let sample = list[0]["samples"][0].as_str().unwrap().to_string();
    assert_eq!(
        Path::new(&sample),
        dir.path().join("evidence").join("incident-1.pcap")
    );
    let analysis = json(&run(levee().args(["analyze", "--json"]).arg(&sample)));
    assert_eq!(analysis["attacks"][0]["vector"], "syn-flood", "{analysis}");
    let packets = analysis["capture"]["packets"].as_u64().unwrap();
    assert!((10_000..=66_384).contains(&packets), "{packets}");
    // And its report, made when the attack ended, as `levee report` makes one.
    let report = dir.path().join("evidence/incident-1-report");
    let r: Value =
        serde_json::from_slice(&std::fs::read(report.join("report.json")).unwrap()).unwrap();
    assert_eq!(r["analysis"]["attacks"][0]["vector"], "syn-flood", "{r}");
    assert!(report.join("report.html").exists() && report.join("report.md").exists());

    let o = incidents(&db, &["ack", "1", "--owner", "alice"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let o = incidents(&db, &["note", "1", "customer informed", "--by", "alice"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    // The nftables rule, ready for `nft -f`.
    let o = incidents(&db, &["show", "1", "--rule", "nftables"]);
    let rule = String::from_utf8(o.stdout).unwrap();
    assert!(
        rule.contains("table netdev levee {") && rule.contains("ip daddr 10.10.10.10"),
        "{rule}"
    );
    let o = incidents(&db, &["show", "1", "--rule", "junos"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let o = incidents(
        &db,
        &["resolve", "1", "--why", "upstream filtered", "--by", "bob"],
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    // Resolving twice is refused.
    assert_eq!(incidents(&db, &["resolve", "1"]).status.code(), Some(1));

    let shown = json(&incidents(&db, &["show", "1", "--json"]));
    assert_eq!(shown["status"], "resolved");
    assert_eq!(shown["owner"], "alice");
    let history: Vec<(String, String)> = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["change"].as_str().unwrap().into(),
                h["actor"].as_str().unwrap().into(),
            )
        })
        .collect();
    // The monitor's changes (an `updated` for each rise short of an escalation), then
    // people's.
    let people = [
        ("ended", "levee monitor"),
        ("sample", "levee monitor"),
        ("report", "levee monitor"),
        ("acknowledged", "alice"),
        ("note", "alice"),
        ("resolved", "bob"),
    ]
    .map(|(c, a)| (c.to_string(), a.to_string()));
    assert_eq!(history[0].0, "started", "{shown}");
    assert!(history.ends_with(&people), "{shown}");
    let samples = history.iter().filter(|(c, _)| c == "sample").count();
    assert_eq!(samples, 2, "begun, then written: {shown}");
    let escalated = history.iter().filter(|(c, _)| c == "escalated").count();
    assert_eq!(escalated, kinds.len() - 2, "{shown}");
    // Resolved incidents leave the default list.
    assert_eq!(
        json(&incidents(&db, &["list", "--json"])),
        Value::Array(vec![])
    );
    assert_eq!(
        json(&incidents(&db, &["list", "--all", "--json"]))
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn only_the_protected_networks_attacks_become_incidents_and_a_bad_list_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let capture = flood(dir.path());
    let monitor = |networks: &Path, db: &Path| {
        run(levee()
            .args(["monitor", "--read"])
            .arg(&capture)
            .arg("--db")
            .arg(db)
            .arg("--networks")
            .arg(networks)
            .arg("--metrics")
            .arg(dir.path().join("levee.prom"))
            .args(["--alerts", "-"]))
    };
    // The flood's target is in customer-a.
    let nets = dir.path().join("networks.txt");
    std::fs::write(
        &nets,
        "# our customers\n10.10.10.0/24 customer-a\n192.0.2.0/24 customer-b pps=50\n",
    )
    .unwrap();
    let db = dir.path().join("a.db");
    let o = monitor(&nets, &db);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("protecting the 2 networks of")
            && stderr.contains("syn-flood on 10.10.10.10 [customer-a]"),
        "{stderr}"
    );
    let list = json(&incidents(&db, &["list", "--all", "--json"]));
    assert_eq!(list[0]["network"], "customer-a", "{list}");
    // Not protected: nothing, and the metrics say an attack was left aside.
    std::fs::write(&nets, "192.0.2.0/24 customer-b\n").unwrap();
    let db = dir.path().join("b.db");
    let o = monitor(&nets, &db);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(o.stdout.is_empty(), "no alert: {o:?}");
    let metrics = std::fs::read_to_string(dir.path().join("levee.prom")).unwrap();
    assert!(
        metrics.contains("levee_attacks_ignored_total 1"),
        "{metrics}"
    );
    // A bad line is named, and nothing is created.
    std::fs::write(&nets, "10.10.10.0/24 customer-a\n10.10.10.0/33 oops\n").unwrap();
    let db = dir.path().join("c.db");
    let o = monitor(&nets, &db);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("networks.txt: line 2: `10.10.10.0/33` is not a prefix"),
        "{stderr}"
    );
    assert!(!db.exists());
    let o = monitor(&dir.path().join("missing.txt"), &db);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
}

#[test]
fn incidents_refuses_what_it_cannot_do() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("none.db");
    // No database there: nothing is created.
    assert_eq!(incidents(&db, &["list"]).status.code(), Some(3));
    assert!(!db.exists());
    assert_eq!(
        run(levee().args(["incidents", "list"])).status.code(),
        Some(2)
    );
    // A file that is not a database is refused and left alone.
    let junk = dir.path().join("notes.txt");
    std::fs::write(&junk, "my notes").unwrap();
    assert_eq!(incidents(&junk, &["list"]).status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&junk).unwrap(), "my notes");
    let o = run(levee()
        .args(["monitor", "--read"])
        .arg(&junk)
        .arg("--db")
        .arg(dir.path().join("m.db")));
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert!(
        !dir.path().join("m.db").exists(),
        "a capture that cannot be read creates no database"
    );
    let o = run(levee()
        .args(["monitor", "--quiet", "0", "--read", "x", "--db"])
        .arg(dir.path().join("m.db")));
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    for bad in [["--webhook", "ftp://x"], ["--syslog", "udp:/x"]] {
        let o = run(levee()
            .args(["monitor", "--read", "x", "--db"])
            .arg(dir.path().join("m.db"))
            .args(bad));
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {o:?}");
        assert!(
            !dir.path().join("m.db").exists(),
            "a mistake creates no database"
        );
    }
    // Outputs are never written over the input.
    let capture = dir.path().join("empty.pcap");
    std::fs::write(&capture, "").unwrap();
    for args in [
        vec!["--db", capture.to_str().unwrap()],
        vec![
            "--db",
            dir.path().join("m.db").to_str().unwrap(),
            "--alerts",
            capture.to_str().unwrap(),
        ],
    ] {
        let o = run(levee()
            .args(["monitor", "--read"])
            .arg(&capture)
            .args(&args));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {o:?}");
        assert_eq!(std::fs::read(&capture).unwrap(), b"");
    }
}

/// Plays `capture` at its own pace into a monitor on `db`, signals it after `after`, and
/// returns its output.
fn signalled(capture: &Path, db: &Path, signal: &str, after: Duration) -> Output {
    let child = levee()
        .args(["monitor", "--realtime", "--read"])
        .arg(capture)
        .arg("--db")
        .arg(db)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let _ = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status();
    child.wait_with_output().unwrap()
}

#[test]
fn a_stopped_or_killed_monitor_leaves_its_incident_active_and_the_next_continues_it() {
    let dir = tempfile::tempdir().unwrap();
    let capture = flood(dir.path());
    let db = dir.path().join("incidents.db");
    // The flood lasts three seconds; stopped in its third, the attack is not over.
    let o = signalled(&capture, &db, "-TERM", Duration::from_millis(2500));
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("active incidents stay active"));
    let shown = json(&incidents(&db, &["show", "1", "--json"]));
    assert_eq!(shown["active"], true, "{shown}");
    assert_eq!(
        shown["history"].as_array().unwrap().last().unwrap()["change"],
        "stopped"
    );

    // Killed outright: no word written, the incident still active.
    let o = signalled(&capture, &db, "-KILL", Duration::from_millis(2500));
    assert_eq!(o.status.code(), None, "{o:?}");
    let shown = json(&incidents(&db, &["show", "1", "--json"]));
    assert_eq!(shown["active"], true, "{shown}");

    // Started again on the whole flood: the same incident, continued and ended.
    let o = run(levee()
        .args(["monitor", "--read"])
        .arg(&capture)
        .arg("--db")
        .arg(&db)
        .args(["--alerts", "-"]));
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("0 incidents opened"), "{stderr}");
    assert!(
        stderr.contains("1 incidents continued after a restart"),
        "{stderr}"
    );
    let list = json(&incidents(&db, &["list", "--all", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let shown = json(&incidents(&db, &["show", "1", "--json"]));
    assert_eq!(shown["active"], false, "{shown}");
    let changes: Vec<&str> = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["change"].as_str().unwrap())
        .collect();
    let stopped = changes.iter().position(|c| *c == "stopped").unwrap();
    // Two restarts (after the stop, after the kill), each continuing the incident.
    assert_eq!(
        changes[stopped..]
            .iter()
            .filter(|c| **c == "restarted")
            .count(),
        2,
        "{changes:?}"
    );
    assert!(
        changes[stopped..]
            .iter()
            .filter(|c| **c == "resumed")
            .count()
            >= 2,
        "{changes:?}"
    );
    assert_eq!(changes.last(), Some(&"ended"), "{changes:?}");
}

/// Sends `signal` (`-HUP`...) to a process.
fn signal(child: &std::process::Child, signal: &str) {
    let ok = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// `--config FILE` gives every setting, and SIGHUP takes the file again while the traffic
/// plays: a flood under a threshold too high to see it is found once the file lowers the
/// threshold, and told to the alerts file the new configuration names (not the old one). A
/// broken file on SIGHUP changes nothing and is said; other options do not go with --config.
#[test]
fn sighup_takes_the_configuration_file_again_while_the_monitor_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cap = d.join("cap.pcap");
    // 5 s: web traffic, a SYN flood over its middle.
    let o = run(levee()
        .args(["synth", "--scenario", "syn-flood", "--packets", "20000"])
        .args(["--attack-share", "0.5", "--out"])
        .arg(&cap));
    assert!(o.status.success(), "{o:?}");
    let config = d.join("levee.toml");
    let write = |min_pps: &str, alerts: &str| {
        std::fs::write(
            &config,
            format!(
                "read = {:?}\nrealtime = true\ndb = {:?}\nalerts = [{:?}]\nquiet = 2\n\
                 min_pps = {min_pps}\n",
                cap,
                d.join("incidents.db"),
                d.join(alerts)
            ),
        )
        .unwrap();
    };
    write("1000000", "before.jsonl");
    let child = levee()
        .args(["monitor", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // A broken file first: nothing changes.
    std::fs::write(&config, "min_pps = \"many\"\n").unwrap();
    signal(&child, "-HUP");
    std::thread::sleep(Duration::from_millis(200));
    write("1000", "after.jsonl");
    signal(&child, "-HUP");
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("not taken again, the settings stay as they were"),
        "{err}"
    );
    assert!(
        err.contains("taken again: min_pps 1000, quiet 2 s, 1 alert sinks"),
        "{err}"
    );
    let before = std::fs::read_to_string(d.join("before.jsonl")).unwrap();
    assert_eq!(before, "", "nothing reached the threshold of 1 Mpps");
    let after = std::fs::read_to_string(d.join("after.jsonl")).unwrap();
    let alerts: Vec<Value> = after
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        alerts
            .iter()
            .any(|a| a["alert"] == "start" && a["incident"]["vector"] == "syn-flood"),
        "{after}"
    );

    // --config goes with no other setting, and the file must name one input and a database.
    let o = run(levee()
        .args(["monitor", "--config"])
        .arg(&config)
        .args(["--min-pps", "5"]));
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    std::fs::write(&config, "db = \"x.db\"\n").unwrap();
    let o = run(levee().args(["monitor", "--config"]).arg(&config));
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("exactly one of read"));
    std::fs::write(&config, "read = \"c.pcap\"\ndb = \"x.db\"\nthreshold = 3\n").unwrap();
    let o = run(levee().args(["monitor", "--config"]).arg(&config));
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("unknown field"),
        "{o:?}"
    );
}

/// The example configuration in `dist/` (the one the systemd unit reads) is taken as it is,
/// with only its input and paths pointed at a capture and a scratch directory; the unit runs
/// the monitor with it and reloads it with SIGHUP.
#[test]
fn the_shipped_configuration_and_unit_work_together() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let example = std::fs::read_to_string(root.join("dist/monitor.toml")).unwrap();
    let unit = std::fs::read_to_string(root.join("dist/levee-monitor.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/bin/levee monitor --config /etc/levee/monitor.toml")
    );
    assert!(unit.contains("ExecReload=/bin/kill -HUP $MAINPID"));
    assert!(unit.contains("KillSignal=SIGTERM"));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cap = flood(d);
    let config = example
        .replace("interface = \"eth0\"", &format!("read = {cap:?}"))
        .replace("/var/lib/levee", &d.display().to_string())
        .replace("/var/log/levee", &d.display().to_string());
    assert_ne!(config, example);
    let path = d.join("monitor.toml");
    std::fs::write(&path, config).unwrap();
    let o = run(levee().args(["monitor", "--config"]).arg(&path));
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let alerts = std::fs::read_to_string(d.join("alerts.jsonl")).unwrap();
    assert!(alerts.contains("\"vector\":\"syn-flood\""), "{alerts}");
    assert!(d.join("levee.prom").exists());
    assert!(std::fs::read_dir(d.join("evidence")).unwrap().count() > 0);
    // Its networks line, taken up as it stands.
    let protected = std::fs::read_to_string(&path)
        .unwrap()
        .replace(
            "# networks = \"/etc/levee/networks.txt\"",
            &format!("networks = {:?}", d.join("networks.txt")),
        )
        .replace("incidents.db", "protected.db")
        .replace("alerts.jsonl", "protected.jsonl");
    assert!(protected.contains("\nnetworks = "), "{protected}");
    std::fs::write(&path, protected).unwrap();
    std::fs::write(d.join("networks.txt"), "10.10.10.0/24 customer-a\n").unwrap();
    let o = run(levee().args(["monitor", "--config"]).arg(&path));
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let alerts = std::fs::read_to_string(d.join("protected.jsonl")).unwrap();
    assert!(alerts.contains("\"network\":\"customer-a\""), "{alerts}");
}

/// `levee monitor --log`: a web shop's access log, written while the monitor follows it and
/// rotated halfway (logrotate's `create`), raises the web attacks `levee analyze` finds in
/// the whole log: the same vectors with the same clients, each an incident counted in
/// requests with the rule blocking its clients (nginx's too), ended once the log is quiet.
#[test]
fn a_followed_access_log_raises_the_web_attacks_of_analyze_through_a_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let shop = d.join("shop.log");
    let o = run(levee()
        .args([
            "synth",
            "--http",
            "--scenario",
            "http-mix",
            "--duration",
            "300",
            "--out",
        ])
        .arg(&shop));
    assert!(o.status.success(), "{o:?}");
    let analysis = json(&run(levee().args(["analyze", "--json"]).arg(&shop)));
    let mut expected: Vec<(String, u64)> = analysis["attacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["vector"].as_str().unwrap().to_string(),
                a["clients"].as_u64().unwrap(),
            )
        })
        .collect();
    expected.sort();
    assert!(expected.len() >= 3, "{expected:?}");

    let log = d.join("access.log");
    std::fs::write(&log, "").unwrap();
    let (db, alerts) = (d.join("incidents.db"), d.join("alerts.jsonl"));
    let mut monitor = Started(
        levee()
            .args(["monitor", "--log"])
            .arg(&log)
            .arg("--db")
            .arg(&db)
            .arg("--alerts")
            .arg(&alerts)
            .args(["--quiet", "5"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map(Some)
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(500));
    // The server writes the first half, then the log is rotated and the rest goes to a new
    // file under the same name.
    let text = std::fs::read_to_string(&shop).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let half = lines.len() / 2;
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    for chunk in lines[..half].chunks(5000) {
        use std::io::Write;
        f.write_all((chunk.join("\n") + "\n").as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(f);
    std::thread::sleep(Duration::from_millis(300));
    std::fs::rename(&log, d.join("access.log.1")).unwrap();
    std::fs::write(&log, lines[half..].join("\n") + "\n").unwrap();
    let ended = |vectors: usize| {
        std::fs::read_to_string(&alerts)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"alert\":\"end\""))
            .count()
            >= vectors
    };
    let written = std::time::Instant::now();
    while !ended(expected.len()) && written.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = monitor.stop();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{} requests;",
            levee_analyze::units::thousands(lines.len() as u64)
        )),
        "every request read once: {stderr}"
    );
    let list = json(&incidents(&db, &["list", "--all", "--json"]));
    let mut found: Vec<(String, u64)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["vector"].as_str().unwrap().to_string(),
                i["sources"].as_u64().unwrap(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(found, expected, "{stderr}");
    for i in list.as_array().unwrap() {
        assert_eq!(i["measure"], "requests", "{i}");
        assert_eq!(i["active"], false, "ended once the log was quiet: {i}");
        assert_eq!(i["target"], log.display().to_string());
        assert!(
            i["rules"]["nginx"]
                .as_str()
                .is_some_and(|r| r.contains("403")),
            "{i}"
        );
    }
    assert!(stderr.contains(" rps"), "{stderr}");
}

/// `--metrics-listen`: Prometheus scrapes the counters over HTTP while the monitor runs, and
/// they move as the traffic does.
#[test]
fn the_metrics_are_served_over_http_while_the_monitor_runs() {
    use std::io::{BufRead, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(&log, "").unwrap();
    let mut monitor = Started(
        levee()
            .args(["monitor", "--log"])
            .arg(&log)
            .arg("--db")
            .arg(dir.path().join("incidents.db"))
            .args(["--metrics-listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map(Some)
            .unwrap(),
    );
    let child = monitor.0.as_mut().unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let addr = first
        .split("metrics at http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("{first}"))
        .to_string();
    let scrape = || {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !scrape().contains("levee_requests_total 0") {
        assert!(std::time::Instant::now() < deadline, "{}", scrape());
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::write(
        &log,
        "192.0.2.1 - - [15/Jan/2026:12:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"x\"\n",
    )
    .unwrap();
    while !scrape().contains("levee_requests_total 1") {
        assert!(std::time::Instant::now() < deadline, "{}", scrape());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(scrape().contains("# TYPE levee_incidents_active gauge"));
    let mut child = monitor.0.take().unwrap();
    signal(&child, "-TERM");
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0), "{rest}");
}

/// A monitor a test started: killed if the test fails before it stops it, so no monitor
/// outlives a failed test.
struct Started(Option<std::process::Child>);

impl Started {
    /// Stops it with SIGTERM and collects what it wrote.
    fn stop(&mut self) -> Output {
        let child = self.0.take().expect("started once, stopped once");
        signal(&child, "-TERM");
        child.wait_with_output().unwrap()
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
