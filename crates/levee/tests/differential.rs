//! One truth across engines: rules drawn at random over the fields and operators the kernel
//! targets take (named address lists among them), applied to a crafted capture of every kind of packet a network carries, must
//! decide every packet as `levee simulate` does, on each real engine:
//!
//! * libpcap: each rule's compiled BPF filter, run by `tcpdump -O -r` (packets named by time;
//!   `-O` because libpcap's optimizer still miscompiles some filters: what it decides
//!   otherwise is printed, not failed, and levee's BPF output says to run its filters so);
//! * nftables: the netdev ingress ruleset loaded in a network namespace, the capture replayed
//!   into it, every rule a `log` rule sending what it matched to an NFLOG group that tcpdump
//!   records (packets named by their bytes);
//! * iptables and ipset: the same through the raw table.
//!
//! A rule a target cannot express is refused by its compiler with the reason (counted and
//! printed); a packet outside a target's documented reach (tunnels for every engine, which
//! read the outer header; IPv6 extension headers and QinQ for BPF; everything but plain IPv4
//! for iptables, which sees IPv4 only, after the VLAN device) is counted apart and printed.
//! Any other difference fails, with the seed to replay it: `LEVEE_DIFF_SEED=N` runs seed N
//! alone (by default seeds 1, 2 and 3, so CI is deterministic; other seeds explore).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::Read as _;
use std::path::Path;

use common::corpus::*;
use common::*;
use levee_rules::compile::{Options, Target};
use levee_rules::RulesFile;

/// Rules drawn per seed.
const RULES: usize = 160;
/// Rules on payloads drawn per seed besides: alone, with another condition, negated.
const PAYLOAD_RULES: usize = 60;

/// Searches of payloads drawn per seed besides (`contains`).
const SEARCH_RULES: usize = 16;

/// Per rule (by its index), the packets it matched.
type Decisions = BTreeMap<usize, Vec<bool>>;

/// What levee decides: each rule alone on each packet, through the engine `simulate` runs.
fn levee_decisions(
    file: &RulesFile,
    ids: &[usize],
    packets: &[levee_decode::Packet<'_>],
) -> Decisions {
    let mut engine = levee_rules::Engine::new(file);
    let mut out: Decisions = ids
        .iter()
        .map(|&i| (i, vec![false; packets.len()]))
        .collect();
    for (n, p) in packets.iter().enumerate() {
        engine.apply(n as i64, p);
        for (k, &hit) in engine.matched().iter().enumerate() {
            out.get_mut(&ids[k]).unwrap()[n] = hit;
        }
    }
    out
}

/// What libpcap decides: each rule's compiled filter run by tcpdump over the capture, with
/// libpcap's optimizer (`optimize`) or without it (`tcpdump -O`, as levee's BPF output says to
/// run its filters: the optimizer still miscompiles some filters, libpcap issues #1699, #1726).
fn bpf_decisions(
    file: &Path,
    ids: &[usize],
    cap: &Path,
    packets: usize,
    optimize: bool,
) -> Decisions {
    let o = run(levee()
        .args(["rules", "compile", "--target", "bpf"])
        .arg(file));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let filters: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(filters.len(), ids.len(), "{text}");
    let mut out = Decisions::new();
    for (&i, filter) in ids.iter().zip(filters) {
        let mut tcpdump = std::process::Command::new("tcpdump");
        if !optimize {
            tcpdump.arg("-O");
        }
        let o = run(tcpdump
            .args(["-r"])
            .arg(cap)
            .args(["-n", "-tt", "-q"])
            .arg(filter));
        let mut hits = vec![false; packets];
        // libpcap's optimiser refuses a filter it proves can match nothing: that is the
        // filter's decision, "no" for every packet.
        if !o.status.success() && stderr(&o).contains("expression rejects all packets") {
            out.insert(i, hits);
            continue;
        }
        assert!(
            o.status.success(),
            "tcpdump refused `{filter}`: {}",
            stderr(&o)
        );
        for line in stdout(&o).lines() {
            let t = line.split_whitespace().next().unwrap();
            let (s, us) = t.split_once('.').unwrap();
            let ms =
                (s.parse::<i64>().unwrap() - BASE_S) * 1000 + us.parse::<i64>().unwrap() / 1000;
            hits[ms as usize] = true;
        }
        out.insert(i, hits);
    }
    out
}

/// Packets logged to an NFLOG group, read from tcpdump's `nflog:N` capture: per rule id
/// (from the log prefix `levee rN: `), the network-layer bytes of each packet.
fn read_nflog(path: &Path) -> Vec<(usize, Vec<u8>)> {
    let mut data = Vec::new();
    std::fs::File::open(path)
        .unwrap()
        .read_to_end(&mut data)
        .unwrap();
    assert!(data.len() >= 24, "no pcap header in {}", path.display());
    let linktype = u32::from_le_bytes(data[20..24].try_into().unwrap());
    assert_eq!(linktype, 239, "NFLOG captures have link type 239");
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= data.len() {
        let caplen = u32::from_le_bytes(data[at + 8..at + 12].try_into().unwrap()) as usize;
        let rec = &data[at + 16..at + 16 + caplen];
        at += 16 + caplen;
        // NFLOG: family, version, resource id; then TLVs (length and type in host order).
        let mut t = 4;
        let (mut prefix, mut payload) = (None, None);
        while t + 4 <= rec.len() {
            let len = u16::from_le_bytes([rec[t], rec[t + 1]]) as usize;
            let ty = u16::from_le_bytes([rec[t + 2], rec[t + 3]]);
            if len < 4 || t + len > rec.len() {
                break;
            }
            let value = &rec[t + 4..t + len];
            match ty {
                9 => payload = Some(value.to_vec()),
                10 => {
                    let s = String::from_utf8_lossy(value);
                    prefix = Some(s.trim_end_matches('\0').to_string());
                }
                _ => {}
            }
            t += (len + 3) & !3;
        }
        let (Some(prefix), Some(payload)) = (prefix, payload) else {
            continue;
        };
        let id = prefix
            .strip_prefix("levee r")
            .and_then(|s| s.strip_suffix(": "))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("unexpected NFLOG prefix {prefix:?}"));
        out.push((id, payload));
    }
    out
}

