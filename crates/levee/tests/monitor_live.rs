//! `levee monitor --interface` on a real interface: in a network namespace, benign captures
//! and then each shared attack capture are replayed with tcpreplay into one end of a veth
//! pair while the monitor watches the other. The benign replays raise nothing; each attack's
//! start alert arrives within a second of its first packet being sent (measured and printed),
//! with the vector and target `levee analyze` finds in the same file and a rule that stops the
//! attack and none of the benign traffic, as `levee simulate` counts.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{levee, require_shared, require_tool, Netns};
use serde_json::Value;

/// An attack ends after this many quiet seconds: short, so the test moves on.
const QUIET_S: &str = "2";

struct Watching {
    child: Child,
    alerts: Receiver<(Instant, Value)>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Watching {
    /// Starts `levee monitor --interface` inside the namespace and waits until it listens.
    fn start(ns: &Netns, db: &Path) -> Watching {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns.name, env!("CARGO_BIN_EXE_levee")])
            .args(["monitor", "--interface", &ns.peer, "--alerts", "-"])
            .args(["--quiet", QUIET_S, "--db"])
            .arg(db)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("levee monitor starts");
        let (tx, alerts) = channel();
        let out = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                let alert: Value = serde_json::from_str(&line).expect("alerts are JSON lines");
                if tx.send((Instant::now(), alert)).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready) = channel();
        let lines = Arc::clone(&stderr);
        let err = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                if line.contains("levee: monitoring interface") {
                    let _ = ready_tx.send(());
                }
                lines.lock().unwrap().push(line);
            }
        });
        if ready.recv_timeout(Duration::from_secs(10)).is_err() {
            let _ = child.kill();
            panic!(
                "the monitor did not start: {:?}",
                stderr.lock().unwrap().join("\n")
            );
        }
        Watching {
            child,
            alerts,
            stderr,
        }
    }

    /// The alerts that arrive within `wait`, or until one for which `enough` holds.
    fn alerts_until(
        &self,
        wait: Duration,
        enough: impl Fn(&[(Instant, Value)]) -> bool,
    ) -> Vec<(Instant, Value)> {
        let until = Instant::now() + wait;
        let mut got = Vec::new();
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match self.alerts.recv_timeout(left) {
                Ok(a) => got.push(a),
                Err(_) => break,
            }
            if enough(&got) {
                break;
            }
        }
        got
    }

    /// Stops the monitor with SIGTERM; its standard error.
    fn stop(mut self) -> String {
        // `ip netns exec` executes the monitor in its own place: the child is the monitor.
        // SAFETY: a signal to a child process this test started and has not reaped.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the monitor did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(100));
        self.stderr.lock().unwrap().join("\n")
    }
}

