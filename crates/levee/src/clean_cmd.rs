//! `levee clean`: captures merged, deduplicated, put in order, cut and anonymised; access logs
//! as JSON lines, anonymised alike; and a cleaned capture restored with its mapping.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::Context;
use levee_engine::requests::{input_kind, InputKind};

use crate::cli::CleanArgs;
use crate::output::PendingFiles;
use crate::{Exit, EXIT_DAMAGED_RECORDS};

pub fn run(a: CleanArgs) -> anyhow::Result<u8> {
    let mut logs = 0;
    for path in &a.inputs {
        match input_kind(path) {
            InputKind::Capture => {}
            InputKind::Text => logs += 1,
            InputKind::Unreadable => {
                return Err(Exit::no_input(format!(
                    "{}: cannot be read",
                    path.display()
                )));
            }
            InputKind::Empty => {
                return Err(Exit::no_input(format!("{}: nothing in it", path.display())));
            }
        }
    }
    if logs > 0 && logs < a.inputs.len() {
        return Err(crate::usage!(
            "captures and access logs are cleaned apart: give one kind at a time"
        ));
    }
    if let Some(mapping) = &a.restore {
        if logs > 0 || a.inputs.len() != 1 {
            return Err(crate::usage!(
                "--restore takes one capture that `levee clean --key` wrote"
            ));
        }
        return restore(&a, mapping);
    }
    let key = a.key.as_deref().map(read_or_make_key).transpose()?;
    let filter = a
        .filter
        .as_deref()
        .map(levee_rules::parse_plain)
        .transpose()
        .map_err(|e| crate::usage!("--filter: {e}"))?;
    let mut outputs = vec![a.out.clone()];
    outputs.extend(a.mapping.clone());
    let pending = PendingFiles::create(&outputs, &a.inputs, a.force)?;
    let mapping = a
        .mapping
        .as_ref()
        .map(|p| -> anyhow::Result<(Box<dyn Write>, String)> {
            let f = pending.get(1).file().try_clone()?;
            Ok((Box::new(f), p.display().to_string()))
        });
    let mapping = mapping.transpose()?;
    let code = if logs > 0 {
        clean_logs(&a, key, filter.as_ref(), mapping, &pending)?
    } else {
        clean_captures(&a, key, filter, mapping, &pending)?
    };
    pending.commit()?;
    Ok(code)
}

/// The key in `path` (64 hex digits, or 32 bytes), made from the system's randomness when
/// the file does not exist.
fn read_or_make_key(path: &Path) -> anyhow::Result<[u8; 32]> {
    if !path.exists() {
        let mut key = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut r| r.read_exact(&mut key))
            .context("cannot read /dev/urandom for a new key")?;
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options
            .open(path)
            .with_context(|| format!("cannot create the key file {}", path.display()))?;
        writeln!(f, "{hex}").with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!(
            "levee: made a new key in {} (keep it: the same key gives the same pseudonyms)",
            path.display()
        );
        return Ok(key);
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let hex = text.trim();
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut key = [0u8; 32];
        for (i, k) in key.iter_mut().enumerate() {
            *k = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex digits");
        }
        return Ok(key);
    }
    if bytes.len() == 32 {
        return Ok(bytes.try_into().expect("32 bytes"));
    }
    Err(crate::usage!(
        "{}: a key is 64 hex digits or 32 bytes, this is {} bytes",
        path.display(),
        bytes.len()
    ))
}

fn clean_captures(
    a: &CleanArgs,
    key: Option<[u8; 32]>,
    filter: Option<levee_rules::Expr>,
    mapping: Option<(Box<dyn Write>, String)>,
    pending: &PendingFiles,
) -> anyhow::Result<u8> {
    let options = levee_clean::Options {
        key,
        payload: a.payload,
        from_ns: a.from,
        to_ns: a.to,
        filter,
        dedup_window_ns: (a.dedup_window as i64).saturating_mul(1_000_000),
        ..levee_clean::Options::default()
    };
    let out = std::io::BufWriter::new(pending.get(0).file());
    let name = a.out.display().to_string();
    let report = levee_clean::clean(&a.inputs, out, &name, &options, mapping).map_err(exit)?;
    tell(a, &report, key.is_some())
}

fn restore(a: &CleanArgs, mapping: &Path) -> anyhow::Result<u8> {
    let pending = PendingFiles::create(std::slice::from_ref(&a.out), &a.inputs, a.force)?;
    let out = std::io::BufWriter::new(pending.get(0).file());
    let name = a.out.display().to_string();
    let report = levee_clean::reverse(&a.inputs[0], mapping, out, &name).map_err(exit)?;
    pending.commit()?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    eprintln!(
        "levee: {} frames restored to {} ({} addresses, MACs and labels put back)",
        report.written,
        a.out.display(),
        report.addresses
    );
    Ok(if report.damage.is_empty() {
        0
    } else {
        EXIT_DAMAGED_RECORDS
    })
}

