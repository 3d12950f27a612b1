//! Charts as inline SVG: a stacked area chart of the timeline with the attack windows marked,
//! and bar charts for histograms. No script, no fonts but the page's own, so the charts print
//! and read offline like the rest of the report.

use maud::{html, Markup};

use crate::model::TimelineView;

/// Colours of the series, in order; `other` traffic is always grey.
pub const PALETTE: &[&str] = &[
    "#d1495b", "#edae49", "#00798c", "#30638e", "#8f2d56", "#6a994e", "#bc4749", "#4f5d75",
    "#f4845f", "#2a9d8f",
];
/// The colour of the traffic that belongs to no attack.
pub const OTHER_COLOR: &str = "#b8c0cc";

/// The colour of series `i` named `name`.
pub fn color(i: usize, name: &str) -> &'static str {
    if name == "other" {
        OTHER_COLOR
    } else {
        PALETTE[i % PALETTE.len()]
    }
}

const W: f64 = 960.0;
const H: f64 = 260.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 18.0;
const BOTTOM: f64 = 30.0;

/// A round step of about `raw` (1, 2 or 5 × 10^k).
fn nice_step(raw: f64) -> f64 {
    if !(raw > 0.0 && raw.is_finite()) {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * mag >= raw {
            return m * mag;
        }
    }
    10.0 * mag
}

/// Time steps that read well on a clock: seconds, minutes, hours.
fn time_step(span_s: f64) -> f64 {
    let raw = span_s / 6.0;
    const STEPS: &[f64] = &[
        0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0,
        60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 10800.0, 21600.0, 43200.0,
        86400.0,
    ];
    STEPS
        .iter()
        .copied()
        .find(|&s| s >= raw)
        .unwrap_or_else(|| (raw / 86400.0).ceil() * 86400.0)
}

/// `HH:MM:SS` (UTC) of an epoch time, with fractions when the step needs them.
pub fn clock(epoch_s: f64, step_s: f64) -> String {
    let ts = levee_analyze::summary::format_ts((epoch_s * 1e9).round() as i64);
    // 2020-01-01T12:34:56.123456Z
    let time = &ts[11..ts.len() - 1];
    if step_s >= 1.0 {
        time[..8].to_string()
    } else if step_s >= 0.1 {
        time[..10].to_string()
    } else {
        time[..12].to_string()
    }
}

/// A short rate for an axis: 12k, 3.4M.
pub fn si(v: f64) -> String {
    let (d, s) = if v >= 1e9 {
        (1e9, "G")
    } else if v >= 1e6 {
        (1e6, "M")
    } else if v >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let x = v / d;
    if x == x.trunc() {
        format!("{x:.0}{s}")
    } else {
        format!("{x:.1}{s}")
    }
}

/// The stacked area chart of the timeline, in packets (or bits, with `bits`) per second.
pub fn timeline(view: &TimelineView, bits: bool, id: &str) -> Markup {
    timeline_of(view, bits, "packets", id)
}

