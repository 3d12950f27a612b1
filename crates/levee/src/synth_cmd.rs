//! `levee synth` (labelled synthetic captures and logs) and `levee demo` (the built-in
//! example: a synthetic attack, analysed and reported).

use std::path::PathBuf;

use crate::cli::{DemoArgs, SynthArgs};
use crate::{bail_usage, emit, output, report_cmd, rules_cmd, usage, InputArgs};

pub fn synth(a: SynthArgs) -> anyhow::Result<u8> {
    if a.list {
        emit(&format!(
            "scenarios:   {}\nbackgrounds: {}\n",
            levee_synth::Scenario::names().join(" "),
            levee_synth::Background::NAMES.join(" ")
        ))?;
        return Ok(0);
    }
    if a.http {
        return synth_http(&a);
    }
    if a.reference {
        let out = a.out.clone().expect("clap requires --out without --list");
        let labels = a.labels.clone().unwrap_or_else(|| labels_path(&out));
        let start_ns = match a.start {
            Some(s) if (0.0..4e9).contains(&s) => (s * 1e9) as i64,
            Some(_) => bail_usage!("--start must be seconds since 1970, before 2096"),
            None => levee_synth::SynthConfig::default().start_ns,
        };
        let files = output::PendingFiles::create(&[out.clone(), labels.clone()], &[], a.force)?;
        let n = levee_synth::reference::write(
            std::net::IpAddr::V4(a.victim),
            start_ns,
            std::io::BufWriter::new(files.get(0).file()),
            std::io::BufWriter::new(files.get(1).file()),
        )
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
        files.commit()?;
        eprintln!(
            "levee: wrote the benign reference for {} ({n} packets) to {} and labels to {}",
            a.victim,
            out.display(),
            labels.display()
        );
        return Ok(0);
    }
    let name = a.scenario.as_deref().unwrap_or("syn-flood");
    let scenario = levee_synth::Scenario::parse(name)
        .ok_or_else(|| usage!("unknown scenario `{name}` (see `levee synth --list`)"))?;
    let background = levee_synth::Background::parse(&a.background).ok_or_else(|| {
        usage!(
            "unknown background `{}` (one of: {})",
            a.background,
            levee_synth::Background::NAMES.join(", ")
        )
    })?;
    let out = a.out.clone().expect("clap requires --out without --list");
    let labels = a.labels.clone().unwrap_or_else(|| labels_path(&out));
    let cfg = levee_synth::SynthConfig {
        scenario,
        background,
        packets: a.packets,
        seed: a.seed,
        attack_share: a.attack_share,
        benign_pps: a.benign_pps,
        target_port: a.port,
        victim: a.victim.octets(),
        reflector_nets: a
            .reflectors
            .iter()
            .map(|n| (n.network().octets(), n.prefix_len()))
            .collect(),
        start_ns: match a.start {
            Some(s) if (0.0..4e9).contains(&s) => (s * 1e9) as i64,
            Some(_) => bail_usage!("--start must be seconds since 1970, before 2096"),
            None => levee_synth::SynthConfig::default().start_ns,
        },
    };
    let files = output::PendingFiles::create(&[out.clone(), labels.clone()], &[], a.force)?;
    let stats = write_synth(&cfg, files)?;
    eprintln!(
        "levee: wrote {} packets ({} attack, {} benign, {} bytes) to {} and labels to {}",
        stats.packets,
        stats.attack,
        stats.benign,
        stats.bytes,
        out.display(),
        labels.display()
    );
    Ok(0)
}

/// `levee synth --http`: an access log with its labels.
pub fn synth_http(a: &SynthArgs) -> anyhow::Result<u8> {
    let mut attacks: Vec<String> = Vec::new();
    for name in a.scenario.as_deref().unwrap_or("http-mix").split('+') {
        match name {
            "benign" => {}
            "http-mix" => attacks.extend(levee_synth::http::HTTP_ATTACKS.map(str::to_string)),
            "slowloris" => attacks.push(name.into()),
            x if levee_synth::http::HTTP_ATTACKS.contains(&x)
                || levee_synth::http::HTTP_EXTRA_ATTACKS.contains(&x) =>
            {
                attacks.push(name.into())
            }
            x => bail_usage!(
                "unknown HTTP scenario `{x}` (benign, http-mix, slowloris, {}, {})",
                levee_synth::http::HTTP_ATTACKS.join(", "),
                levee_synth::http::HTTP_EXTRA_ATTACKS.join(", ")
            ),
        }
    }
    // Slowloris holds connections open: it exists only in a capture.
    let slowloris = attacks.iter().any(|x| x == "slowloris");
    attacks.retain(|x| x != "slowloris");
    if slowloris && !a.capture {
        bail_usage!("slowloris lives in TCP connections: add --capture to write a capture");
    }
    if !(a.duration > 0.0 && a.duration <= 30.0 * 86_400.0) {
        bail_usage!("--duration must be between 0 and 30 days, in seconds");
    }
    if !(a.sessions_per_second > 0.0 && a.sessions_per_second <= 100_000.0) {
        bail_usage!("--sessions-per-second must be above 0 and at most 100000");
    }
    let cfg = levee_synth::http::HttpConfig {
        attacks,
        seed: a.seed,
        duration_s: a.duration,
        sessions_per_s: a.sessions_per_second,
        start_ns: match a.start {
            Some(s) if (0.0..4e9).contains(&s) => (s * 1e9) as i64,
            Some(_) => bail_usage!("--start must be seconds since 1970, before 2096"),
            None => levee_synth::http::HttpConfig::default().start_ns,
        },
        cloudflare: a.cloudflare,
        ..Default::default()
    };
    let out = a.out.clone().expect("clap requires --out without --list");
    let labels = a.labels.clone().unwrap_or_else(|| labels_path(&out));
    let files = output::PendingFiles::create(&[out.clone(), labels.clone()], &[], a.force)?;
    let log = std::io::BufWriter::with_capacity(1 << 20, files.get(0).file());
    let lab = std::io::BufWriter::new(files.get(1).file());
    let s = if a.capture {
        levee_synth::http_capture::generate_http_capture(&cfg, slowloris, log, lab)?
    } else {
        levee_synth::http::generate_http(&cfg, log, lab)?
    };
    files.commit()?;
    eprintln!(
        "levee: wrote {} requests ({} from {} browsing sessions, {} from crawlers, {} attack) to {} and labels to {}",
        s.lines,
        s.benign,
        s.sessions,
        s.crawler,
        s.attack,
        out.display(),
        labels.display()
    );
    Ok(0)
}

