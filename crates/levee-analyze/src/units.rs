//! How levee writes figures for people: counts with thousands separators, packet and bit
//! rates, shares, and spans of time. One home, so the text, Markdown and HTML outputs and the
//! evidence sentences print a figure alike.

/// A count with thousands separators: 37,841.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Packets per second in the unit that reads best: 455 pps, 45.3 kpps, 1.20 Mpps.
pub fn rate(pps: f64) -> String {
    if pps >= 1e6 {
        format!("{:.2} Mpps", pps / 1e6)
    } else if pps >= 1e3 {
        format!("{:.1} kpps", pps / 1e3)
    } else {
        format!("{pps:.0} pps")
    }
}

/// Bits per second in the unit that reads best: 930 bps, 10.7 kbps, 1.1 Mbps, 2.40 Gbps.
pub fn bits_rate(bps: f64) -> String {
    if bps >= 1e9 {
        format!("{:.2} Gbps", bps / 1e9)
    } else if bps >= 1e6 {
        format!("{:.1} Mbps", bps / 1e6)
    } else if bps >= 1e3 {
        format!("{:.1} kbps", bps / 1e3)
    } else {
        format!("{bps:.0} bps")
    }
}

/// A span of nanoseconds in the unit that reads best: seconds, hours or days.
pub fn span_words(ns: i64) -> String {
    let s = ns as f64 / 1e9;
    if s >= 2.0 * 86400.0 {
        format!("{:.1} days", s / 86400.0)
    } else if s >= 2.0 * 3600.0 {
        format!("{:.1} hours", s / 3600.0)
    } else {
        format!("{s:.0} s")
    }
}

/// A share in [0, 1] as a percentage with one decimal, and `<0.1%` for a share too small to
/// show so, never `0.0%`.
pub fn percent(x: f64) -> String {
    if x > 0.0 && x < 0.001 {
        "<0.1%".into()
    } else {
        format!("{:.1}%", x * 100.0)
    }
}

/// A span under a second, in the unit that shows it: 63 ms, 0.42 ms.
pub fn short_span(s: f64) -> String {
    if s < 0.01 {
        format!("{:.2} ms", s * 1000.0)
    } else {
        format!("{:.0} ms", s * 1000.0)
    }
}
