//! Any bytes as a sequence of TCP segments between two clients and a server: the HTTP
//! reassembly, bodies hashed (and decoded when they say they are gzip or deflate), must not
//! panic, and what it holds stays bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut x = levee_stream::HttpExtractor::new(levee_stream::StreamConfig {
        hash_bodies: true,
        ..Default::default()
    });
    for (i, seg) in levee_stream::fuzzing::segments(data).enumerate() {
        let p = levee_decode::decode(1, &seg, seg.len() as u32);
        x.add(i as i64 * 1_000_000, &p);
        x.drain().for_each(drop);
        x.drain_bodies().for_each(drop);
    }
    x.finish();
    x.drain().for_each(drop);
    x.drain_bodies().for_each(drop);
});
