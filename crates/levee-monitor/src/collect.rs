//! A flow collector as the monitor's input (`levee monitor --collect ADDR:PORT`): NetFlow
//! v5/v9, IPFIX and sFlow from routers, each record the packets it stands for, scaled by its
//! sampling rate.
//!
//! Each datagram is decoded as it comes (`levee-flow`'s decoder, templates kept per
//! exporter), each record cut into the parts it stands for, a second each (a minute's
//! record is not a one-second burst), put back in time order within [`FLOW_HORIZON_NS`] and
//! fed to the monitor ([`Monitor::feed_flow`]). Traffic time is the records' own: when no
//! export comes it moves on with the wall clock from where the records left it, so a replay
//! of old flows (`softflowd -r`) ends its attacks as a live exporter's do. A part later
//! than the horizon (a long flow exported at the end of a minute's active timeout) still
//! counts in the seconds it belongs to, and the next decision sees it: detection from flows
//! is as late as the exporter's timeouts make it, which is why routers that feed a monitor
//! export every few seconds.
//!
//! The socket is `levee collect`'s ([`ExportSocket`]): a large receive buffer, and the
//! kernel's drops for it read every second and told. Each datagram is kept as evidence (a
//! raw IP packet, as `levee collect` writes them), so an incident's capture holds the
//! exports around it, which `levee report` reads as the traffic they stand for.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use levee_flow::collector::{datagram_packet, ExportSocket, RECEIVE_BUFFER, STOP_DRAIN};
use levee_flow::packets::{self, Reorder, Scaling};
use levee_flow::{Decoder, FlowRecord};

use crate::{wall_ns, Control, Monitor, MonitorError, BETWEEN_EVERY};

/// How long parts are held to be put in time order: exports of the same second from several
/// exporters, or one exporter's datagrams that crossed on the way.
pub const FLOW_HORIZON_NS: i64 = 2_000_000_000;

/// Parts held for ordering at most (the oldest second goes first past it).
const HELD_PARTS: usize = 1 << 20;

/// The link type of the evidence: raw IP.
const LINKTYPE_RAW: u32 = 101;

/// A socket receiving flow exports, and what reads them.
pub struct FlowInput {
    socket: ExportSocket,
    decoder: Decoder,
    reorder: Reorder,
    scaling: Scaling,
    records: Vec<FlowRecord>,
    frame: Vec<u8>,
    datagrams: u64,
}

impl FlowInput {
    /// Listens on `addr`; records whose export states no sampling rate are scaled by
    /// `default_rate` (`--sampling-rate`).
    pub fn bind(addr: SocketAddr, default_rate: u32) -> std::io::Result<FlowInput> {
        Ok(FlowInput {
            socket: ExportSocket::bind(addr, RECEIVE_BUFFER)?,
            decoder: Decoder::new(),
            reorder: Reorder::new(FLOW_HORIZON_NS, HELD_PARTS),
            scaling: Scaling {
                default_rate: default_rate.max(1),
            },
            records: Vec::new(),
            frame: Vec::new(),
            datagrams: 0,
        })
    }

    /// The address it listens on (the port the system chose, when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.socket.local_addr()
    }

    /// The receive buffer the kernel gave, in bytes.
    pub fn receive_buffer(&self) -> usize {
        self.socket.receive_buffer()
    }

    /// Datagrams received so far.
    pub fn datagrams(&self) -> u64 {
        self.datagrams
    }
}

/// Feeds the flows `input` receives into `monitor` until `control` says stop; then the parts
/// still held for ordering. The kernel's drops of the socket are read every second
/// ([`Monitor::kernel_counters`], with datagrams for packets).
pub fn collect(
    monitor: &mut Monitor<'_>,
    input: &mut FlowInput,
    control: &mut dyn Control,
) -> Result<(), MonitorError> {
    let local = input.socket.local_addr();
    let collect_error = |source| MonitorError::Collect {
        addr: local.to_string(),
        source,
    };
    // Traffic time minus the wall clock, as the newest record set it.
    let mut lead: Option<i64> = None;
    let mut newest = i64::MIN;
    let mut counted = Instant::now();
    let mut since_between = 0u32;
    let mut failed: Option<MonitorError> = None;
    // Once told to stop, what the socket already holds is read (for STOP_DRAIN at most),
    // so every datagram that reached it is counted.
    let mut stopping: Option<Instant> = None;
    loop {
        if stopping.is_none() && control.stopped() {
            stopping = Some(Instant::now());
        }
        let received = match stopping {
            None => input.socket.receive(Duration::from_millis(100)),
            Some(at) if at.elapsed() < STOP_DRAIN => input.socket.receive_queued(),
            Some(_) => break,
        }
        .map_err(collect_error)?;
        if stopping.is_some() && received.is_none() {
            break;
        }
        let wall = wall_ns();
        match received {
            Some((from, datagram)) => {
                input.datagrams += 1;
                input.records.clear();
                let decoded = input
                    .decoder
                    .decode(from.ip(), datagram, &mut input.records);
                datagram_packet(from, local, datagram, &mut input.frame);
                let len = input.frame.len() as u32;
                monitor.keep_evidence(wall, LINKTYPE_RAW, &input.frame, len);
                if let Err(e) = decoded {
                    monitor.damaged(&format!(
                        "{local}: datagram {} from {from}: {e}",
                        input.datagrams
                    ));
                }
                let reorder = &mut input.reorder;
                for r in &input.records {
                    packets::parts(r, wall, input.scaling, |part| {
                        newest = newest.max(part.ts);
                        reorder.push(part);
                    });
                }
                if newest != i64::MIN {
                    lead = Some(newest.saturating_sub(wall));
                }
                since_between += 1;
                if since_between >= BETWEEN_EVERY {
                    since_between = 0;
                    control.between(monitor);
                }
            }
            None => {
                control.between(monitor);
                if lead.is_none() {
                    monitor.idle();
                }
            }
        }
        if let Some(lead) = lead {
            let now = wall.saturating_add(lead).max(newest);
            input.reorder.now(now);
            input
                .reorder
                .ready(|part| feed_part(monitor, &part, &mut failed));
            if let Some(e) = failed.take() {
                return Err(e);
            }
            if received.is_none() {
                monitor.advance_to(now.saturating_sub(FLOW_HORIZON_NS))?;
            }
        }
        if counted.elapsed() >= Duration::from_secs(1) {
            counted = Instant::now();
            if let Some(drops) = input.socket.kernel_drops() {
                monitor.kernel_counters(input.datagrams + drops, drops);
            }
        }
    }
    input
        .reorder
        .finish(|part| feed_part(monitor, &part, &mut failed));
    if let Some(e) = failed {
        return Err(e);
    }
    if let Some(drops) = input.socket.kernel_drops() {
        monitor.kernel_counters(input.datagrams + drops, drops);
    }
    Ok(())
}

/// Feeds one part of a record, unless feeding failed before (the first failure is kept).
fn feed_part(monitor: &mut Monitor<'_>, part: &packets::Part, failed: &mut Option<MonitorError>) {
    if failed.is_none() {
        if let Err(e) = part.with_packet(|p| monitor.feed_flow(part.ts, p)) {
            *failed = Some(e);
        }
    }
}
