//! CSV indicator files, with a header that names the columns (as feeds and threat-intel
//! platforms export them; abuse.ch's comment their header out with `#`, which is read too).
//!
//! | column (any of these names, case ignored) | read as |
//! | --- | --- |
//! | `value`, `indicator`, `ioc`, `ioc_value`, `observable`, `indicator_value` | the value (required) |
//! | `type`, `ioc_type`, `indicator_type`, `kind`, `type_name` | its type, as [`super::typed`] knows them; without this column, the shape of the value tells (as in a plain list) |
//! | `description`, `comment`, `malware_printable`, `malware`, `threat_type`, `name`, `label`, `tags` | the label (the first of them that is not empty) |
//! | `valid_from`, `valid_until` | the validity (RFC 3339) |
//!
//! Lines starting with `#` are comments; a damaged row is an error naming its line.

use super::{parse_time, typed, Indicator, IndicatorFile, Unusable};

const VALUE: &[&str] = &[
    "value",
    "indicator",
    "ioc",
    "ioc_value",
    "observable",
    "indicator_value",
];
const TYPE: &[&str] = &["type", "ioc_type", "indicator_type", "kind", "type_name"];
const LABEL: &[&str] = &[
    "description",
    "comment",
    "malware_printable",
    "malware",
    "threat_type",
    "name",
    "label",
    "tags",
];

/// The columns of a header.
struct Columns {
    value: usize,
    kind: Option<usize>,
    labels: Vec<usize>,
    valid_from: Option<usize>,
    valid_until: Option<usize>,
}

