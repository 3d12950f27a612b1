//! Any bytes as a run of flow export datagrams (NetFlow v5, v9, IPFIX, sFlow v5) from one exporter: each
//! is decoded or refused with an error, never a panic, every record is whole, and the
//! decoder's count agrees. Exporters on the internet can be forged.
#![no_main]

use levee_flow::Decoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let exporter = std::net::IpAddr::from([192, 0, 2, 1]);
    let mut decoder = Decoder::new();
    let mut records = Vec::new();
    // Datagrams are separated by their first byte: its value is the next one's length.
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let _ = decoder.decode(exporter, &tail[..n], &mut records);
        rest = &tail[n..];
    }
    // Every record is from the exporter, with a sampling rate of 1 or more; a sampled
    // packet's header is bounded and no longer than the packet.
    for r in &records {
        assert_eq!(r.exporter, exporter);
        assert!(r.sampling >= 1, "{r:?}");
        if let Some(h) = &r.header {
            assert!(h.bytes.len() <= 256 && h.bytes.len() as u64 <= r.bytes, "{r:?}");
        }
    }
    assert_eq!(decoder.stats().records, records.len() as u64);
});
