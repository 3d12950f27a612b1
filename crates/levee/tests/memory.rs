//! Memory on long captures. Alone in its test binary: the peak memory of child processes
//! (`getrusage(RUSAGE_CHILDREN)`) is the largest of every child the process waited for, so
//! no other test's children may run beside it.

mod common;

use common::*;

/// The largest resident set, in KiB, of the children waited for so far.
#[allow(unsafe_code)] // getrusage, a C call with no safe wrapper in std
fn children_max_rss_kib() -> u64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(rc, 0, "getrusage failed");
    usage.ru_maxrss as u64
}

/// A capture of 30 days (a slow spoofed SYN flood over its middle, benign web traffic
/// throughout, 400,000 packets) is analysed in at most 256 MiB, sampled and exact, and the
/// attack is found whole: its window spans the days it lasts, and its busiest second is a
/// count of packets, not of a sample's weights.
#[test]
fn a_month_long_capture_is_analysed_in_bounded_memory() {
    let dir = scratch("memory-month");
    let cap = dir.join("month.pcap");
    let o = run(levee()
        .args(["synth", "--force", "--scenario", "syn-flood"])
        .args(["--packets", "400000", "--attack-share", "0.5"])
        .args(["--benign-pps", "0.0772", "--out"])
        .arg(&cap));
    assert!(o.status.success(), "{}", stderr(&o));
    for exact in [false, true] {
        let mut cmd = levee();
        cmd.args(["analyze", "--json", "--no-progress"]);
        if exact {
            cmd.arg("--exact");
        }
        let o = run(cmd.arg(&cap));
        assert!(o.status.success(), "{}", stderr(&o));
        let a: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let span = a["capture"]["duration_s"].as_f64().unwrap();
        assert!(span >= 29.0 * 86400.0, "the capture spans {span} s");
        // Only the chart is coarser than a second, and the notes say so.
        let notes = a["notes"].to_string();
        assert!(
            notes.contains("charted in 256 s buckets") && notes.contains("not the 1 s asked"),
            "{notes}"
        );
        let flood = a["attacks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["vector"] == "syn-flood")
            .unwrap_or_else(|| panic!("exact {exact}: no syn-flood in {}", a["attacks"]));
        // The flood runs from 20% to 80% of the capture: 18 days.
        let days = flood["duration_s"].as_f64().unwrap() / 86400.0;
        assert!(
            days >= 16.0,
            "exact {exact}: the flood lasts {days:.1} days"
        );
        let packets = flood["packets"].as_f64().unwrap();
        assert!(
            (packets - 200_000.0).abs() <= 0.05 * 200_000.0,
            "exact {exact}: {packets} flood packets"
        );
        // 200,000 SYNs over 18 days: a handful in the busiest second.
        let peak = flood["peak_pps"].as_f64().unwrap();
        assert!(peak < 30.0, "exact {exact}: peak {peak} pps");
    }
    // The synthesis is counted too: an upper bound of levee analyze's peak.
    let peak_kib = children_max_rss_kib();
    assert!(
        peak_kib <= 256 * 1024,
        "levee analyze used {} MiB on a 30-day capture",
        peak_kib / 1024
    );
    eprintln!(
        "peak memory of levee on a 30-day capture: {} MiB",
        peak_kib / 1024
    );
}