/// Says what the cleaning of captures did; the exit code.
fn tell(a: &CleanArgs, r: &levee_clean::Report, anonymised: bool) -> anyhow::Result<u8> {
    if a.json {
        println!("{}", serde_json::to_string(r)?);
    }
    for i in &r.inputs {
        eprintln!(
            "levee: {}: {} frames{}",
            i.file,
            i.frames,
            if i.duplicates > 0 {
                format!(", {} of them another input's duplicates", i.duplicates)
            } else {
                String::new()
            }
        );
    }
    for d in r.damage.iter().take(20) {
        eprintln!("levee: {d}");
    }
    let mut said = vec![format!(
        "{} frames written to {}",
        r.written,
        a.out.display()
    )];
    let mut say = |n: u64, what: &str| {
        if n > 0 {
            said.push(format!("{n} {what}"));
        }
    };
    say(r.duplicates, "duplicates of other taps left out");
    say(r.reordered, "put back in time order");
    say(
        r.late,
        "still out of order (later than the 1 s window), written where they came",
    );
    say(
        r.times_fixed,
        "with an impossible time given the time of the frame before",
    );
    say(r.outside_time, "outside the time asked for left out");
    say(r.filtered_out, "not matching the filter left out");
    say(r.payload_bytes_removed, "payload bytes removed");
    if anonymised {
        say(r.addresses, "addresses anonymised");
        say(r.macs, "MACs replaced");
        say(r.padding_zeroed, "frames with link padding zeroed");
    }
    eprintln!("levee: {}", said.join("; "));
    for (why, n) in &r.cuts {
        eprintln!("levee: {n} frames cut where the walk stopped: {why}");
    }
    if anonymised && a.payload == levee_clean::Payload::Keep {
        eprintln!(
            "levee: payloads kept: names in DNS, HTTP and TLS were replaced, other content \
             (HTTP paths and bodies, cookies, anything else) was not; --payload drop or N cuts it"
        );
    }
    Ok(if r.damage.is_empty() {
        0
    } else {
        EXIT_DAMAGED_RECORDS
    })
}

fn clean_logs(
    a: &CleanArgs,
    key: Option<[u8; 32]>,
    filter: Option<&levee_rules::Expr>,
    mapping: Option<(Box<dyn Write>, String)>,
    pending: &PendingFiles,
) -> anyhow::Result<u8> {
    let spec = levee_logs::FormatSpec::parse(&a.log_format).map_err(|e| crate::usage!("{e}"))?;
    let mut anonymiser = key
        .map(|k| levee_clean::Anonymiser::new(&k, mapping))
        .transpose()?;
    let mut out = std::io::BufWriter::new(pending.get(0).file());
    let name = a.out.display().to_string();
    let mut damaged = false;
    for path in &a.inputs {
        let r = anonymiser
            .as_mut()
            .map(|x| x as &mut dyn levee_clean::rewrite::Rewriter);
        let report = levee_clean::logs::clean_log(
            path,
            spec.clone(),
            &mut out,
            &name,
            r,
            (a.from, a.to),
            filter,
        )
        .map_err(exit)?;
        if a.json {
            println!("{}", serde_json::to_string(&report)?);
        }
        for m in report.malformed.iter().take(20) {
            eprintln!("levee: {m}");
        }
        damaged |= !report.malformed.is_empty();
        eprintln!(
            "levee: {}: {} requests, {} written{}",
            report.file,
            report.requests,
            report.written,
            match (report.outside_time, report.filtered_out) {
                (0, 0) => String::new(),
                (t, f) => format!(", {t} outside the time asked for, {f} not matching the filter"),
            }
        );
    }
    out.flush()
        .with_context(|| format!("cannot write {name}"))?;
    if let Some(x) = anonymiser.as_mut() {
        x.finish()?;
    }
    Ok(if damaged { EXIT_DAMAGED_RECORDS } else { 0 })
}

/// A cleaning's error with its exit code: an input (or mapping) that cannot be read is 3.
fn exit(e: levee_clean::CleanError) -> anyhow::Error {
    match e {
        levee_clean::CleanError::Unreadable { .. } | levee_clean::CleanError::BadMapping { .. } => {
            Exit::no_input(e.to_string())
        }
        other => other.into(),
    }
}
