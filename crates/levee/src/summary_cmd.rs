//! `levee summary` and `levee fields`: what captures hold, in totals and packet by packet.

use levee_analyze::SummaryBuilder;

use crate::cli::{FieldsArgs, SummaryArgs};
use crate::{bail_usage, emit, input, InputArgs};

pub fn summary(a: SummaryArgs) -> anyhow::Result<u8> {
    if !(a.bucket > 0.0 && a.bucket.is_finite()) {
        bail_usage!("--bucket must be a positive number of seconds");
    }
    let mut builder = SummaryBuilder::new((a.bucket * 1e9) as i64);
    let mut input = a.input.clone();
    input.flow_sampling = a.sampling_rate;
    let outcome = input::for_each_packet(&input, &mut builder, |b, ts, p| b.add(ts, p))?;
    let summary = builder.finish(outcome.files.clone(), a.top);
    emit_summary(&summary, a.json)?;
    Ok(input::exit_code(&outcome))
}

pub fn emit_summary(summary: &levee_analyze::Summary, json: bool) -> anyhow::Result<()> {
    if json {
        emit(&(serde_json::to_string_pretty(summary)? + "\n"))
    } else {
        emit(&levee_report::text::summary(summary))
    }
}

pub fn fields(a: FieldsArgs) -> anyhow::Result<u8> {
    use std::io::Write;
    if a.list {
        emit(&field_list())?;
        return Ok(0);
    }
    if a.fields.is_empty() {
        bail_usage!("name at least one field with -e (see `levee fields --list`)");
    }
    for f in &a.fields {
        if levee_decode::field_def(f).is_none() {
            bail_usage!("unknown field `{f}` (see `levee fields --list`)");
        }
    }
    let names: Vec<&str> = a.fields.iter().map(String::as_str).collect();
    let input = InputArgs {
        captures: a.captures.clone(),
        no_progress: true,
        max_errors: a.max_errors,
        spool: None,
        flow_sampling: 1,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut write_err: Option<std::io::Error> = None;
    let outcome = input::for_each_packet(&input, &mut out, |out, _ts, p| {
        if write_err.is_some() {
            return;
        }
        let mut line = String::new();
        for (i, v) in p.fields(&names).into_iter().enumerate() {
            if i > 0 {
                line.push('\t');
            }
            if let Some(v) = v {
                line.push_str(&v.to_string());
            }
        }
        line.push('\n');
        if let Err(e) = out.write_all(line.as_bytes()) {
            write_err = Some(e);
        }
    })?;
    if let Some(e) = write_err {
        // A closed pipe (`| head`) is not an error worth a message.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
        return Ok(0);
    }
    match out.flush() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    Ok(input::exit_code(&outcome))
}

/// Every field, declared once in `levee_decode::FIELDS`: its name, type, layer, meaning and
/// the rule targets whose compilers express it.
fn field_list() -> String {
    let mut out = format!(
        "{:<28} {:<5} {:<7} {:<52} {}\n",
        "field", "type", "layer", "rule targets", "meaning"
    );
    for f in levee_decode::FIELDS {
        let targets: Vec<&str> = levee_rules::compile::expressible(f.name)
            .into_iter()
            .map(levee_rules::compile::Target::name)
            .collect();
        let targets = if targets.is_empty() {
            "-".to_string()
        } else {
            targets.join(",")
        };
        out.push_str(&format!(
            "{:<28} {:<5} {:<7} {:<52} {}\n",
            f.name,
            serde_plain(&f.kind),
            serde_plain(&f.layer),
            targets,
            f.meaning
        ));
    }
    out
}

/// A unit enum's serde name (`int`, `tcp`).
fn serde_plain(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v)
        .unwrap_or_default()
        .trim_matches('"')
        .to_string()
}
