//! The field registry against the decoder: every value the decoder gives on real packets is of
//! the kind its declaration says, within its declared largest value, and every declared field
//! is given by some packet of the shared corpus (so a field declared but never decoded, or
//! decoded under another name, fails here).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use levee_decode::{FieldKind, FieldValue, FIELDS};

/// Fields no packet gives: they come from access logs only.
const NOT_FROM_PACKETS: &[&str] = &["http.response.code"];

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn kind_of(v: &FieldValue) -> FieldKind {
    match v {
        FieldValue::Int(_) => FieldKind::Int,
        FieldValue::Bool(_) => FieldKind::Bool,
        FieldValue::Ip(_) => FieldKind::Ip,
        FieldValue::Str(_) => FieldKind::Str,
        FieldValue::Bytes(_) => FieldKind::Bytes,
    }
}

/// Checks every field `p` gives against its declaration, and counts it as given.
fn check(
    p: &levee_decode::Packet<'_>,
    orig_len: u32,
    names: &[&str],
    given: &mut [u64],
    at: &dyn Fn() -> String,
) {
    for (i, v) in p.fields(names).into_iter().enumerate() {
        let Some(v) = v else { continue };
        let def = &FIELDS[i];
        assert_eq!(kind_of(&v), def.kind, "{}: {} = {v}", at(), def.name);
        // A frame longer than any IP length field can state is a segmentation offload
        // super-packet (BIG TCP, an IPv6 jumbogram) captured inside a host: its lengths come
        // from the frame, beyond the wire's bounds.
        let super_packet = def.name.ends_with(".len") && orig_len > 0xffff + 40;
        if let (FieldValue::Int(n), false) = (&v, super_packet) {
            assert!(
                *n <= def.max,
                "{}: {} = {n}, above the declared {}",
                at(),
                def.name,
                def.max
            );
        }
        given[i] += 1;
    }
}

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn every_decoded_value_is_of_its_declared_kind_and_every_field_is_decoded() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    let mut paths = Vec::new();
    files_under(&dir, &mut paths);
    paths.sort();
    let names: Vec<&str> = FIELDS.iter().map(|f| f.name).collect();
    let mut given = vec![0u64; FIELDS.len()];
    let mut frames = 0u64;
    for path in &paths {
        let Ok(mut reader) = levee_capture::CaptureReader::open(path) else {
            continue;
        };
        let mut record = 0u64;
        reader.for_each_item(|item| {
            record += 1;
            if let levee_capture::Item::Frame(f) = item {
                frames += 1;
                let p = levee_decode::decode(f.linktype, f.data, f.orig_len);
                let at = || format!("{} record {record}", path.display());
                check(&p, f.orig_len, &names, &mut given, &at);
            }
            ControlFlow::Continue(())
        });
    }
    // The synthetic scenarios, for what the real captures lack (memcached and CLDAP
    // reflections, ClientHellos naming a server).
    for scenario in levee_synth::Scenario::names() {
        let cfg = levee_synth::SynthConfig {
            scenario: levee_synth::Scenario::parse(scenario).unwrap(),
            packets: 3_000,
            ..Default::default()
        };
        let mut pcap = Vec::new();
        levee_synth::generate(&cfg, &mut pcap, std::io::sink()).unwrap();
        let mut reader = levee_capture::CaptureReader::from_bytes(scenario, pcap).unwrap();
        while let Some(levee_capture::Item::Frame(f)) = reader.next_item() {
            let p = levee_decode::decode(f.linktype, f.data, f.orig_len);
            check(&p, f.orig_len, &names, &mut given, &|| scenario.to_string());
        }
    }
    assert!(frames > 50_000, "the corpus was read: {frames} frames");
    let never: Vec<&str> = FIELDS
        .iter()
        .zip(&given)
        .filter(|(f, n)| **n == 0 && !NOT_FROM_PACKETS.contains(&f.name))
        .map(|(f, _)| f.name)
        .collect();
    assert!(never.is_empty(), "declared, never decoded: {never:?}");
    for name in NOT_FROM_PACKETS {
        let i = names.iter().position(|n| n == name).unwrap();
        assert_eq!(given[i], 0, "{name} is given by packets after all");
    }
}
