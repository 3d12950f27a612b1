//! Hunting in flow exports: the addresses of every record, in captures of export datagrams
//! (NetFlow v5/v9, IPFIX, sFlow) and in nfdump's and goflow2's JSON.

use std::path::Path;

use levee_capture::{CaptureReader, Item};
use levee_flow::json::JsonFlavor;
use levee_flow::{Decoder, FlowRecord};

use crate::anomalies::Anomalies;
use crate::{At, Field, FileSummary, HuntError, Hunter, Index, InputKind, Sink};

/// Hunts the capture of export datagrams at `path` (named `file`).
pub(crate) fn hunt_exports(
    path: &Path,
    file: &str,
    index: &Index,
    options: &crate::Options,
    sink: &mut dyn Sink,
) -> Result<FileSummary, HuntError> {
    let mut reader = CaptureReader::open(path).map_err(|e| HuntError::Unreadable {
        file: file.to_string(),
        why: e.to_string(),
    })?;
    let mut h = Hunter::new(index, sink, file);
    let mut anomalies = options.anomalies.then(Anomalies::new);
    let mut decoder = Decoder::new();
    let mut records = Vec::new();
    let mut read = 0u64;
    while let Some(item) = reader.next_item() {
        let f = match item {
            Item::Frame(f) => f,
            Item::Damaged(e) => {
                h.damaged(e.to_string());
                continue;
            }
        };
        let frame = f.index + 1;
        let datagram = levee_decode::with_decoded(f.linktype, f.data, f.orig_len, |p| {
            let ip = p.ip.as_ref()?;
            matches!(p.transport, levee_decode::Transport::Udp(_))
                .then(|| (ip.src, p.payload.to_vec()))
        });
        let Some((exporter, payload)) = datagram else {
            continue;
        };
        records.clear();
        if let Err(e) = decoder.decode(exporter, &payload, &mut records) {
            h.damaged(format!(
                "{file}: record {} (offset {}): flow export from {exporter}: {e}",
                f.index, f.offset
            ));
        }
        for (i, r) in records.iter().enumerate() {
            read += 1;
            let at = At::Record {
                frame,
                record: i as u32 + 1,
            };
            record_hits(&mut h, at, r, f.ts_nanos);
            if let Some(a) = anomalies.as_mut() {
                a.flow(r);
            }
        }
    }
    Ok(with_findings(
        h.summary(InputKind::FlowExports, read),
        anomalies,
        file,
    ))
}

/// Hunts the JSON flow records at `path` (named `file`).
pub(crate) fn hunt_json(
    path: &Path,
    file: &str,
    flavor: JsonFlavor,
    index: &Index,
    options: &crate::Options,
    sink: &mut dyn Sink,
) -> Result<FileSummary, HuntError> {
    let unreadable = |why: String| HuntError::Unreadable {
        file: file.to_string(),
        why,
    };
    let f = std::fs::File::open(path).map_err(|e| unreadable(e.to_string()))?;
    let (stream, _) =
        levee_logs::decompressed(Box::new(f)).map_err(|e| unreadable(e.to_string()))?;
    let mut input = std::io::BufReader::new(stream);
    let mut h = Hunter::new(index, sink, file);
    let mut anomalies = options.anomalies.then(Anomalies::new);
    let mut read = 0u64;
    levee_flow::json::read(&mut input, flavor, &mut |record| match record {
        Ok(r) => {
            read += 1;
            let ts = r.start_ns.or(r.end_ns).unwrap_or(0);
            record_hits(&mut h, At::JsonRecord(read), &r, ts);
            if let Some(a) = anomalies.as_mut() {
                a.flow(&r);
            }
        }
        Err(e) => {
            read += 1;
            h.damaged(format!("{file}: {e}"));
        }
    });
    Ok(with_findings(
        h.summary(InputKind::FlowJson, read),
        anomalies,
        file,
    ))
}

/// `summary` with the findings of `anomalies`, when they were looked for.
fn with_findings(
    mut summary: FileSummary,
    anomalies: Option<Anomalies>,
    file: &str,
) -> FileSummary {
    if let Some(a) = anomalies {
        summary.findings = a.findings(file);
    }
    summary
}

/// The hits of a flow record's addresses; `fallback_ts` when the record states no time.
fn record_hits(h: &mut Hunter<'_>, at: At, r: &FlowRecord, fallback_ts: i64) {
    let ts = Some(r.start_ns.unwrap_or(fallback_ts));
    let context = || flow_line(r);
    if let Some(src) = r.src {
        h.address((at, ts), Field::FlowSrc, src, &context);
    }
    if let Some(dst) = r.dst {
        h.address((at, ts), Field::FlowDst, dst, &context);
    }
}

/// A flow record in one line: protocol, endpoints, packets and bytes, exporter.
fn flow_line(r: &FlowRecord) -> String {
    let proto = levee_analyze::summary::proto_name(r.protocol);
    let end = |a: Option<std::net::IpAddr>, port: u16| match a {
        Some(a) => std::net::SocketAddr::new(a, port).to_string(),
        None => "?".to_string(),
    };
    format!(
        "{proto} {} -> {}, {} packets, {} bytes (1 in {} sampled), {} flow from {}",
        end(r.src, r.src_port),
        end(r.dst, r.dst_port),
        r.packets,
        r.bytes,
        r.sampling,
        r.format,
        r.exporter
    )
}
