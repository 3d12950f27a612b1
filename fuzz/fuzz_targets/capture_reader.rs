//! Any bytes as a capture file: the reader must return frames or typed errors, never panic,
//! and always end.
#![no_main]

use levee_capture::{CaptureReader, Item};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut r) = CaptureReader::from_bytes("fuzz", data.to_vec()) {
        let mut items = 0usize;
        while let Some(item) = r.next_item() {
            if let Item::Frame(f) = item {
                let p = levee_decode::decode(f.linktype, f.data, f.orig_len);
                let _ = p.app();
            }
            items += 1;
            // Every item consumes input, so a reader can never yield more items than bytes.
            assert!(items <= data.len() + 1);
        }
    }
});