/// The same chart with the series counting `counted` (`packets`, `requests`).
pub fn timeline_of(view: &TimelineView, bits: bool, counted: &str, id: &str) -> Markup {
    let n = view.series.first().map_or(0, |s| s.packets.len());
    let per_s = 1.0 / view.bucket_s.max(1e-9);
    let value = |s: &crate::model::Series, i: usize| -> f64 {
        if bits {
            s.bytes[i] as f64 * 8.0 * per_s
        } else {
            s.packets[i] as f64 * per_s
        }
    };
    // Cumulative tops per series.
    let mut tops: Vec<Vec<f64>> = Vec::with_capacity(view.series.len());
    let mut below = vec![0.0; n];
    for s in &view.series {
        let t: Vec<f64> = (0..n).map(|i| below[i] + value(s, i)).collect();
        below.clone_from(&t);
        tops.push(t);
    }
    let max = below.iter().copied().fold(0.0, f64::max);
    let ystep = nice_step(max / 4.0);
    let ymax = if max > 0.0 {
        (max / ystep).ceil() * ystep
    } else {
        1.0
    };
    let span = (n as f64 * view.bucket_s).max(view.bucket_s);
    let x = |t: f64| LEFT + (t - view.start_epoch) / span * (W - LEFT - RIGHT);
    let y = |v: f64| H - BOTTOM - v / ymax * (H - TOP - BOTTOM);
    // Each bucket is drawn as a flat step over its width, so a one-bucket burst shows.
    let edge = |vals: &[f64]| -> Vec<(f64, f64)> {
        let mut pts = Vec::with_capacity(2 * n);
        for (i, &v) in vals.iter().enumerate() {
            let t0 = view.start_epoch + i as f64 * view.bucket_s;
            pts.push((x(t0), y(v)));
            pts.push((x(t0 + view.bucket_s), y(v)));
        }
        pts
    };
    let zero = vec![0.0; n];
    let mut areas = Vec::new();
    for (k, s) in view.series.iter().enumerate() {
        let lower = if k == 0 { &zero } else { &tops[k - 1] };
        let upper = edge(&tops[k]);
        let mut lower = edge(lower);
        lower.reverse();
        let mut d = String::with_capacity(upper.len() * 24);
        for (j, (px, py)) in upper.iter().chain(lower.iter()).enumerate() {
            d.push_str(if j == 0 { "M" } else { "L" });
            d.push_str(&format!("{px:.1},{py:.1}"));
        }
        d.push('Z');
        let total: u64 = if bits {
            s.bytes.iter().sum()
        } else {
            s.packets.iter().sum()
        };
        areas.push((s.name.clone(), color(k, &s.name), d, total));
    }
    let tstep = time_step(span);
    let first_tick = (view.start_epoch / tstep).ceil() * tstep;
    let ticks: Vec<f64> = (0..)
        .map(|i| first_tick + i as f64 * tstep)
        .take_while(|&t| t <= view.start_epoch + span + 1e-9)
        .collect();
    let yticks: Vec<f64> = (0..)
        .map(|i| i as f64 * ystep)
        .take_while(|&v| v <= ymax + 1e-9)
        .collect();
    let unit = if bits {
        "bits/s".to_string()
    } else {
        format!("{counted}/s")
    };
    html! {
        svg class="chart timeline" id=(id) xmlns="http://www.w3.org/2000/svg"
            viewBox=(format!("0 0 {W} {H}")) role="img"
            aria-label=(format!("{unit} over time, stacked by vector"))
            data-max=(format!("{max:.3}")) {
            @for v in &yticks {
                line class="grid" x1=(LEFT) x2=(W - RIGHT) y1=(format!("{:.1}", y(*v))) y2=(format!("{:.1}", y(*v))) {}
                text class="axis" x=(LEFT - 6.0) y=(format!("{:.1}", y(*v) + 4.0)) text-anchor="end" { (si(*v)) }
            }
            text class="axis unit" x="4" y=(TOP - 6.0) { (&unit) }
            @for (k, w) in view.windows.iter().enumerate() {
                @let (x0, x1) = (x(w.start_epoch), x(w.end_epoch.max(w.start_epoch)));
                rect class="window" x=(format!("{x0:.1}")) y=(TOP) width=(format!("{:.1}", (x1 - x0).max(2.0)))
                    height=(H - TOP - BOTTOM) {}
                // Labels of windows that start together are stacked, not overprinted.
                text class="window-label" x=(format!("{:.1}", x0 + 3.0)) y=(TOP + 11.0 + 12.0 * (k % 8) as f64) {
                    "#" (w.attack) " " (w.vector)
                }
            }
            @for (name, fill, d, total) in &areas {
                path class="area" d=(d) fill=(*fill) data-series=(name) data-total=(total) {
                    title { (name) }
                }
            }
            line class="axis-line" x1=(LEFT) x2=(W - RIGHT) y1=(H - BOTTOM) y2=(H - BOTTOM) {}
            @for t in &ticks {
                line class="tick" x1=(format!("{:.1}", x(*t))) x2=(format!("{:.1}", x(*t))) y1=(H - BOTTOM) y2=(H - BOTTOM + 4.0) {}
                text class="axis" x=(format!("{:.1}", x(*t))) y=(H - BOTTOM + 16.0) text-anchor="middle" { (clock(*t, tstep)) }
            }
        }
    }
}

