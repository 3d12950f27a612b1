//! MISP JSON exports: an event (`{"Event": {...}}`), several (`{"response": [{"Event":
//! ...}]}` or a list of them), or attributes alone (`{"response": {"Attribute": [...]}}`,
//! `{"Attribute": [...]}`). Every attribute counts, those of the event's objects too; its
//! `type` is read by [`super::typed`] (MISP's own vocabulary: `ip-dst`, `ip-src|port`,
//! `domain|ip`, `hostname`, `url`, `uri`, `user-agent`, `ja3-fingerprint-md5`, `md5`,
//! `filename|md5`...). Its label is its comment, else its event's `info`. Attributes flagged
//! `deleted` are left out.

use serde_json::Value;

use super::{typed, Indicator, IndicatorFile, Unusable};

/// Reads the MISP `json` of `file` into `out`.
pub fn read(file: &str, json: &Value, out: &mut IndicatorFile) -> Result<(), String> {
    let mut events: Vec<&Value> = Vec::new();
    let mut loose: Vec<&Value> = Vec::new();
    collect(json, &mut events, &mut loose);
    if events.is_empty() && loose.is_empty() {
        return Err("neither a MISP event nor MISP attributes".into());
    }
    let mut n = 0usize;
    for event in events {
        let info = event.get("info").and_then(Value::as_str);
        let attributes = event
            .get("Attribute")
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        let in_objects = event
            .get("Object")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|o| o.get("Attribute").and_then(Value::as_array))
            .flatten();
        for a in attributes.chain(in_objects) {
            n += 1;
            attribute(file, a, n, info, out);
        }
    }
    for a in loose {
        n += 1;
        attribute(file, a, n, None, out);
    }
    Ok(())
}

/// The events and the loose attributes in `v`, wherever MISP's exports put them.
fn collect<'a>(v: &'a Value, events: &mut Vec<&'a Value>, loose: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| collect(i, events, loose)),
        Value::Object(o) => {
            if let Some(e) = o.get("Event") {
                events.push(e);
            } else if let Some(r) = o.get("response") {
                collect(r, events, loose);
            } else if let Some(Value::Array(a)) = o.get("Attribute") {
                loose.extend(a.iter());
            } else if o.contains_key("type") && o.contains_key("value") {
                loose.push(v);
            }
        }
        _ => {}
    }
}

fn attribute(file: &str, a: &Value, n: usize, info: Option<&str>, out: &mut IndicatorFile) {
    let text = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("");
    if a.get("deleted").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let source = match text("uuid") {
        "" => format!("{file} attribute #{n}"),
        uuid => format!("{file} attribute {uuid}"),
    };
    let (type_name, value) = (text("type"), text("value"));
    let label = Some(text("comment"))
        .filter(|c| !c.is_empty())
        .or(info)
        .map(str::to_string);
    match typed(type_name, value) {
        Ok(found) => {
            for (kind, value) in found {
                out.indicators.push(Indicator {
                    kind,
                    value,
                    source: source.clone(),
                    label: label.clone(),
                    valid_from: None,
                    valid_until: None,
                });
            }
        }
        Err(why) => out.unusable.push(Unusable {
            source,
            kind: type_name.to_string(),
            value: value.to_string(),
            why,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Kind;
    use super::*;

    #[test]
    fn events_objects_and_loose_attributes() {
        let json: Value = serde_json::from_str(
            r#"{"response":[{"Event":{"info":"TrickBot campaign","Attribute":[
                {"uuid":"u1","type":"ip-dst|port","value":"192.0.2.1|447","to_ids":true},
                {"uuid":"u2","type":"domain|ip","value":"evil.example|192.0.2.2","comment":"C2"},
                {"uuid":"u3","type":"email-src","value":"a@b.example"},
                {"uuid":"u4","type":"url","value":"https://evil.example/x","deleted":true}],
              "Object":[{"name":"http-request","Attribute":[
                {"uuid":"u5","type":"user-agent","value":"TrickLoader"},
                {"uuid":"u6","type":"ja3-fingerprint-md5","value":"6734F37431670B3AB4292B8F60F29984"}]}]}}]}"#,
        )
        .unwrap();
        let mut out = IndicatorFile::default();
        read("event.json", &json, &mut out).unwrap();
        let got: Vec<_> = out
            .indicators
            .iter()
            .map(|i| (i.kind, &i.value[..], i.label.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (Kind::Address, "192.0.2.1", Some("TrickBot campaign")),
                (Kind::Domain, "evil.example", Some("C2")),
                (Kind::Address, "192.0.2.2", Some("C2")),
                (Kind::UserAgent, "TrickLoader", Some("TrickBot campaign")),
                (
                    Kind::Ja3,
                    "6734f37431670b3ab4292b8f60f29984",
                    Some("TrickBot campaign")
                ),
            ]
        );
        assert_eq!(out.indicators[0].source, "event.json attribute u1");
        assert_eq!(out.unusable.len(), 1);
        assert!(out.unusable[0].why.contains("email-src"));

        let loose: Value = serde_json::from_str(
            r#"{"response":{"Attribute":[{"type":"hostname","value":"x.evil.example"}]}}"#,
        )
        .unwrap();
        let mut out = IndicatorFile::default();
        read("attrs.json", &loose, &mut out).unwrap();
        assert_eq!(out.indicators[0].source, "attrs.json attribute #1");
        assert!(read("x.json", &serde_json::json!({"a": 1}), &mut out).is_err());
    }
}
