//! The live capture against the kernel: datagrams sent over loopback are read from the ring,
//! whole, once each, in order, with the kernel's counters.

#![cfg(target_os = "linux")]

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use levee_capture::live::{LiveCapture, LiveConfig};

#[test]
fn datagrams_over_loopback_are_read_once_each_with_the_kernels_counters() {
    let mut live = LiveCapture::open("lo", &LiveConfig::default())
        .unwrap_or_else(|e| panic!("a live capture needs root or CAP_NET_RAW: {e}"));
    assert_eq!(live.linktype(), 1);
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rx.local_addr().unwrap().port();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sent = 2_000u32;
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    for i in 0..sent {
        let mut payload = i.to_be_bytes().to_vec();
        payload.resize(100 + (i % 500) as usize, 0xab);
        tx.send_to(&payload, ("127.0.0.1", port)).unwrap();
    }
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < sent as usize && Instant::now() < deadline {
        let Some(f) = live.next_frame(Duration::from_millis(100)).unwrap() else {
            continue;
        };
        // Ethernet (blank on loopback), IPv4, UDP to our port.
        let d = f.data;
        if d.len() < 14 + 20 + 8 + 4 || d[12..14] != [0x08, 0x00] || d[14 + 9] != 17 {
            continue;
        }
        let ihl = usize::from(d[14] & 0x0f) * 4;
        let udp = &d[14 + ihl..];
        if u16::from_be_bytes([udp[2], udp[3]]) != port {
            continue;
        }
        assert_eq!(
            f.orig_len as usize,
            d.len(),
            "loopback frames are kept whole"
        );
        assert!(
            f.ts_nanos >= t0 - 1_000_000_000,
            "kernel time: {}",
            f.ts_nanos
        );
        let i = u32::from_be_bytes(udp[8..12].try_into().unwrap());
        assert_eq!(udp.len(), 8 + 100 + (i % 500) as usize);
        seen.push(i);
    }
    assert_eq!(
        seen,
        (0..sent).collect::<Vec<_>>(),
        "each datagram once, in order"
    );
    let stats = live.stats().unwrap();
    assert!(stats.packets >= u64::from(sent), "{stats:?}");
    assert_eq!(stats.drops, 0, "{stats:?}");
    // The counters add up across reads (the kernel resets its own at each).
    tx.send_to(b"one more", ("127.0.0.1", port)).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let later = live.stats().unwrap();
    assert!(later.packets > stats.packets, "{later:?} after {stats:?}");
}

#[test]
fn an_unknown_interface_is_named_in_the_error() {
    let e = LiveCapture::open("levee-nope0", &LiveConfig::default()).unwrap_err();
    assert!(e.to_string().contains("levee-nope0"), "{e}");
    let e = LiveCapture::open("../etc", &LiveConfig::default()).unwrap_err();
    assert!(e.to_string().contains("not an interface name"), "{e}");
}
