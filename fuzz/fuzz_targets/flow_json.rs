//! Any bytes as flow records another collector wrote as JSON (nfdump's array, goflow2's
//! lines): each record is read or refused with an error naming it, never a panic; every record
//! read has its addresses and packets. Exports relayed through a collector can be forged too.
#![no_main]

use levee_flow::json::{read, sniff, JsonFlavor};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sniff(data);
    for flavor in [JsonFlavor::Nfdump, JsonFlavor::Goflow2] {
        let mut input = data;
        let mut last = 0;
        read(&mut input, flavor, &mut |r| match r {
            Ok(r) => {
                assert!(r.src.is_some() && r.dst.is_some() && r.packets > 0, "{r:?}");
            }
            Err(e) => {
                // Records are numbered in order, from 1.
                assert!(e.record >= 1 && e.record >= last, "{e}");
                last = e.record;
            }
        });
    }
});