pub fn labels_path(out: &std::path::Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".labels.csv");
    PathBuf::from(s)
}

/// Writes a synthetic capture and its labels into files made by [`output::PendingFiles`]
/// (the capture first, then the labels), and renames them into place.
pub fn write_synth(
    cfg: &levee_synth::SynthConfig,
    files: output::PendingFiles,
) -> anyhow::Result<levee_synth::SynthStats> {
    let pcap = std::io::BufWriter::with_capacity(1 << 20, files.get(0).file());
    let lab = std::io::BufWriter::new(files.get(1).file());
    let stats = levee_synth::generate(cfg, pcap, lab)?;
    files.commit()?;
    Ok(stats)
}

pub fn demo(a: DemoArgs) -> anyhow::Result<u8> {
    let dir = match a.dir {
        Some(d) => {
            std::fs::create_dir_all(&d)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", d.display()))?;
            d
        }
        None => tempfile::Builder::new()
            .prefix("levee-demo-")
            .tempdir()
            .map_err(|e| anyhow::anyhow!("cannot create a temporary directory: {e}"))?
            .keep(),
    };
    let capture = dir.join("demo-attack.pcap");
    let labels = labels_path(&capture);
    let rules = dir.join("demo-rules.toml");
    let report_dir = dir.join("report");
    std::fs::create_dir_all(&report_dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", report_dir.display()))?;
    // Every file the demo writes is checked before the first is written.
    let synth_files =
        output::PendingFiles::create(&[capture.clone(), labels.clone()], &[], a.force)?;
    let mut later = vec![rules.clone()];
    later.extend(levee_report::FILES.map(|n| report_dir.join(n)));
    let result_files = output::PendingFiles::create(&later, &[], a.force)?;
    let cfg = levee_synth::SynthConfig {
        packets: 60_000,
        scenario: levee_synth::Scenario::parse("multi").expect("built-in scenario"),
        ..Default::default()
    };
    let stats = write_synth(&cfg, synth_files)?;
    eprintln!(
        "levee demo: synthesised {} packets in {}: DNS and NTP reflection and a spoofed SYN \
         flood on {} ({} attack packets) over {} packets of web and DNS traffic",
        stats.packets,
        capture.display(),
        std::net::Ipv4Addr::from(levee_synth::VICTIM),
        stats.attack,
        stats.benign,
    );
    eprintln!(
        "levee demo: running `levee report {} --out {}`\n",
        capture.display(),
        report_dir.display()
    );
    let input = InputArgs {
        captures: vec![capture.clone()],
        no_progress: true,
        max_errors: 20,
        spool: None,
        flow_sampling: 1,
    };
    let (report, code) = report_cmd::make_report(
        &input,
        None,
        levee_analyze::AnalyzeConfig::default(),
        1,
        None,
        &levee_report::Enricher::default(),
        "eth0",
    )?;
    let analysis = &report.analysis;
    let mut texts = vec![rules_cmd::rules_text(analysis)];
    texts.extend(levee_report::render(&report)?);
    let paths = result_files.write_all(&texts)?;
    let paths = &paths[1..];
    if a.json {
        emit(&(serde_json::to_string_pretty(analysis)? + "\n"))?;
        eprintln!("levee demo: the report is in {}", paths[0].display());
        return Ok(code);
    }
    emit(&levee_report::text::analysis(analysis))?;
    let sim = &report.mitigation.simulation;
    emit(&format!(
        "Rules ready to apply: {}\n\
         \x20 together they drop {} of {} packets ({:.1}%): \
         {} of the traffic that belongs to no attack ({:.3}%)\n",
        rules.display(),
        sim.blocked.packets,
        sim.total.packets,
        sim.blocked.packets as f64 * 100.0 / sim.total.packets.max(1) as f64,
        sim.other.dropped_packets,
        sim.other.share * 100.0
    ))?;
    for a in &sim.attacks {
        emit(&format!(
            "  attack {} ({}): {:.2}% stopped\n",
            a.attack,
            a.vector,
            a.stopped.share * 100.0
        ))?;
    }
    for r in &sim.rules {
        emit(&format!(
            "  {:<22} {}\n",
            r.id,
            levee_report::text::short_sets(&r.expression.to_string(), 8)
        ))?;
    }
    emit(&format!(
        "  as tcpdump filters or a Cloudflare ruleset: `levee rules compile {} --target bpf`\n\
         \x20 (or `--target cloudflare`); measured on any capture: `levee simulate --rules {} CAPTURE`\n",
        rules.display(),
        rules.display()
    ))?;
    emit(&format!(
        "\nReport for the customer: {}\n  (also {} and {})\n",
        paths[0].display(),
        paths[1].display(),
        paths[2].display()
    ))?;
    eprintln!(
        "levee demo: the truth is in {}; try `levee summary {}` too",
        labels.display(),
        capture.display()
    );
    Ok(code)
}
