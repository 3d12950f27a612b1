//! Hunting in an access log: each line's client, and its request as a capture's.

use std::path::Path;

use levee_logs::{Entry, FormatSpec, LogReader};

use crate::anomalies::Anomalies;

use crate::{
    request_hits, request_line, At, Field, FileSummary, HuntError, Hunter, Index, InputKind, Sink,
};

/// Hunts the log at `path` (named `file`), its format `spec`.
pub(crate) fn hunt(
    path: &Path,
    file: &str,
    spec: &FormatSpec,
    index: &Index,
    options: &crate::Options,
    sink: &mut dyn Sink,
) -> Result<FileSummary, HuntError> {
    let unreadable = |e: levee_logs::LogError| HuntError::Unreadable {
        file: file.to_string(),
        why: e.to_string(),
    };
    let mut reader = LogReader::open(path, spec.clone()).map_err(unreadable)?;
    let mut h = Hunter::new(index, sink, file);
    let mut requests = 0u64;
    // A request borrows the reader, which knows its line's number only once the request is
    // let go: its hits are held until then.
    let mut held = Held::default();
    let mut anomalies = options.anomalies.then(Anomalies::new);
    loop {
        let entry = match reader.next_entry() {
            None => break,
            Some(Err(e)) => {
                if requests == 0 {
                    return Err(unreadable(e));
                }
                h.damaged(e.to_string());
                break;
            }
            Some(Ok(entry)) => entry,
        };
        match entry {
            Entry::Request(r) => {
                requests += 1;
                let mut line_hunter = Hunter::new(index, &mut held, file);
                let at = (At::Line(0), r.ts);
                let context = || format!("{} {}", r.client, request_line(&r));
                if let Some(ip) = r.ip {
                    line_hunter.address(at, Field::LogClient, ip, &context);
                }
                let fingerprints = Some((Field::LogJa3, Field::LogJa4));
                request_hits(&mut line_hunter, at, &r, fingerprints, &context);
                if let (Some(a), Some(ip)) = (anomalies.as_mut(), r.ip) {
                    a.request(r.ts.unwrap_or(0), ip, None, &r);
                }
            }
            Entry::Elsewhere => {}
            Entry::Malformed { line, error } => {
                h.damaged(format!("{file}: line {line}: {}", error.0));
            }
        }
        if !held.0.is_empty() {
            let line = reader.last_line();
            for mut hit in held.0.drain(..) {
                hit.at = At::Line(line);
                h.hits += 1;
                let context = hit.context.clone();
                h.sink.hit(file, &hit.as_ref(&move || context.clone()));
            }
        }
    }
    if requests == 0 && h.damaged == 0 {
        return Err(HuntError::Unreadable {
            file: file.to_string(),
            why: "no request in it".into(),
        });
    }
    let mut summary = h.summary(InputKind::Log, requests);
    if let Some(a) = anomalies {
        summary.findings = a.findings(file);
    }
    Ok(summary)
}

/// The hits of one line, until its number is known.
#[derive(Default)]
struct Held(Vec<crate::Hit>);

impl Sink for Held {
    fn hit(&mut self, _file: &str, hit: &crate::HitRef<'_>) {
        self.0.push(hit.to_hit());
    }

    fn damaged(&mut self, _what: String) {}
}