/// A bar chart of `(label, value)` bars in order, with every `label_every`-th label shown.
pub fn bars(bars: &[(String, u64)], id: &str, caption: &str, fill: &str) -> Markup {
    const BW: f64 = 460.0;
    const BH: f64 = 170.0;
    const BL: f64 = 52.0;
    const BB: f64 = 34.0;
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1) as f64;
    let ystep = nice_step(max / 3.0);
    let ymax = (max / ystep).ceil() * ystep;
    let slot = (BW - BL - 8.0) / bars.len().max(1) as f64;
    let label_every = ((bars.len() as f64 * 34.0) / (BW - BL)).ceil().max(1.0) as usize;
    let y = |v: f64| BH - BB - v / ymax * (BH - 10.0 - BB);
    html! {
        svg class="chart bars" id=(id) xmlns="http://www.w3.org/2000/svg"
            viewBox=(format!("0 0 {BW} {BH}")) role="img" aria-label=(caption) {
            @for v in (0..).map(|i| i as f64 * ystep).take_while(|&v| v <= ymax + 1e-9) {
                line class="grid" x1=(BL) x2=(BW - 8.0) y1=(format!("{:.1}", y(v))) y2=(format!("{:.1}", y(v))) {}
                text class="axis" x=(BL - 5.0) y=(format!("{:.1}", y(v) + 4.0)) text-anchor="end" { (si(v)) }
            }
            @for (i, (label, v)) in bars.iter().enumerate() {
                @let bx = BL + i as f64 * slot;
                rect class="bar" x=(format!("{:.1}", bx + slot * 0.1)) y=(format!("{:.1}", y(*v as f64)))
                    width=(format!("{:.2}", (slot * 0.8).max(0.5)))
                    height=(format!("{:.1}", (BH - BB - y(*v as f64)).max(if *v > 0 { 1.0 } else { 0.0 })))
                    fill=(fill) data-label=(label) data-value=(v) {
                    title { (label) ": " (v) }
                }
                @if i % label_every == 0 {
                    text class="axis" x=(format!("{:.1}", bx + slot / 2.0)) y=(BH - BB + 14.0) text-anchor="middle" { (label) }
                }
            }
            text class="axis unit" x=(BL) y=(BH - 4.0) { (caption) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Series, Window};

    #[test]
    fn nice_steps_and_units() {
        assert_eq!(nice_step(0.7), 1.0);
        assert_eq!(nice_step(1.2), 2.0);
        assert_eq!(nice_step(3_300.0), 5_000.0);
        assert_eq!(nice_step(0.0), 1.0);
        assert_eq!(si(12_000.0), "12k");
        assert_eq!(si(3_400_000.0), "3.4M");
        assert_eq!(si(0.0), "0");
        assert_eq!(time_step(60.0), 10.0);
        assert_eq!(time_step(3600.0), 600.0);
        assert_eq!(clock(1_600_000_000.0, 1.0), "12:26:40");
        assert_eq!(clock(1_600_000_000.25, 0.1), "12:26:40.2");
    }

    #[test]
    fn stacked_areas_reach_the_total_and_windows_are_marked() {
        let view = TimelineView {
            bucket_s: 1.0,
            start_epoch: 1_600_000_000.0,
            series: vec![
                Series {
                    name: "syn-flood".into(),
                    packets: vec![0, 100, 100, 0],
                    bytes: vec![0, 6000, 6000, 0],
                },
                Series {
                    name: "other".into(),
                    packets: vec![10, 10, 10, 10],
                    bytes: vec![1000; 4],
                },
            ],
            windows: vec![Window {
                attack: 1,
                vector: "syn-flood".into(),
                start_epoch: 1_600_000_001.0,
                end_epoch: 1_600_000_002.9,
            }],
            peak_pps: 110.0,
            peak_bps: 56_000.0,
        };
        let svg = timeline(&view, false, "t").into_string();
        assert!(svg.contains(r#"data-max="110.000""#), "{svg}");
        assert_eq!(svg.matches("<path class=\"area\"").count(), 2);
        assert!(svg.contains(r##"fill="#b8c0cc" data-series="other""##));
        assert!(svg.contains("class=\"window\""));
        assert!(svg.contains(">#1 syn-flood<"));
        // The y axis reaches a round value above the peak: 110 → 150 with steps of 50.
        assert!(svg.contains(">150<"), "{svg}");
        let bits = timeline(&view, true, "b").into_string();
        assert!(bits.contains(r#"data-max="56000.000""#));
    }

    #[test]
    fn bars_are_proportional() {
        let svg = bars(
            &[("64".into(), 10), ("65".into(), 0), ("128".into(), 5)],
            "ttl",
            "TTL",
            "#000",
        )
        .into_string();
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 3);
        assert!(svg.contains(r#"data-label="128" data-value="5""#));
    }
}