/// Every way the kernel may hand a frame's network layer to NFLOG (after the Ethernet header,
/// after one VLAN tag it took off), mapped to the frame's index.
fn frame_index(cap: &Capture) -> HashMap<Vec<u8>, usize> {
    let mut m = HashMap::new();
    for (i, f) in cap.frames.iter().enumerate() {
        let tagged = matches!(u16::from_be_bytes([f[12], f[13]]), 0x8100 | 0x88a8);
        for cut in [14, 18] {
            if f.len() > cut && (cut == 14 || tagged) {
                // As sent, and as the kernel logs it: cut at its IP length, without the
                // Ethernet padding of a short frame.
                let l3 = &f[cut..];
                let ip_len = match l3.first().map(|b| b >> 4) {
                    Some(4) if l3.len() >= 4 => usize::from(u16::from_be_bytes([l3[2], l3[3]])),
                    Some(6) if l3.len() >= 6 => {
                        40 + usize::from(u16::from_be_bytes([l3[4], l3[5]]))
                    }
                    _ => l3.len(),
                };
                for bytes in [l3, &l3[..ip_len.clamp(1, l3.len())]] {
                    let prev = m.insert(bytes.to_vec(), i);
                    assert!(
                        prev.is_none() || prev == Some(i),
                        "frames {prev:?} and {i} ({:?}, {:?}) share bytes",
                        prev.map(|p| cap.kinds[p]),
                        cap.kinds[i]
                    );
                }
            }
        }
    }
    m
}

/// Runs `tcpdump -i nflog:7` in the namespace around `replay`, and returns what each rule
/// logged as per-packet decisions.
fn kernel_decisions(
    ns: &Netns,
    cap_path: &Path,
    cap: &Capture,
    ids: &[usize],
    out_dir: &Path,
    engine: &str,
) -> Decisions {
    let log = out_dir.join(format!("{engine}.nflog.pcap"));
    let mut td = std::process::Command::new("ip")
        .args([
            "netns", "exec", &ns.name, "tcpdump", "-i", "nflog:7", "-B", "65536", "-U", "-w",
        ])
        .arg(&log)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // tcpdump says when it listens; give up after 10 s.
    let mut err = td.stderr.take().unwrap();
    let mut seen = Vec::new();
    let start = std::time::Instant::now();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("listening on") {
        assert!(start.elapsed().as_secs() < 10, "tcpdump never listened");
        let n = err.read(&mut buf).unwrap();
        assert!(n > 0, "tcpdump ended: {}", String::from_utf8_lossy(&seen));
        seen.extend(&buf[..n]);
    }
    // A bounded rate: every packet may be logged by many rules, and the NFLOG queue must
    // not overflow.
    let replay = run(std::process::Command::new("tcpreplay")
        .args(["-q", "--pps", "1500", "-i", &ns.host])
        .arg(cap_path));
    assert!(replay.status.success(), "{}", stderr(&replay));
    // The kernel sends NFLOG messages in batches flushed at least every second.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let _ = std::process::Command::new("kill")
        .args(["-INT", &td.id().to_string()])
        .status();
    let _ = td.wait();
    let mut rest = String::new();
    let _ = err.read_to_string(&mut rest);
    let all = format!("{}{rest}", String::from_utf8_lossy(&seen));
    assert!(
        all.lines()
            .any(|l| l.trim() == "0 packets dropped by kernel"),
        "{engine}: the NFLOG queue overflowed, decisions were lost:\n{all}"
    );
    let index = frame_index(cap);
    let mut out: Decisions = ids
        .iter()
        .map(|&i| (i, vec![false; cap.frames.len()]))
        .collect();
    for (id, payload) in read_nflog(&log) {
        let n = *index
            .get(&payload)
            .unwrap_or_else(|| panic!("{engine}: logged bytes of no frame: {payload:02x?}"));
        out.get_mut(&id)
            .unwrap_or_else(|| panic!("{engine}: a log of unknown rule r{id}"))[n] = true;
    }
    out
}

