//! Any bytes as a frame of any link type, anonymised by `levee clean`'s walk (addresses,
//! MACs, names, DHCP, checksums): it must not panic, and must keep the frame's length, cutting
//! only by saying where.
#![no_main]

use levee_clean::rewrite::{frame, Payload, Rewriter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&lt, bytes)) = data.split_first() else {
        return;
    };
    const LINKTYPES: [u32; 13] = [0, 1, 9, 12, 14, 50, 101, 104, 108, 113, 228, 229, 276];
    let linktype = LINKTYPES[lt as usize % LINKTYPES.len()];
    let mut anonymiser = levee_clean::Anonymiser::new(&[7; 32], None).expect("no mapping file");
    let mut anonymised = bytes.to_vec();
    let walk = frame(linktype, &mut anonymised, &mut anonymiser, Payload::Keep);
    assert!(walk.keep <= bytes.len());
    assert_eq!(anonymised.len(), bytes.len());
    let _ = anonymiser.addresses();
});
