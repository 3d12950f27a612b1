//! A full table of connections (a flood of connections that never finish) makes room by
//! letting go of the connection idle longest among those taken up first: a connection that
//! keeps sending is kept, its request read whole, and every connection past the table's size
//! is let go of once, given as an unfinished header block.

use levee_stream::{HttpExtractor, StreamConfig};

/// An Ethernet frame of a TCP segment from `client`:`port` to 198.51.100.80:80.
fn frame(client: [u8; 4], port: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend([0x08, 0x00, 0x45, 0]);
    f.extend(((40 + payload.len()) as u16).to_be_bytes());
    f.extend([0, 0, 0x40, 0, 64, 6, 0, 0]);
    f.extend(client);
    f.extend([198, 51, 100, 80]);
    f.extend(port.to_be_bytes());
    f.extend(80u16.to_be_bytes());
    f.extend(seq.to_be_bytes());
    f.extend([0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend(payload);
    f
}

#[test]
fn a_full_table_lets_go_of_idle_connections_and_keeps_a_busy_one() {
    const TABLE: usize = 64;
    const FLOOD: u32 = 5_000;
    let mut x = HttpExtractor::new(StreamConfig {
        max_connections: TABLE,
        ..Default::default()
    });
    let add = |x: &mut HttpExtractor, ts: i64, f: Vec<u8>| {
        levee_decode::with_decoded(1, &f, f.len() as u32, |p| x.add(ts, p));
    };
    let busy = [192, 0, 2, 1];
    let start = b"GET /busy HTTP/1.1\r\nHost: shop.example\r\nX-Long: ";
    add(&mut x, 0, frame(busy, 1_000, 1, start));
    let mut seq = 1 + start.len() as u32;
    let header = b"abcdefgh";
    for i in 0..FLOOD {
        let ts = i64::from(i + 1) * 1_000_000;
        let flooder = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        add(
            &mut x,
            ts,
            frame(
                flooder,
                2_000,
                1,
                b"GET /flood HTTP/1.1\r\nHost: shop.example\r\n",
            ),
        );
        if i % 16 == 0 {
            // The busy connection sends more of a header every 16 new connections.
            add(&mut x, ts, frame(busy, 1_000, seq, header));
            seq += header.len() as u32;
        }
    }
    add(
        &mut x,
        i64::from(FLOOD + 1) * 1_000_000,
        frame(busy, 1_000, seq, b"\r\n\r\n"),
    );
    // Let go of connections give their requests as they are, at once; the rest at the end.
    let mut requests: Vec<_> = x.drain().collect();
    assert_eq!(x.stats().evicted, u64::from(FLOOD) + 1 - TABLE as u64);
    x.finish();
    requests.extend(x.drain());
    let busy: Vec<_> = requests.iter().filter(|r| r.target == "/busy").collect();
    assert_eq!(busy.len(), 1, "{busy:?}");
    assert_eq!(busy[0].header_incomplete_ns, None, "read whole: {busy:?}");
    let flood = requests.iter().filter(|r| r.target == "/flood");
    assert_eq!(flood.clone().count(), FLOOD as usize);
    assert!(flood.clone().all(|r| r.header_incomplete_ns.is_some()));
}
