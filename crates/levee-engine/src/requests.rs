//! Where the requests of a layer-7 analysis come from ([`Requests`]): access logs, or the
//! HTTP/1.x requests reassembled from the TCP of captures (`levee-stream`). Either is read
//! request by request, as many times as the analysis has passes; the first reading tells what
//! is wrong and requires requests, later ones only read. [`input_kind`] tells a capture from
//! a log by its first bytes.

use std::io::Read;
use std::path::{Path, PathBuf};

use levee_logs::{FormatSpec, Request};

use crate::logs::{
    for_each_request, for_each_request_shared, LogFile, LogObserver, LogsRead, NoRequests, Quiet,
};
use crate::read::{self, DamageSink, Inputs, Observer, ReadError};

/// Malformed lines of a log the first reading keeps and tells.
const KEPT_MALFORMED: usize = 10;

/// The requests of a layer-7 analysis.
pub enum Requests {
    /// Access logs.
    Logs {
        /// The files, in order.
        files: Vec<PathBuf>,
        /// Where standard input was copied, if it was (named `-` again in what is read).
        spool: Option<PathBuf>,
        /// The format to read them in.
        spec: FormatSpec,
    },
    /// The HTTP/1.x requests of captures, reassembled from TCP.
    Captures(Inputs),
}

/// Why requests could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RequestsError {
    /// No input gave a request.
    #[error(transparent)]
    NoRequests(#[from] NoRequests),
    /// The captures could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// The reassembly of one reading of captures.
struct Reassembly<'f, F> {
    extractor: levee_stream::HttpExtractor,
    each: &'f mut F,
    requests: u64,
}

impl<F> DamageSink for Reassembly<'_, F> {}

impl Requests {
    /// `log` or `capture`, as the documents name their input.
    pub fn kind(&self) -> &'static str {
        match self {
            Requests::Logs { .. } => "log",
            Requests::Captures(_) => "capture",
        }
    }

    /// Hands every request to `each`, in order: reading `pass` (from 1). The first tells what
    /// is wrong to `logs` (for logs) or `packets` (for captures) and requires a request;
    /// `packets` gets the progress of every pass over captures.
    pub fn each(
        &self,
        pass: u8,
        logs: &dyn LogObserver,
        packets: &dyn Observer,
        mut each: impl FnMut(&Request<'_>),
    ) -> Result<LogsRead, RequestsError> {
        let first = pass <= 1;
        match self {
            Requests::Logs { files, spool, spec } => {
                let (keep, observer) = if first {
                    (KEPT_MALFORMED, logs)
                } else {
                    (0, &Quiet as &dyn LogObserver)
                };
                let mut read = for_each_request(files, spec, keep, observer, each);
                read.name_spool(spool.as_deref());
                if first {
                    read.require_requests("requests", logs)?;
                }
                Ok(read)
            }
            Requests::Captures(inputs) => {
                let mut read = reassembled(inputs, pass, packets, &mut each)?;
                if first {
                    read.require_requests("HTTP/1.x request in cleartext", &Quiet)?;
                }
                Ok(read)
            }
        }
    }
}

impl Requests {
    /// As [`Requests::each`], on one thread per worker for logs, each the requests of its
    /// share of the clients ([`crate::logs::for_each_request_shared`]); the requests of
    /// captures all go to the first worker, on this thread. Returns the workers.
    pub fn each_shared<W: Send>(
        &self,
        pass: u8,
        logs: &dyn LogObserver,
        packets: &dyn Observer,
        mut workers: Vec<W>,
        each: impl Fn(&mut W, &Request<'_>) + Sync,
    ) -> Result<(LogsRead, Vec<W>), RequestsError> {
        match self {
            Requests::Logs { files, spool, spec } => {
                let first = pass <= 1;
                let (keep, observer) = if first {
                    (KEPT_MALFORMED, logs)
                } else {
                    (0, &Quiet as &dyn LogObserver)
                };
                let (mut read, workers) =
                    for_each_request_shared(files, spec, keep, observer, workers, each);
                read.name_spool(spool.as_deref());
                if first {
                    read.require_requests("requests", logs)?;
                }
                Ok((read, workers))
            }
            Requests::Captures(_) => {
                let read = match workers.first_mut() {
                    Some(w) => self.each(pass, logs, packets, |r| each(w, r))?,
                    None => self.each(pass, logs, packets, |_| {})?,
                };
                Ok((read, workers))
            }
        }
    }
}

/// The requests of captures, reassembled: each handed to `each` as soon as its head is
/// complete (and paired with its response when it comes), the rest when the captures end.
fn reassembled(
    inputs: &Inputs,
    pass: u8,
    observer: &dyn Observer,
    each: &mut impl FnMut(&Request<'_>),
) -> Result<LogsRead, ReadError> {
    let mut r = Reassembly {
        extractor: levee_stream::HttpExtractor::new(Default::default()),
        each,
        requests: 0,
    };
    fn step<F: FnMut(&Request<'_>)>(
        r: &mut Reassembly<'_, F>,
        ts: i64,
        p: &levee_decode::Packet<'_>,
    ) {
        r.extractor.add(ts, p);
        for q in r.extractor.drain() {
            r.requests += 1;
            (r.each)(&q);
        }
    }
    let reading = if pass <= 1 {
        read::for_each_packet(inputs, observer, &mut r, step)?
    } else {
        read::again(inputs, observer, pass, &mut r, step)
    };
    r.extractor.finish();
    for q in r.extractor.drain() {
        r.requests += 1;
        (r.each)(&q);
    }
    let st = r.extractor.stats();
    let names: Vec<&str> = reading.files.iter().map(|f| f.name.as_str()).collect();
    let names = match names.len() {
        0..=3 => names.join(", "),
        n => format!("{n} captures ({}, {}, ...)", names[0], names[1]),
    };
    let format = format!(
        "capture: HTTP/1.x from {} TCP connections ({} answered, {} TLS ClientHellos, {} header \
         blocks never finished, {} gaps)",
        st.connections, st.answered, st.tls_hellos, st.incomplete_headers, st.gaps
    );
    Ok(LogsRead {
        files: vec![LogFile::capture(names, format, r.requests)],
        unreadable: reading.unreadable > 0,
        damaged: reading.damaged > 0,
    })
}

/// What an input is, told by its first bytes after decompression.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum InputKind {
    /// pcap or pcapng, or flow records as JSON (nfdump's, goflow2's): read as packets.
    Capture,
    /// Anything else with content: read as an access log.
    Text,
    /// Nothing in it (after decompression).
    Empty,
    /// Cannot be opened or decompressed: the reader of either kind says why.
    Unreadable,
}

/// What the file at `path` is.
pub fn input_kind(path: &Path) -> InputKind {
    let Ok(f) = std::fs::File::open(path) else {
        return InputKind::Unreadable;
    };
    let Ok((stream, _)) = levee_logs::decompressed(Box::new(f)) else {
        return InputKind::Unreadable;
    };
    // The bytes read before an error count: the reader of either kind reports the error.
    let mut head = Vec::with_capacity(4);
    let _ = stream.take(4).read_to_end(&mut head);
    match <[u8; 4]>::try_from(head.as_slice()) {
        _ if head.is_empty() => InputKind::Empty,
        Ok(magic)
            if matches!(
                u32::from_le_bytes(magic),
                0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 | 0x0a0d_0d0a
            ) =>
        {
            InputKind::Capture
        }
        _ if crate::flows::json_flavor(path).is_some() => InputKind::Capture,
        _ => InputKind::Text,
    }
}
