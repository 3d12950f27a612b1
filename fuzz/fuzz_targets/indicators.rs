//! Any text as an indicator file (plain list, CSV, STIX 2.1, MISP JSON, told by content):
//! read without a panic; every indicator it gives is in the form it is matched in (normalising
//! its value again gives it back, a URL's as `http://` and its host and target), and compiles into an index that looks up its own value.
//! Indicator files come from threat reports and feeds, written by people and by attackers'
//! victims in a hurry.
#![no_main]

use levee_hunt::indicators::{normalise, read_text, Kind};
use levee_hunt::Index;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = read_text("fuzz.txt", text) else {
        return;
    };
    for i in &file.indicators {
        // A URL is kept as host and target: as a URL again, it gives the same.
        let again = match i.kind {
            Kind::Url => normalise(i.kind, &format!("http://{}", i.value)),
            _ => normalise(i.kind, &i.value),
        };
        assert_eq!(again.as_deref(), Ok(i.value.as_str()), "{i:?}");
    }
    let index = Index::new(file.indicators.clone());
    for (id, i) in file.indicators.iter().enumerate() {
        let mut found = false;
        let mut each = |x: u32| found |= x == id as u32;
        match i.kind {
            Kind::Address | Kind::Network => {
                let net = i.net().expect("an address or network");
                index.address(net.addr(), &mut each);
            }
            Kind::Domain => index.domain(&i.value, &mut each),
            Kind::Sni => index.sni(&i.value, &mut each),
            Kind::Path => index.path(&i.value, &mut each),
            Kind::UserAgent => index.user_agent(&i.value, &mut each),
            Kind::Ja3 => index.ja3(&i.value, &mut each),
            Kind::Md5 => {
                index.ja3(&i.value, &mut each);
                index.file_hash(&i.value, &mut each);
            }
            Kind::Sha1 | Kind::Sha256 => index.file_hash(&i.value, &mut each),
            Kind::Ja4 => index.ja4(&i.value, &mut each),
            Kind::Url => {
                let at = i.value.find('/').expect("a URL key has a target");
                index.url(&i.value[..at], &i.value[at..], &mut each);
            }
        }
        assert!(found, "{i:?} is not found by its own value");
    }
});
