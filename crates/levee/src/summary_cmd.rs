//! `levee summary` and `levee fields`: what captures hold, in totals and packet by packet.

use levee_analyze::SummaryBuilder;

use crate::cli::{FieldsArgs, SummaryArgs};
use crate::{bail_usage, emit, input, render, InputArgs};

pub fn summary(a: SummaryArgs) -> anyhow::Result<u8> {
    if !(a.bucket > 0.0 && a.bucket.is_finite()) {
        bail_usage!("--bucket must be a positive number of seconds");
    }
    let mut builder = SummaryBuilder::new((a.bucket * 1e9) as i64);
    let outcome = input::for_each_packet(&a.input, &mut builder, |b, ts, p| b.add(ts, p))?;
    let summary = builder.finish(outcome.files.clone(), a.top);
    emit_summary(&summary, a.json)?;
    Ok(input::exit_code(&outcome))
}

pub fn emit_summary(summary: &levee_analyze::Summary, json: bool) -> anyhow::Result<()> {
    if json {
        emit(&(serde_json::to_string_pretty(summary)? + "\n"))
    } else {
        emit(&render::summary_text(summary))
    }
}

pub fn fields(a: FieldsArgs) -> anyhow::Result<u8> {
    use std::io::Write;
    if a.list {
        let list: String = levee_decode::FIELD_NAMES
            .iter()
            .map(|(name, meaning)| format!("{name:<28} {meaning}\n"))
            .collect();
        emit(&list)?;
        return Ok(0);
    }
    if a.fields.is_empty() {
        bail_usage!("name at least one field with -e (see `levee fields --list`)");
    }
    for f in &a.fields {
        if !levee_decode::FIELD_NAMES.iter().any(|(n, _)| n == f) {
            bail_usage!("unknown field `{f}` (see `levee fields --list`)");
        }
    }
    let names: Vec<&str> = a.fields.iter().map(String::as_str).collect();
    let input = InputArgs {
        captures: a.captures.clone(),
        no_progress: true,
        max_errors: a.max_errors,
        spool: None,
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