/// The rules a target compiles, each alone; the others with the compiler's reason.
fn accepted(
    target: Target,
    exprs: &[(usize, String)],
    dir: &Path,
) -> (Vec<(usize, String)>, BTreeMap<String, usize>) {
    let mut ok = Vec::new();
    let mut refused = BTreeMap::new();
    for (i, e) in exprs {
        // libpcap filters are written for blocking rules only (a logging rule is passed by).
        let action = if target == Target::Bpf {
            "block"
        } else {
            "log"
        };
        let text = rules_text(&[(*i, e.clone())], action);
        let f = RulesFile::parse("r.toml", &text, Some(dir)).unwrap();
        let options = Options {
            device: "eth0",
            log_group: Some(7),
            list: None,
        };
        match levee_rules::compile::render_with(&f, target, "r.toml", &options) {
            Ok(_) => ok.push((*i, e.clone())),
            Err(err) => {
                // The reason without the rule's name and values: one count per kind.
                let why = err.problems[0]
                    .split(": ")
                    .skip(1)
                    .collect::<Vec<_>>()
                    .join(": ");
                let why: String = why.chars().filter(|c| !c.is_ascii_digit()).collect();
                *refused.entry(why).or_insert(0) += 1;
            }
        }
    }
    (ok, refused)
}

/// What an engine decided, with what it ran and what it is documented not to reach.
struct EngineRun<'a> {
    name: &'a str,
    compiled: &'a str,
    decisions: &'a Decisions,
    out_of_reach: fn(Kind) -> bool,
}