fn cells(line: &str) -> Vec<String> {
    let mut r = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(::csv::Trim::All)
        .from_reader(line.as_bytes());
    r.records()
        .next()
        .and_then(Result::ok)
        .map(|rec| {
            rec.iter()
                .map(|c| unquoted(c).to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default()
}

fn columns(header: &str) -> Option<Columns> {
    let names = cells(header);
    let find = |set: &[&str]| names.iter().position(|n| set.contains(&n.as_str()));
    Some(Columns {
        value: find(VALUE)?,
        kind: find(TYPE),
        labels: LABEL
            .iter()
            .filter_map(|l| names.iter().position(|n| n == l))
            .collect(),
        valid_from: find(&["valid_from"]),
        valid_until: find(&["valid_until", "expiration", "expires"]),
    })
}

/// A cell without the quotes a space before them kept in it (`a, "b"`: the CSV reader
/// takes quotes only at a field's very start).
fn unquoted(cell: &str) -> &str {
    let c = cell.trim();
    c.strip_prefix('"')
        .and_then(|c| c.strip_suffix('"'))
        .unwrap_or(c)
}

/// Whether `line` is a header naming a value column.
pub fn is_header(line: &str) -> bool {
    line.contains(',') && columns(line).is_some()
}

/// Reads the CSV `text` of `file` into `out`.
pub fn read(file: &str, text: &str, out: &mut IndicatorFile) -> Result<(), String> {
    // The header: the first line that is not a comment, or the last comment line before it
    // that reads as one (abuse.ch's `# "first_seen_utc","ioc_id","ioc_value",...`).
    let mut header = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if let Some(comment) = t.strip_prefix('#') {
            if is_header(comment.trim()) {
                header = Some((i, comment.trim().to_string()));
            }
            continue;
        }
        if is_header(t) {
            header = Some((i, t.to_string()));
        }
        break;
    }
    let Some((header_line, header)) = header else {
        return Err(format!(
            "no header naming the value column (one of: {})",
            VALUE.join(", ")
        ));
    };
    let cols = columns(&header).expect("a header");
    // A record a line, or more while a quoted field is open (its quotes are odd in number).
    let mut pending = String::new();
    let mut line = 0;
    for (i, text_line) in text.lines().enumerate() {
        if pending.is_empty() {
            let t = text_line.trim();
            if i <= header_line || t.is_empty() || t.starts_with('#') {
                continue;
            }
            line = i + 1;
        }
        pending.push_str(text_line);
        pending.push('\n');
        if pending.bytes().filter(|&b| b == b'"').count() % 2 == 1 {
            continue;
        }
        let record = one_record(&pending).map_err(|e| format!("line {line}: {e}"))?;
        pending.clear();
        let cell = |i: Option<usize>| i.and_then(|i| record.get(i)).map_or("", unquoted);
        let source = format!("{file}:{line}");
        let value = cell(Some(cols.value));
        let type_name = cell(cols.kind);
        let found = if cols.kind.is_some() {
            typed(type_name, value)
        } else {
            super::plain::guess(value)
        };
        let label = cols
            .labels
            .iter()
            .map(|&i| cell(Some(i)))
            .find(|l| !l.is_empty() && *l != "None")
            .map(str::to_string);
        let time = |i: Option<usize>| -> Result<Option<i64>, String> {
            let t = cell(i);
            if t.is_empty() {
                return Ok(None);
            }
            parse_time(t)
                .map(Some)
                .ok_or_else(|| format!("line {line}: `{t}` is not an RFC 3339 time"))
        };
        let (valid_from, valid_until) = (time(cols.valid_from)?, time(cols.valid_until)?);
        match found {
            Ok(kinds) => out
                .indicators
                .extend(kinds.into_iter().map(|(kind, value)| Indicator {
                    kind,
                    value,
                    source: source.clone(),
                    label: label.clone(),
                    valid_from,
                    valid_until,
                })),
            Err(why) => out.unusable.push(Unusable {
                source,
                kind: type_name.to_string(),
                value: value.to_string(),
                why,
            }),
        }
    }
    if !pending.is_empty() {
        return Err(format!("line {line}: a quoted field is not closed"));
    }
    Ok(())
}

/// The cells of one CSV record (one line, or several inside quotes).
fn one_record(text: &str) -> Result<::csv::StringRecord, ::csv::Error> {
    let mut r = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(::csv::Trim::All)
        .from_reader(text.as_bytes());
    r.records()
        .next()
        .unwrap_or_else(|| Ok(::csv::StringRecord::new()))
}

#[cfg(test)]
mod tests {
    use super::super::Kind;
    use super::*;

    #[test]
    fn a_header_names_the_columns_even_commented_out() {
        let text = "################\n\
            # ThreatFox IOCs: CSV export\n\
            #\n\
            # \"first_seen_utc\",\"ioc_id\",\"ioc_value\",\"ioc_type\",\"threat_type\",\"malware_printable\"\n\
            \"2026-01-15 10:00:00\", \"1\", \"192.0.2.1:443\", \"ip:port\", \"botnet_cc\", \"TrickBot\"\n\
            \"2026-01-15 10:00:00\", \"2\", \"evil.example\", \"domain\", \"payload_delivery\", \"None\"\n\
            \"2026-01-15 10:00:00\", \"3\", \"ab\", \"sha256_hash\", \"payload\", \"x\"\n";
        let mut out = IndicatorFile::default();
        read("feed.csv", text, &mut out).unwrap();
        let got: Vec<_> = out
            .indicators
            .iter()
            .map(|i| (i.kind, &i.value[..], i.label.as_deref(), &i.source[..]))
            .collect();
        assert_eq!(
            got,
            [
                (Kind::Address, "192.0.2.1", Some("TrickBot"), "feed.csv:5"),
                (
                    Kind::Domain,
                    "evil.example",
                    Some("payload_delivery"),
                    "feed.csv:6"
                ),
            ]
        );
        assert_eq!(out.unusable.len(), 1);
        assert_eq!(out.unusable[0].source, "feed.csv:7");
    }

    #[test]
    fn validity_columns_and_untyped_values() {
        let text = "indicator,valid_from,valid_until,description\n\
            192.0.2.0/24,2026-01-01T00:00:00Z,,scanner net\n\
            evil.example,,2026-02-01T00:00:00Z,\n";
        let mut out = IndicatorFile::default();
        read("x.csv", text, &mut out).unwrap();
        assert_eq!(out.indicators[0].kind, Kind::Network);
        assert_eq!(out.indicators[0].label.as_deref(), Some("scanner net"));
        assert!(out.indicators[0].valid_from.is_some() && out.indicators[0].valid_until.is_none());
        assert_eq!(out.indicators[1].kind, Kind::Domain);
        assert!(out.indicators[1].valid_until.is_some());
        let bad = "indicator,valid_from\n192.0.2.1,yesterday\n";
        let e = read("x.csv", bad, &mut IndicatorFile::default()).unwrap_err();
        assert!(e.contains("line 2") && e.contains("yesterday"), "{e}");
        assert!(read("x.csv", "a,b\n1,2\n", &mut IndicatorFile::default()).is_err());
    }
}
