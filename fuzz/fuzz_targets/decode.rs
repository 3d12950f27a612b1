//! Any bytes as a frame of any link type: decoding and every named field must not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&lt, frame)) = data.split_first() else {
        return;
    };
    const LINKTYPES: [u32; 13] = [0, 1, 9, 12, 14, 50, 101, 104, 108, 113, 228, 229, 276];
    let linktype = LINKTYPES[lt as usize % LINKTYPES.len()];
    let p = levee_decode::decode(linktype, frame, frame.len() as u32);
    for def in levee_decode::FIELDS {
        let _ = p.field(def.name);
    }
});