/// Compares an engine's decisions with levee's, packet by packet: a difference on a packet
/// the engine is documented not to reach is counted, any other fails.
fn compare(
    seed: u64,
    cap: &Capture,
    exprs: &[(usize, String)],
    levee: &Decisions,
    run: &EngineRun<'_>,
) -> (usize, usize) {
    let (engine, compiled, theirs, out_of_reach) =
        (run.name, run.compiled, run.decisions, run.out_of_reach);
    let (mut compared, mut apart, mut differ) = (0, 0, 0);
    let mut failures = Vec::new();
    for (i, e) in exprs {
        let (ours, other) = (&levee[i], &theirs[i]);
        for n in 0..cap.frames.len() {
            if out_of_reach(cap.kinds[n]) {
                apart += usize::from(ours[n] != other[n]);
                continue;
            }
            compared += 1;
            if ours[n] != other[n] {
                differ += 1;
                if failures.len() < 4 {
                    let f = &cap.frames[n];
                    failures.push(format!(
                        "rule r{i} `{e}` on packet {n} ({:?}): levee {}, {engine} {}\n  frame {:02x?}",
                        cap.kinds[n],
                        ours[n],
                        other[n],
                        &f[..f.len().min(70)]
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{engine} decides {differ} of {compared} otherwise than levee (seed {seed}; LEVEE_DIFF_SEED={seed} replays):\n{}\n\ncompiled:\n{}",
        failures.join("\n"),
        compiled.lines().take(80).collect::<Vec<_>>().join("\n")
    );
    (compared, apart)
}

#[test]
#[cfg_attr(
    not(all(
        levee_has_tcpdump,
        levee_has_nft,
        levee_has_iptables_restore,
        levee_has_ipset,
        levee_has_tcpreplay,
        levee_has_ip,
        levee_root
    )),
    ignore = "needs tcpdump, nft, iptables, ipset, tcpreplay, ip, root for a network namespace"
)]
fn every_engine_decides_every_packet_as_levee_does() {
    for tool in [
        "tcpdump",
        "nft",
        "iptables-restore",
        "ipset",
        "tcpreplay",
        "ip",
    ] {
        require_tool("differential", tool);
    }
    // Three fixed seeds, so CI is deterministic; LEVEE_DIFF_SEED=N runs seed N alone.
    let seeds: Vec<u64> = match std::env::var("LEVEE_DIFF_SEED") {
        Ok(s) => vec![s.parse().expect("LEVEE_DIFF_SEED is a number")],
        Err(_) => vec![1, 2, 3],
    };
    for seed in seeds {
        one_seed(seed);
    }
}

/// One run of the differential test: a capture and a rule set drawn from `seed`, in a
/// namespace of its own (nothing of another run's rules is left there).
fn one_seed(seed: u64) {
    eprintln!("differential: seed {seed} (LEVEE_DIFF_SEED={seed} replays it)");
    let ns = &Netns::create().expect("a network namespace");
    let dir = scratch("differential");
    let cap_path = dir.join("crafted.pcap");
    let cap = craft_capture(seed, ns.peer_mac(), &cap_path);
    let packets = cap.packets();

    // Rules drawn over the capture's own values; the parser refuses none of them.
    let mut r = Rng(seed);
    let lists = write_lists(&mut r, &packets, &dir);
    let mut exprs: Vec<(usize, String)> = (0..RULES)
        .map(|i| (i, expression(&mut r, &packets, 3)))
        .collect();
    for i in RULES..RULES + PAYLOAD_RULES {
        let on_payload = payload_leaf(&mut r, &packets);
        let e = match r.below(5) {
            0 | 1 => on_payload,
            2 => format!("not {on_payload}"),
            3 => format!("({on_payload} and {})", leaf(&mut r, &packets)),
            _ => format!("not ({on_payload} or {})", leaf(&mut r, &packets)),
        };
        exprs.push((i, e));
    }
    // Slices of several words compared with `!=` (a line per word on nftables), on every
    // payload: where only part of the slice is there (a cut quote, a first fragment, past an
    // IPv6 extension header) no word may count.
    for t in ["tcp", "udp", "icmp", "ip"] {
        for (start, n) in [(2, 9), (0, 12), (5, 6)] {
            let zeros = "00".repeat(n);
            exprs.push((
                exprs.len(),
                format!("{t}.payload[{start}:{n}] != 0x{zeros}"),
            ));
        }
    }
    let payload_rules = exprs.len() - RULES;
    // Searches of the IP payload (iptables' string match; the other engines refuse them).
    for _ in 0..SEARCH_RULES {
        let e = search_leaf(&mut r, &packets);
        exprs.push((exprs.len(), e));
    }
    for (i, e) in &exprs {
        if let Err(err) = levee_rules::parse(e, &lists) {
            panic!(
                "rule r{i} does not parse (seed {seed}): {}",
                err.render("r", e)
            );
        }
    }

    let mut summary = Vec::new();
    for target in [Target::Bpf, Target::Nftables, Target::Iptables] {
        let (ok, refused) = accepted(target, &exprs, &dir);
        if target == Target::Bpf {
            // Slices and lengths of payloads: libpcap reads them all (and searches none).
            let written = ok
                .iter()
                .filter(|(i, _)| (RULES..RULES + payload_rules).contains(i))
                .count();
            assert_eq!(written, payload_rules, "bpf: {refused:#?}");
        }
        // Most rules must be compiled, or the test proves little.
        assert!(
            ok.len() * 2 >= exprs.len(),
            "{}: only {} of {} rules compile: {refused:#?}",
            target.name(),
            ok.len(),
            exprs.len()
        );
        let action = if target == Target::Bpf {
            "block"
        } else {
            "log"
        };
        let file_text = rules_text(&ok, action);
        let file_path = dir.join(format!("{}.toml", target.name()));
        std::fs::write(&file_path, &file_text).unwrap();
        let file = RulesFile::parse("r.toml", &file_text, Some(&dir)).unwrap();
        let ids: Vec<usize> = ok.iter().map(|(i, _)| *i).collect();
        let ours = levee_decisions(&file, &ids, &packets);
        let (theirs, compiled, reach): (Decisions, String, fn(Kind) -> bool) = match target {
            Target::Bpf => (
                {
                    let exact = bpf_decisions(&file_path, &ids, &cap_path, cap.frames.len(), false);
                    // libpcap's optimizer is counted apart: its miscompilations are its own.
                    let optimized =
                        bpf_decisions(&file_path, &ids, &cap_path, cap.frames.len(), true);
                    let mut wrong = Vec::new();
                    for (i, e) in &ok {
                        let n = (0..cap.frames.len())
                            .filter(|&n| exact[i][n] != optimized[i][n])
                            .count();
                        if n > 0 {
                            wrong.push(format!("r{i} ({n} packets): {e}"));
                        }
                    }
                    if !wrong.is_empty() {
                        eprintln!(
                            "  libpcap's optimizer decides otherwise than libpcap without it for \
                             {} rule(s) (its own bugs; levee's BPF output says to use -O):\n    {}",
                            wrong.len(),
                            wrong.join("\n    ")
                        );
                    }
                    exact
                },
                String::new(),
                |k| {
                    matches!(
                        k,
                        Kind::Tunnel
                            | Kind::TinyFragment
                            | Kind::Ipv6ExtensionHeaders
                            | Kind::Ipv6Fragment
                    )
                },
            ),
            Target::Nftables => {
                let o = run(levee()
                    .args([
                        "rules",
                        "compile",
                        "--target",
                        "nftables",
                        "--log-group",
                        "7",
                    ])
                    .args(["--device", &ns.peer])
                    .arg(&file_path));
                assert!(o.status.success(), "{}", stderr(&o));
                let nft = dir.join("rules.nft");
                std::fs::write(&nft, &o.stdout).unwrap();
                let load = ns.exec(&["nft", "-f", nft.to_str().unwrap()]);
                assert!(load.status.success(), "nft refused: {}", stderr(&load));
                let d = kernel_decisions(ns, &cap_path, &cap, &ids, &dir, "nftables");
                let _ = ns.exec(&["nft", "delete", "table", "netdev", "levee"]);
                (d, stdout(&o), |k| {
                    matches!(k, Kind::Tunnel | Kind::TinyFragment | Kind::QinQ)
                })
            }
            Target::Iptables => {
                let compile = |t: &str| {
                    let o = run(levee()
                        .args(["rules", "compile", "--target", t, "--log-group", "7"])
                        .arg(&file_path));
                    assert!(o.status.success(), "{}", stderr(&o));
                    let p = dir.join(format!("rules.{t}"));
                    std::fs::write(&p, &o.stdout).unwrap();
                    (p, stdout(&o))
                };
                let (ipset, _) = compile("ipset");
                let (ipt, text) = compile("iptables");
                let sh = |cmd: String| {
                    let o = ns.exec(&["sh", "-c", &cmd]);
                    assert!(o.status.success(), "{cmd}: {}", stderr(&o));
                };
                sh(format!("ipset restore -exist < {}", ipset.display()));
                sh(format!("iptables-restore --noflush < {}", ipt.display()));
                sh("iptables -t raw -I PREROUTING -j levee".to_string());
                let d = kernel_decisions(ns, &cap_path, &cap, &ids, &dir, "iptables");
                (d, text, |k| {
                    !matches!(k, Kind::Ipv4 | Kind::Ipv4Options | Kind::Ipv4Fragment)
                })
            }
            _ => unreachable!(),
        };
        let run = EngineRun {
            name: target.name(),
            compiled: &compiled,
            decisions: &theirs,
            out_of_reach: reach,
        };
        let (compared, apart) = compare(seed, &cap, &ok, &ours, &run);
        assert!(
            compared >= 50_000,
            "{}: only {compared} decisions",
            target.name()
        );
        summary.push(format!(
            "{}: {} rules compiled, {} refused {:?}; {compared} decisions equal; {apart} \
             differences on packets out of its documented reach",
            target.name(),
            ok.len(),
            exprs.len() - ok.len(),
            refused
        ));
    }
    eprintln!("differential (seed {seed}):\n{}", summary.join("\n"));
}

/// Real UDP conversations, as the victim's own: from each of the tcpdump project's test
/// captures (DNS, NTP, SNMP, RADIUS...), the plain IPv4 UDP frames of two-way flows (whole,
/// unfragmented, over Ethernet, at most `per_file`) to or from the host the file's UDP
/// involves most, that host's address made `victim` both ways and every frame sent to `mac`
/// (header checksums made anew: the kernel drops a packet whose checksum is wrong before
/// iptables sees it). Benign traffic nobody here wrote, its answers with it.
fn real_udp_conversations(
    data: &Path,
    per_file: usize,
    victim: [u8; 4],
    mac: [u8; 6],
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for path in tcpdump_corpus(data, &["pcap"]) {
        let Ok(mut r) = levee_capture::CaptureReader::open(&path) else {
            continue;
        };
        let mut udp: Vec<Vec<u8>> = Vec::new();
        while let Some(item) = r.next_item() {
            let levee_capture::Item::Frame(f) = item else {
                break;
            };
            let d = f.data;
            let whole = f.orig_len as usize == d.len() && d.len() <= 1514;
            if f.linktype != 1 || !whole || d.len() < 42 || d[12..14] != [8, 0] {
                continue;
            }
            let p = levee_decode::decode(1, d, f.orig_len);
            let plain_udp =
                p.ip.as_ref()
                    .is_some_and(|ip| ip.version == 4 && ip.proto == 17 && !ip.is_fragment)
                    && p.payload_of(levee_decode::FieldLayer::Udp)
                        .is_some_and(|b| !b.is_empty());
            if plain_udp {
                udp.push(d.to_vec());
            }
        }
        let mut hosts: HashMap<[u8; 4], usize> = HashMap::new();
        for f in &udp {
            for at in [26, 30] {
                *hosts.entry(f[at..at + 4].try_into().unwrap()).or_default() += 1;
            }
        }
        let Some((&host, _)) = hosts
            .iter()
            .filter(|(a, _)| a[0] != 0 && a[0] < 224)
            .max_by_key(|(a, n)| (**n, **a))
        else {
            continue;
        };
        // Two-way conversations only (what QUIC, DNS, games and VoIP are): one-way streams
        // to the victim (sFlow, syslog, HSRP) are unanswered UDP like the flood's, a case of
        // their own.
        let ends = |f: &[u8]| {
            let hl = usize::from(f[14] & 0x0f) * 4;
            let (sp, dp) = (&f[14 + hl..16 + hl], &f[16 + hl..18 + hl]);
            ([&f[26..30], sp].concat(), [&f[30..34], dp].concat())
        };
        let directions: std::collections::HashSet<(Vec<u8>, Vec<u8>)> =
            udp.iter().map(|f| ends(f)).collect();
        let answered = |f: &Vec<u8>| {
            let (a, b) = ends(f);
            directions.contains(&(b, a))
        };
        let mut taken = 0;
        for f in udp
            .iter()
            .filter(|f| (f[26..30] == host || f[30..34] == host) && answered(f))
        {
            let mut f = f.clone();
            f[..6].copy_from_slice(&mac);
            for at in [26, 30] {
                if f[at..at + 4] == host {
                    f[at..at + 4].copy_from_slice(&victim);
                }
            }
            let hl = usize::from(f[14] & 0x0f) * 4;
            f[24..26].copy_from_slice(&[0, 0]);
            let sum = craft::csum(&f[14..14 + hl]);
            f[24..26].copy_from_slice(&sum.to_be_bytes());
            out.push(f);
            taken += 1;
            if taken == per_file {
                break;
            }
        }
    }
    out
}

/// A frame of the mixed capture: its time as it came, its bytes, and what it is.
struct Mixed {
    ts: i64,
    frame: Vec<u8>,
    flood: bool,
    real: bool,
}

/// Issue 29's proof: a flood from `levee synth` (the same datagram to random ports from
/// forged sources) among real benign UDP sent to the same victim. `analyze` writes a payload
/// signature that covers at least 99 % of the flood and none of the benign traffic (real
/// and synthetic), and its rule compiled for libpcap, nftables (in a namespace) and
/// iptables decides every packet as levee's simulator does.
#[test]
#[cfg_attr(
    not(all(
        levee_shared_data,
        levee_has_tcpdump,
        levee_has_nft,
        levee_has_iptables_restore,
        levee_has_tcpreplay,
        levee_has_ip,
        levee_root
    )),
    ignore = "needs ../shared/data, tcpdump, nft, iptables, tcpreplay, ip, root"
)]
fn a_payload_flood_among_real_benign_udp_is_stopped_alike_everywhere() {
    payload_flood_among_real_benign_udp(Variant::Fixed);
}

/// The same flood whose datagrams each begin with 600 random bytes (a nonce): only their last
/// bytes are fixed, and all are 1,200 bytes long, so the fingerprint found at their end is
/// written as a slice from the start, which every engine reads.
#[test]
#[cfg_attr(
    not(all(
        levee_shared_data,
        levee_has_tcpdump,
        levee_has_nft,
        levee_has_iptables_restore,
        levee_has_tcpreplay,
        levee_has_ip,
        levee_root
    )),
    ignore = "needs ../shared/data, tcpdump, nft, iptables, tcpreplay, ip, root"
)]
fn a_flood_fixed_only_at_its_end_is_stopped_alike_everywhere() {
    payload_flood_among_real_benign_udp(Variant::Nonce);
}

