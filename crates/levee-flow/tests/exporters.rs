//! A real exporter: pmacct's `pmacctd` reads a shared attack capture (`pcap_savefile`). Its
//! `nfprobe` plugin exports the flows as NetFlow v5, v9 and IPFIX, its `sfprobe` plugin
//! samples the packets as sFlow v5, to a socket this test holds on loopback. levee-flow
//! decodes every datagram; the packets and bytes of the flows add up to the capture's own,
//! but for the one flow pmacct still holds when the capture ends, and the sFlow samples
//! scaled by their rate estimate them.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use levee_flow::{Decoder, FlowRecord, Format};

/// The capture's packets and the sum of their IP lengths, as levee decodes them.
fn capture_totals(capture: &Path) -> (u64, u64) {
    let mut r = levee_capture::CaptureReader::open(capture).unwrap();
    let (mut packets, mut bytes) = (0u64, 0u64);
    while let Some(item) = r.next_item() {
        let levee_capture::Item::Frame(f) = item else {
            continue;
        };
        levee_decode::with_decoded(f.linktype, f.data, f.orig_len, |p| {
            if let Some(ip) = p.ip {
                packets += 1;
                bytes += u64::from(ip.len);
            }
        });
    }
    (packets, bytes)
}

/// Every datagram pmacctd exports of `capture` with `plugin` (configured by `settings`,
/// which name the receiver `{port}`), decoded.
fn exported(capture: &Path, plugin: &str, settings: &str) -> Vec<FlowRecord> {
    // The exporter sends a capture's flows as fast as it reads them: a receive buffer of the
    // kernel's default (208 KiB) loses some of them on loopback.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    socket.set_recv_buffer_size(4 << 20).unwrap();
    socket
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    let socket: UdpSocket = socket.into();
    // The first datagram may take the exporter a while; after it, a pause of 1.5 s ends the
    // export.
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let port = socket.local_addr().unwrap().port();
    let receiver = std::thread::spawn(move || {
        let mut datagrams = Vec::new();
        let mut buf = vec![0u8; 65535];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            datagrams.push((from.ip(), buf[..n].to_vec()));
            if datagrams.len() == 1 {
                socket
                    .set_read_timeout(Some(Duration::from_millis(1500)))
                    .unwrap();
            }
        }
        datagrams
    });
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pmacctd.conf");
    std::fs::write(
        &config,
        format!(
            "daemonize: false\npcap_savefile: {}\nplugins: {plugin}\n{}\n",
            capture.display(),
            settings.replace("{port}", &port.to_string()),
        ),
    )
    .unwrap();
    let out = Command::new("timeout")
        .args(["60", "pmacctd", "-f"])
        .arg(&config)
        .output()
        .unwrap();
    // pmacctd sometimes exits 1 at the end of a capture file, when its plugin finished
    // first ("connection lost"): what it exported is what counts; a timeout is a failure.
    assert!(matches!(out.status.code(), Some(0 | 1)), "{out:?}");
    let datagrams = receiver.join().unwrap();
    assert!(!datagrams.is_empty(), "{plugin}: nothing exported");
    let mut decoder = Decoder::new();
    let mut records = Vec::new();
    for (from, d) in &datagrams {
        decoder.decode(*from, d, &mut records).unwrap();
    }
    eprintln!(
        "{plugin}: {} datagrams, {} records",
        datagrams.len(),
        records.len()
    );
    let stats = decoder.stats();
    assert_eq!(stats.datagrams, datagrams.len() as u64);
    assert_eq!(stats.dropped_sets, 0, "{plugin}: {stats:?}");
    records
}

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/attacks")
        .join(name)
}

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
#[cfg_attr(not(levee_has_pmacctd), ignore = "needs pmacctd (pmacct)")]
fn pmacct_netflow_v5_v9_and_ipfix_add_up_to_the_capture() {
    let capture = capture("pkt.TCP.synflood.spoofed.pcap");
    let (packets, bytes) = capture_totals(&capture);
    assert!(packets > 30_000);
    for (version, format) in [
        (5, Format::NetflowV5),
        (9, Format::NetflowV9),
        (10, Format::Ipfix),
    ] {
        let settings = format!(
            "nfprobe_receiver: 127.0.0.1:{{port}}\nnfprobe_version: {version}\nnfprobe_maxflows: 1"
        );
        let flows = exported(&capture, "nfprobe", &settings);
        assert!(flows.iter().all(|r| r.format == format));
        let records = flows.len();
        let p: u64 = flows.iter().map(|r| r.packets).sum();
        let b: u64 = flows.iter().map(|r| r.bytes).sum();
        assert!(records > 1000, "v{version}: {records} records");
        // pmacct keeps one flow in its cache (`nfprobe_maxflows: 1`: every new flow pushes the
        // last one out) and does not export it when the capture ends: that flow, of one or
        // two packets (a SYN, sometimes retried), is all the export lacks.
        assert!(
            p < packets && packets - p <= 2,
            "v{version}: {p} packets in the flows, {packets} in the capture"
        );
        assert!(
            b < bytes && (bytes - b) * p <= 2 * bytes,
            "v{version}: {b} bytes in the flows, {bytes} in the capture"
        );
    }
}

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
#[cfg_attr(not(levee_has_pmacctd), ignore = "needs pmacctd (pmacct)")]
fn pmacct_sflow_samples_estimate_the_capture() {
    let capture = capture("pkt.TCP.synflood.spoofed.pcap");
    let (packets, _) = capture_totals(&capture);
    // Every packet, then one in ten: each sample is one packet with its headers, and the
    // samples scaled by their rate estimate the capture.
    for rate in [1u64, 10] {
        let settings = format!(
            "sfprobe_receiver: 127.0.0.1:{{port}}\nsfprobe_agentip: 192.0.2.7\nsampling_rate: {rate}"
        );
        let samples = exported(&capture, "sfprobe", &settings);
        assert!(samples.iter().all(|r| r.format == Format::SflowV5));
        assert!(samples.iter().all(|r| r.packets == 1 && r.header.is_some()));
        assert!(
            samples.iter().all(|r| u64::from(r.sampling) == rate),
            "{:?}",
            samples.first()
        );
        let estimate: u64 = samples.iter().map(|r| u64::from(r.sampling)).sum();
        let n = samples.len() as f64;
        // Sampled 1 in `rate`: the estimate is within four standard deviations (a binomial
        // count's, times the rate). pmacct sends samples in datagrams of up to ten and does
        // not send the last, unfilled one when the capture ends: up to ten samples more.
        let sd = (n * (1.0 - 1.0 / rate as f64)).sqrt() * rate as f64;
        let off = estimate.abs_diff(packets) as f64;
        assert!(
            off <= 4.0 * sd + 10.0 * rate as f64,
            "1 in {rate}: {estimate} estimated, {packets} in the capture"
        );
        // The sampled headers are the capture's own: a SYN flood to one target.
        let syns = samples
            .iter()
            .filter(|r| r.protocol == 6 && r.tcp_flags & 0x12 == 0x02)
            .count();
        assert!(syns as f64 >= 0.9 * n, "{syns} SYNs of {n} samples");
    }
}