impl Drop for Watching {
    /// A test that fails leaves no monitor running (`kill` does nothing to one that exited).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Replays `capture` into the namespace's host end; `multiplier` speeds it up.
fn replay(ns: &Netns, capture: &Path, multiplier: Option<&str>) -> Instant {
    let mut cmd = Command::new("tcpreplay");
    cmd.args(["-q", "-i", &ns.host]);
    if let Some(m) = multiplier {
        cmd.args(["--multiplier", m]);
    }
    let sent = Instant::now();
    let o = cmd.arg(capture).output().expect("tcpreplay runs");
    assert!(
        o.status.success(),
        "tcpreplay {}: {}",
        capture.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    sent
}

/// `levee analyze --json` of a file: its attacks.
fn analyzed(capture: &Path) -> Vec<Value> {
    let o = levee()
        .args(["analyze", "--json"])
        .arg(capture)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).expect("analyze prints JSON");
    v["attacks"].as_array().cloned().unwrap_or_default()
}

/// Packets of `captures` the incident's rule blocks, as `levee simulate` counts.
fn blocked_by_incident(db: &Path, id: u64, captures: &[&Path], dir: &Path) -> u64 {
    let o = levee()
        .args([
            "incidents",
            "show",
            &id.to_string(),
            "--rule",
            "levee",
            "--db",
        ])
        .arg(db)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rules = dir.join(format!("incident-{id}.toml"));
    std::fs::write(&rules, &o.stdout).unwrap();
    let o = levee()
        .args([
            "simulate",
            "--rules-only",
            "--json",
            "--no-progress",
            "--rules",
        ])
        .arg(&rules)
        .args(captures)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "simulate prints JSON ({e}): {}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    v["blocked"]["packets"].as_u64().unwrap()
}

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("levee-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
#[cfg_attr(
    not(all(levee_shared_data, levee_has_tcpreplay, levee_has_ip, levee_root)),
    ignore = "needs ../shared/data, tcpreplay, ip and root for a network namespace"
)]
fn replayed_attacks_are_alerted_within_a_second_and_benign_traffic_raises_nothing() {
    let data = require_shared("monitor live").expect("../shared/data");
    for tool in ["tcpreplay", "ip"] {
        assert!(require_tool("monitor live", tool), "{tool} is missing");
    }
    let dir = scratch("monitor-live");
    let ns = Netns::create().expect("a network namespace with a veth pair");
    let db = dir.join("incidents.db");

    // Benign: levee's own web and DNS traffic (10 s at 2,000 packets a second, handshakes,
    // answers) and a real capture of AFS file service, sped up.
    let synthetic = dir.join("benign.pcap");
    let o = levee()
        .args([
            "synth",
            "--scenario",
            "benign",
            "--packets",
            "20000",
            "--out",
        ])
        .arg(&synthetic)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let afs = data.join("tcpdump-tests/afs.pcap");
    let benign: [&Path; 2] = [&synthetic, &afs];

    let watching = Watching::start(&ns, &db);
    replay(&ns, &synthetic, None);
    replay(&ns, &afs, Some("20"));
    let raised = watching.alerts_until(Duration::from_secs(1), |_| false);
    assert!(
        raised.is_empty(),
        "benign traffic raised alerts: {:#?}",
        raised
            .iter()
            .map(|(_, a)| &a["incident"])
            .collect::<Vec<_>>()
    );

    let mut attacks: Vec<PathBuf> = std::fs::read_dir(data.join("attacks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    attacks.sort();
    let mut table = Vec::new();
    for capture in &attacks {
        let expected = analyzed(capture);
        let main = expected
            .iter()
            .max_by_key(|a| a["packets"].as_u64())
            .expect("analyze finds the attack");
        let sent = replay(&ns, capture, None);
        // Until the attack has been quiet for the quiet period and told as ended (the replay
        // is over: the alerts sent while it ran are waiting).
        let ended = |alerts: &[(Instant, Value)]| {
            let mut last = std::collections::HashMap::new();
            for (_, a) in alerts {
                last.insert(a["incident"]["id"].as_u64(), a["alert"] == "end");
            }
            !last.is_empty() && last.values().all(|&e| e)
        };
        // And until this capture's attack was told: a previous capture's smaller incident
        // told late (a slow machine) starts and ends on its own, which is no sign that this
        // one's alerts have all come.
        let told = |alerts: &[(Instant, Value)]| {
            alerts
                .iter()
                .any(|(_, a)| a["alert"] == "start" && a["incident"]["vector"] == main["vector"])
        };
        let alerts = watching.alerts_until(Duration::from_secs(10), |a| ended(a) && told(a));
        let name = capture.file_name().unwrap().to_string_lossy().to_string();
        let start = alerts
            .iter()
            .find(|(_, a)| a["alert"] == "start" && a["incident"]["vector"] == main["vector"])
            .unwrap_or_else(|| {
                panic!(
                    "{name}: no start alert for {}: {:#?}",
                    main["vector"],
                    alerts.iter().map(|(_, a)| a).collect::<Vec<_>>()
                )
            });
        let latency = start.0.duration_since(sent);
        let incident = &start.1["incident"];
        let target = main["targets"][0]["ip"].as_str().unwrap();
        assert_eq!(incident["target"], target, "{name}: {incident:#}");
        assert!(
            latency < Duration::from_secs(1),
            "{name}: the start alert came {latency:?} after the first packet was sent"
        );

        // The incident's rule stops the attack and none of the benign traffic.
        let id = incident["id"].as_u64().unwrap();
        let attack_packets = main["packets"].as_u64().unwrap();
        let stopped = blocked_by_incident(&db, id, &[capture], &dir);
        assert!(
            stopped as f64 >= 0.9 * attack_packets as f64
                && stopped as f64 <= 1.02 * attack_packets as f64,
            "{name}: incident {id}'s rule ({}) blocks {stopped} packets; the attack has \
             {attack_packets}",
            incident["signature"]
        );
        assert_eq!(
            blocked_by_incident(&db, id, &benign, &dir),
            0,
            "{name}: incident {id}'s rule blocks benign traffic: {}",
            incident["signature"]
        );
        assert!(
            ended(&alerts),
            "{name}: its incidents did not end after {QUIET_S} quiet seconds: {:#?}",
            alerts.iter().map(|(_, a)| a).collect::<Vec<_>>()
        );
        table.push(format!(
            "{name:<40} {:<20} start alert {:>4.0} ms after the first packet was sent; \
             its rule stops {stopped} of {attack_packets} packets, 0 benign",
            main["vector"].as_str().unwrap(),
            latency.as_secs_f64() * 1e3,
        ));
    }
    let stderr = watching.stop();
    eprintln!("start alert latency per capture (live, veth, tcpreplay at the capture's pace):");
    for row in &table {
        eprintln!("  {row}");
    }
    let summary = stderr
        .lines()
        .find(|l| l.contains("packets in"))
        .unwrap_or_else(|| panic!("no closing line: {stderr}"));
    eprintln!("  {summary}");
    assert!(summary.contains("dropped 0)"), "{summary}");
}

/// The watched interface goes away (its veth pair is deleted): the monitor says so, naming
/// it, and exits with an error instead of waiting on a socket that will never read again.
#[test]
#[cfg_attr(
    not(all(levee_has_ip, levee_root)),
    ignore = "needs ip and root for a network namespace"
)]
fn a_monitor_whose_interface_goes_away_says_so_and_exits() {
    let dir = scratch("monitor-gone");
    let ns = Netns::create().expect("a network namespace with a veth pair");
    let db = dir.join("gone.db");
    let mut watching = Watching::start(&ns, &db);
    let o = Command::new("ip")
        .args(["link", "del", &ns.host])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = watching.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the monitor still runs");
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(200));
    let err = watching.stderr.lock().unwrap().join("\n");
    assert_eq!(
        status.code(),
        Some(3),
        "an input that cannot be read: {err}"
    );
    assert!(err.contains(&format!("interface {}", ns.peer)), "{err}");
}
