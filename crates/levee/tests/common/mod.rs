//! Helpers shared by the end-to-end tests: where the binary and the shared data are, running a
//! command, and failing when an external input a test needs is missing (tests that need one
//! are marked ignored where the machine lacks it: see `build/testenv.rs`).

#![allow(dead_code)]

pub mod corpus;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn levee() -> Command {
    Command::new(env!("CARGO_BIN_EXE_levee"))
}

/// `../shared/data` beside the repository.
pub fn shared_data() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    dir.is_dir().then(|| dir.canonicalize().unwrap())
}

/// `REL` under `../shared/data`, for a test marked ignored where the data is missing.
pub fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel)
}

/// Writes a little-endian microsecond pcap of Ethernet frames, each given as (time in ms,
/// length on the wire, bytes captured).
pub fn write_pcap(path: &Path, frames: &[(u64, u32, Vec<u8>)]) {
    let mut out = Vec::new();
    out.extend(0xa1b2_c3d4u32.to_le_bytes());
    out.extend(2u16.to_le_bytes());
    out.extend(4u16.to_le_bytes());
    out.extend([0u8; 8]);
    out.extend(65535u32.to_le_bytes());
    out.extend(1u32.to_le_bytes());
    for (ms, wire, f) in frames {
        out.extend(((ms / 1000) as u32).to_le_bytes());
        out.extend((((ms % 1000) * 1000) as u32).to_le_bytes());
        out.extend((f.len() as u32).to_le_bytes());
        out.extend(wire.to_le_bytes());
        out.extend(f);
    }
    std::fs::write(path, out).unwrap();
}

/// The shared data. A test that calls this is marked
/// `#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]` (see
/// `build/testenv.rs`), so it runs only where the data is: a missing `../shared` here is a
/// failure, never a silent pass. Returns an `Option` only to keep the callers' shape.
pub fn require_shared(test: &str) -> Option<PathBuf> {
    match shared_data() {
        Some(d) => Some(d),
        None => panic!("{test}: ../shared/data is missing beside the repository"),
    }
}

/// Checks that an external tool is on PATH; a test that calls this is marked ignored where
/// the tool is missing (see `build/testenv.rs`), so a missing tool here is a failure.
pub fn require_tool(test: &str, tool: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{test}: `{tool}` is not installed (.ci/run installs it)"
    );
    found
}

/// A small deterministic generator (xorshift64*): the same draws on every run, so a failure
/// replays from its seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("command starts")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh scratch directory under the target directory.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Compares `got` with the golden file `tests/golden/NAME`, showing the first differing lines.
/// `LEVEE_UPDATE_GOLDEN=1` rewrites the file instead.
pub fn assert_golden(name: &str, got: &str) {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var("LEVEE_UPDATE_GOLDEN").is_ok() {
        std::fs::write(&golden, got).unwrap();
    }
    let want =
        std::fs::read_to_string(&golden).expect("golden file (LEVEE_UPDATE_GOLDEN=1 writes it)");
    if got != want {
        let diff: Vec<String> = got
            .lines()
            .zip(want.lines())
            .enumerate()
            .filter(|(_, (g, w))| g != w)
            .take(10)
            .map(|(i, (g, w))| format!("line {}: got  {g}\n         want {w}", i + 1))
            .collect();
        panic!(
            "output differs from {} (LEVEE_UPDATE_GOLDEN=1 to accept; {} lines here, {} there):\n{}",
            golden.display(),
            got.lines().count(),
            want.lines().count(),
            diff.join("\n")
        );
    }
}

/// A synthetic shop log (`synth --http`) of `duration` seconds, 3 sessions a second.
pub fn synth_shop(log: &std::path::Path, seed: &str, duration: u32) {
    let o = run(levee()
        .args(["synth", "--http", "--sessions-per-second", "3"])
        .args([
            "--duration",
            &duration.to_string(),
            "--seed",
            seed,
            "--force",
            "--out",
        ])
        .arg(log));
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Per client of a synthetic log or capture, its label (from the `line,label,client` file).
pub fn client_labels(labels: &std::path::Path) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    for line in std::fs::read_to_string(labels).unwrap().lines().skip(1) {
        let mut f = line.split(',');
        let (_, label, client) = (f.next(), f.next().unwrap(), f.next().unwrap());
        out.insert(client.to_string(), label.to_string());
    }
    out
}