/// The same flood with its datagrams' bytes moved 0 to 64 places on (random bytes in front,
/// the same length): no offset from either end is fixed, the same bytes are in every payload
/// at varying places. `analyze` finds them by searching (`ip.payload contains`), libpcap and
/// nftables refuse the search with the reason, and iptables' string match decides every
/// packet as the simulator does.
#[test]
#[cfg_attr(
    not(all(
        levee_shared_data,
        levee_has_tcpdump,
        levee_has_nft,
        levee_has_iptables_restore,
        levee_has_tcpreplay,
        levee_has_ip,
        levee_root
    )),
    ignore = "needs ../shared/data, tcpdump, nft, iptables, tcpreplay, ip, root"
)]
fn a_flood_whose_fixed_bytes_move_is_found_by_searching_and_stopped_alike() {
    payload_flood_among_real_benign_udp(Variant::Moving);
}

/// The same flood while the victim also receives syslog from three of its servers (one-way
/// UDP, 15 % of the flood's datagrams): the syslog joins the flood's class, so only 85 % of
/// the class carries the flood's bytes. `analyze` must take the attack to be the packets that
/// carry them and write a signature that leaves the syslog alone.
#[test]
#[cfg_attr(
    not(all(
        levee_shared_data,
        levee_has_tcpdump,
        levee_has_nft,
        levee_has_iptables_restore,
        levee_has_tcpreplay,
        levee_has_ip,
        levee_root
    )),
    ignore = "needs ../shared/data, tcpdump, nft, iptables, tcpreplay, ip, root"
)]
fn a_flood_beside_one_way_benign_udp_to_its_target_leaves_that_alone() {
    payload_flood_among_real_benign_udp(Variant::WithSyslog);
}

