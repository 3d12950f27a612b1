//! The requests of a layer-7 analysis: the web shop written as a capture gives every request
//! it holds, reassembled from TCP, on every pass; inputs are told apart by their bytes.

use levee_engine::logs::Quiet;
use levee_engine::requests::{input_kind, InputKind, Requests};
use levee_engine::{Inputs, Silent};

#[test]
fn every_request_of_the_shop_capture_is_reassembled_on_every_pass() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("shop.pcap");
    let log = dir.path().join("shop.log");
    let cfg = levee_synth::http::HttpConfig {
        duration_s: 120.0,
        ..Default::default()
    };
    let stats = levee_synth::http_capture::generate_http_capture(
        &cfg,
        false,
        std::fs::File::create(&pcap).unwrap(),
        std::io::sink(),
    )
    .unwrap();
    levee_synth::http::generate_http(&cfg, std::fs::File::create(&log).unwrap(), std::io::sink())
        .unwrap();
    assert!(stats.lines > 1000, "{stats:?}");

    let source = Requests::Captures(Inputs::new(vec![pcap.clone()]));
    for pass in [1, 2] {
        let mut requests = 0u64;
        let read = source
            .each(pass, &Quiet, &Silent, |_| requests += 1)
            .unwrap();
        assert_eq!(requests, stats.lines, "pass {pass}");
        assert_eq!(read.files[0].requests, stats.lines);
        assert!(!read.unreadable && !read.damaged);
    }
    assert_eq!(source.kind(), "capture");

    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(input_kind(&pcap), InputKind::Capture);
    assert_eq!(input_kind(&log), InputKind::Text);
    assert_eq!(input_kind(&empty), InputKind::Empty);
    assert_eq!(
        input_kind(&dir.path().join("missing")),
        InputKind::Unreadable
    );
}