/// The clients of an `analyze --json` document on requests (logs or `--http`), by address.
pub fn clients_by_ip(
    analysis: &serde_json::Value,
) -> std::collections::HashMap<&str, &serde_json::Value> {
    analysis["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["ip"].as_str().unwrap(), c))
        .collect()
}

/// The captures of the tcpdump test corpus (`data` is the shared data folder) whose names end
/// in one of `extensions`, sorted.
pub fn tcpdump_corpus(data: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data.join("tcpdump-tests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| extensions.iter().any(|x| e == *x))
        })
        .collect();
    files.sort();
    files
}

/// A network namespace with a veth pair into it, removed when dropped.
pub struct Netns {
    pub name: String,
    pub host: String,
    pub peer: String,
}

impl Netns {
    pub fn create() -> Option<Netns> {
        // Tests run side by side in one process: each namespace gets its own number.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("{}{n}", std::process::id() % 100_000);
        let n = Netns {
            name: format!("levee-test-{id}"),
            host: format!("lvh{id}"),
            peer: format!("lvp{id}"),
        };
        let sh = |cmd: &str| {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .output()
                .is_ok_and(|o| o.status.success())
        };
        let ok = sh(&format!("ip netns add {}", n.name))
            && sh(&format!(
                "ip link add {} type veth peer name {}",
                n.host, n.peer
            ))
            && sh(&format!("ip link set {} netns {}", n.peer, n.name))
            && sh(&format!("ip link set {} up", n.host))
            && sh(&format!(
                "ip netns exec {} ip link set {} up",
                n.name, n.peer
            ));
        // No IPv6 neighbour discovery from the interfaces themselves into the counters.
        let _ = sh(&format!(
            "sysctl -qw net.ipv6.conf.{}.disable_ipv6=1",
            n.host
        ));
        let _ = sh(&format!(
            "ip netns exec {} sysctl -qw net.ipv6.conf.{}.disable_ipv6=1",
            n.name, n.peer
        ));
        ok.then_some(n)
    }

    pub fn exec(&self, args: &[&str]) -> std::process::Output {
        run(std::process::Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args))
    }
}

impl Netns {
    /// The MAC address of the interface inside the namespace: frames replayed from the host
    /// side must be sent to it, or the kernel takes them for another host's and drops them
    /// before the IP layer (and iptables) sees them.
    pub fn peer_mac(&self) -> [u8; 6] {
        let o = self.exec(&["cat", &format!("/sys/class/net/{}/address", self.peer)]);
        let text = String::from_utf8_lossy(&o.stdout);
        let mut mac = [0u8; 6];
        for (i, b) in text.trim().split(':').enumerate().take(6) {
            mac[i] = u8::from_str_radix(b, 16).expect("a MAC address");
        }
        mac
    }
}

impl Netns {
    /// Runs `f` while tcpdump, inside the namespace, records into `out` every frame that
    /// reaches its interface, stamped as it arrives: the timing the kernel's rules saw, which
    /// a busy machine's replay may have stretched.
    pub fn recording<T>(&self, out: &Path, f: impl FnOnce() -> T) -> T {
        use std::io::{BufRead, BufReader};
        let mut tcpdump = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.name,
                "tcpdump",
                "-n",
                "-U",
                "--immediate-mode",
                // 64 MiB of buffer: on a loaded machine the default 2 MiB overflowed and
                // tcpdump recorded 7 to 27 fewer frames than the kernel's rules saw.
                "-B",
                "65536",
            ])
            .args(["-i", &self.peer, "-w"])
            .arg(out)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("tcpdump starts");
        // tcpdump says when it listens; what is sent before would be missed.
        let mut err = BufReader::new(tcpdump.stderr.take().expect("piped"));
        let mut line = String::new();
        while err.read_line(&mut line).is_ok_and(|n| n > 0) && !line.contains("listening on") {
            line.clear();
        }
        assert!(line.contains("listening on"), "tcpdump did not start");
        let result = f();
        std::thread::sleep(std::time::Duration::from_millis(300));
        // `ip netns exec` runs tcpdump in its own process: SIGINT makes it flush and stop.
        let _ = std::process::Command::new("kill")
            .args(["-INT", &tcpdump.id().to_string()])
            .status();
        let _ = tcpdump.wait();
        result
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.host])
            .output();
    }
}

/// The run-length labels a synthesised capture's `.labels.csv` holds: first and last packet
/// index and the label of each run.
pub fn synth_labels(path: &Path) -> Vec<(u64, u64, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.splitn(3, ',').collect();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].to_string(),
            )
        })
        .collect()
}