/// How the flood's datagrams are changed from `levee synth`'s.
#[derive(Clone, Copy, PartialEq)]
enum Variant {
    /// As synth sends them: one datagram.
    Fixed,
    /// The first 600 bytes drawn anew for each.
    Nonce,
    /// The bytes moved 0 to 64 places on, random bytes in front.
    Moving,
    /// As synth sends them, with syslog to the victim beside them.
    WithSyslog,
}

/// A syslog message (RFC 5424 over UDP, port 514) from `from` to `to`, number `n`.
fn syslog_frame(mac: [u8; 6], from: [u8; 4], to: [u8; 4], n: usize) -> Vec<u8> {
    let text = format!(
        "<134>1 2026-01-15T12:00:{:02}.{n:06}Z web{} nginx {} - - GET /item/{} 200 {}",
        n % 60,
        from[3],
        1000 + n % 7,
        n * 37 % 1000,
        n * 131 % 9000
    );
    let mut udp = 40514u16.to_be_bytes().to_vec();
    udp.extend(514u16.to_be_bytes());
    udp.extend(((8 + text.len()) as u16).to_be_bytes());
    udp.extend([0, 0]);
    udp.extend(text.as_bytes());
    let h = craft::V4 {
        src: from,
        dst: to,
        ttl: 64,
        id: n as u16,
        df: true,
        mf: false,
        offset: 0,
        options: false,
    };
    craft::ethernet(mac, &[], 0x0800, &craft::ipv4(&h, 17, &udp))
}

/// A `udp-payload-flood` from `levee synth` mixed with real UDP conversations to the same
/// victim (`nonce`: each flood datagram's first 600 bytes drawn at random): `analyze` must
/// write a payload signature covering 99 % of the flood and no benign packet, and BPF,
/// nftables and iptables must decide every packet as the simulator does.
fn payload_flood_among_real_benign_udp(variant: Variant) {
    let nonce = variant == Variant::Nonce;
    let Some(data) = require_shared("payload flood") else {
        return;
    };
    for tool in ["tcpdump", "nft", "iptables-restore", "tcpreplay", "ip"] {
        require_tool("payload flood", tool);
    }
    let ns = &Netns::create().expect("a network namespace");
    let mac = ns.peer_mac();
    let victim = [10, 10, 10, 10];
    let dir = scratch(match variant {
        Variant::Fixed => "differential-payload-flood",
        Variant::Nonce => "differential-payload-flood-nonce",
        Variant::Moving => "differential-payload-flood-moving",
        Variant::WithSyslog => "differential-payload-flood-syslog",
    });
    let synth = dir.join("synth.pcap");
    let o = run(levee()
        .args([
            "synth",
            "--scenario",
            "udp-payload-flood",
            "--packets",
            "3000",
        ])
        .args(["--seed", "29", "--force", "--out"])
        .arg(&synth));
    assert!(o.status.success(), "{}", stderr(&o));
    let labels = synth_labels(&dir.join("synth.pcap.labels.csv"));
    let is_flood = |i: u64| {
        labels
            .iter()
            .any(|(a, b, l)| (*a..=*b).contains(&i) && l == "attack:udp-flood")
    };
    // The synthetic capture's frames with their times and labels, then the real ones
    // spread among them, each just after a synthetic frame.
    let mut synthetic = Vec::new();
    let mut r = levee_capture::CaptureReader::open(&synth).unwrap();
    let mut rng = Rng(29);
    while let Some(levee_capture::Item::Frame(f)) = r.next_item() {
        let mut frame = f.data.to_vec();
        frame[..6].copy_from_slice(&mac);
        let flood = is_flood(f.index);
        if nonce && flood {
            // Past Ethernet, the IPv4 header and UDP's: the checksum left out (0), the
            // first 600 bytes of the payload drawn anew.
            let udp = 14 + usize::from(frame[14] & 0x0f) * 4;
            frame[udp + 6..udp + 8].copy_from_slice(&[0, 0]);
            for b in &mut frame[udp + 8..udp + 608] {
                *b = rng.next() as u8;
            }
        }
        if variant == Variant::Moving && flood {
            let udp = 14 + usize::from(frame[14] & 0x0f) * 4;
            frame[udp + 6..udp + 8].copy_from_slice(&[0, 0]);
            let k = rng.below(65);
            let data = udp + 8;
            let end = frame.len();
            frame.copy_within(data..end - k, data + k);
            for b in &mut frame[data..data + k] {
                *b = rng.next() as u8;
            }
        }
        synthetic.push((f.ts_nanos, frame, flood));
    }
    if variant == Variant::WithSyslog {
        // Syslog beside the flood: 15 % of its datagrams, from three servers, spread over it.
        let floods: Vec<usize> = (0..synthetic.len()).filter(|&i| synthetic[i].2).collect();
        let n = floods.len() * 15 / 100;
        let mut with = Vec::with_capacity(synthetic.len() + n);
        let mut sent = 0;
        for (i, (ts, frame, flood)) in synthetic.into_iter().enumerate() {
            with.push((ts, frame, flood));
            if flood && sent < n && i % (floods.len() / n.max(1)).max(1) == 0 {
                let from = [192, 0, 2, 10 + (sent % 3) as u8];
                with.push((ts + 1, syslog_frame(mac, from, victim, sent), false));
                sent += 1;
            }
        }
        synthetic = with;
    }
    let real = real_udp_conversations(&data, 100, victim, mac);
    assert!(real.len() >= 150, "only {} real UDP frames", real.len());
    let every = synthetic.len() / real.len() + 1;
    let mut frames: Vec<Mixed> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut real_left = real.iter();
    for (i, (ts, f, flood)) in synthetic.into_iter().enumerate() {
        frames.push(Mixed {
            ts,
            frame: f,
            flood,
            real: false,
        });
        if i % every == 0 {
            if let Some(b) = real_left.next() {
                frames.push(Mixed {
                    ts: ts + 1,
                    frame: b.clone(),
                    flood: false,
                    real: true,
                });
            }
        }
    }
    // The kernel's log names a packet by its bytes: each frame once.
    frames.retain(|f| seen.insert(f.frame.clone()));
    let reals = frames.iter().filter(|f| f.real).count();
    let floods = frames.iter().filter(|f| f.flood).count();

    // As it came, for analyze; a millisecond apart, for the engines (libpcap's decisions
    // are read back by time).
    let natural = dir.join("mixed.pcap");
    let spaced = dir.join("mixed-spaced.pcap");
    for (path, spaced_out) in [(&natural, false), (&spaced, true)] {
        let mut w =
            levee_capture::PcapWriter::new(std::fs::File::create(path).unwrap(), 1, 65535).unwrap();
        for (i, f) in frames.iter().enumerate() {
            let ts = if spaced_out {
                BASE_S * 1_000_000_000 + i as i64 * 1_000_000
            } else {
                f.ts
            };
            w.write(ts, &f.frame).unwrap();
        }
        w.finish().unwrap();
    }

    let o = run(levee().args(["analyze", "--json"]).arg(&natural));
    assert!(
        matches!(o.status.code(), Some(0) | Some(4)),
        "{}",
        stderr(&o)
    );
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let attacks = doc["attacks"].as_array().unwrap();
    assert_eq!(attacks.len(), 1, "{}", doc["attacks"]);
    let expr = attacks[0]["signature"]["expression"]
        .as_str()
        .unwrap()
        .to_string();
    let evidence = attacks[0]["evidence"].to_string();
    if variant == Variant::WithSyslog {
        assert!(
            evidence.contains("80% or more of its datagrams carry the same")
                && evidence.contains("the attack is taken to be those"),
            "{evidence}"
        );
        assert_eq!(
            attacks[0]["packets"].as_u64(),
            Some(floods as u64),
            "the attack's size counts the flood, not the syslog"
        );
        // A monitor tells the payload signature too, not one on headers that stops syslog.
        let db = dir.join("monitor.db");
        let _ = std::fs::remove_file(&db);
        let o = run(levee()
            .args(["monitor", "--db"])
            .arg(&db)
            .arg("--read")
            .arg(&natural));
        assert!(o.status.success(), "{}", stderr(&o));
        let o = run(levee().args(["incidents", "show", "1", "--db"]).arg(&db));
        let shown = stdout(&o);
        assert!(
            shown
                .lines()
                .any(|l| l.trim_start().starts_with("signature") && l.contains("udp.payload[")),
            "{shown}"
        );
    }
    if variant == Variant::Moving {
        assert!(
            expr.contains("ip.payload contains 0x") && evidence.contains("at varying places"),
            "a search: {expr}\n{evidence}"
        );
    } else {
        assert!(expr.contains("udp.payload["), "a payload signature: {expr}");
    }
    if nonce {
        // The fixed bytes are past the nonce, read from the start of 1,200-byte payloads.
        assert!(
            evidence.contains("before the payload's end (1200-byte payloads)")
                || evidence.contains("at the end of the payload (1200-byte payloads)"),
            "{evidence}"
        );
        assert!(expr.contains("udp.payload[119"), "{expr}");
    }
    let rule = levee_rules::parse_plain(&expr).unwrap();
    let cap = Capture {
        frames: frames.iter().map(|f| f.frame.clone()).collect(),
        kinds: frames
            .iter()
            .map(|f| {
                if f.frame[14] & 0x0f > 5 {
                    Kind::Ipv4Options
                } else {
                    Kind::Ipv4
                }
            })
            .collect(),
    };
    let packets = cap.packets();
    let hit = |flood: bool| {
        frames
            .iter()
            .zip(&packets)
            .filter(|(f, p)| f.flood == flood && rule.matches(*p))
            .count()
    };
    let (flood_hit, benign_hit) = (hit(true), hit(false));
    assert!(
        flood_hit as f64 >= 0.99 * floods as f64,
        "`{expr}` covers {flood_hit} of {floods} flood packets"
    );
    assert_eq!(benign_hit, 0, "`{expr}` also matches benign packets");

    // The same rule on every engine, packet for packet.
    let text = format!("[[rule]]\nid = \"r0\"\nexpression = '{expr}'\naction = \"log\"\n");
    let file_path = dir.join("payload.toml");
    std::fs::write(&file_path, &text).unwrap();
    let file = RulesFile::parse("payload.toml", &text, Some(&dir)).unwrap();
    let ids = [0usize];
    let exprs = [(0usize, expr.clone())];
    let ours = levee_decisions(&file, &ids, &packets);
    // libpcap filters are written for blocking rules.
    let bpf_rules = dir.join("payload-block.toml");
    std::fs::write(&bpf_rules, text.replace("\"log\"", "\"block\"")).unwrap();
    let attempt = |target: &str| {
        run(levee()
            .args(["rules", "compile", "--target", target, "--log-group", "7"])
            .args(["--device", &ns.peer])
            .arg(if target == "bpf" {
                &bpf_rules
            } else {
                &file_path
            }))
    };
    let mut told = Vec::new();
    if variant == Variant::Moving {
        // A search: libpcap and nftables cannot run it, and say so.
        for target in ["bpf", "nftables"] {
            let o = attempt(target);
            assert!(
                !o.status.success() && stderr(&o).contains("cannot search a payload"),
                "{target}: {}",
                stderr(&o)
            );
            told.push(format!("{target}: refused (cannot search)"));
        }
    }
    let compile = |target: &str| {
        let o = attempt(target);
        assert!(o.status.success(), "{target}: {}", stderr(&o));
        let p = dir.join(format!("payload.{target}"));
        std::fs::write(&p, &o.stdout).unwrap();
        (p, stdout(&o))
    };
    let mut runs = Vec::new();
    if variant != Variant::Moving {
        let bpf = bpf_decisions(&bpf_rules, &ids, &spaced, cap.frames.len(), false);
        runs.push(("bpf", String::new(), bpf));
        let (nft, nft_text) = compile("nftables");
        let load = ns.exec(&["nft", "-f", nft.to_str().unwrap()]);
        assert!(load.status.success(), "nft refused: {}", stderr(&load));
        let nft_decisions = kernel_decisions(ns, &spaced, &cap, &ids, &dir, "nftables");
        let _ = ns.exec(&["nft", "delete", "table", "netdev", "levee"]);
        runs.push(("nftables", nft_text, nft_decisions));
    }
    let (ipt, ipt_text) = compile("iptables");
    let sh = |cmd: String| {
        let o = ns.exec(&["sh", "-c", &cmd]);
        assert!(o.status.success(), "{cmd}: {}", stderr(&o));
    };
    sh(format!("iptables-restore --noflush < {}", ipt.display()));
    sh("iptables -t raw -I PREROUTING -j levee".to_string());
    let ipt_decisions = kernel_decisions(ns, &spaced, &cap, &ids, &dir, "iptables");
    runs.push(("iptables", ipt_text, ipt_decisions));
    for (name, compiled, decisions) in &runs {
        let run = EngineRun {
            name,
            compiled,
            decisions,
            out_of_reach: |_| false,
        };
        let (compared, _) = compare(29, &cap, &exprs, &ours, &run);
        assert_eq!(compared, cap.frames.len());
        told.push(format!("{name}: {compared} packets decided alike"));
    }
    eprintln!(
        "payload flood: `{expr}` covers {flood_hit} of {floods} flood packets, 0 of {} benign \
         ({reals} real UDP); {}",
        frames.len() - floods,
        told.join("; ")
    );
}
