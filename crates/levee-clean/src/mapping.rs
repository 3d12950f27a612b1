//! The two rewriters: [`Anonymiser`] (a key's pseudonyms, each written to the mapping file as
//! it is first made) and [`Restorer`] (the mapping file read back, pseudonyms to originals).
//!
//! The mapping is JSON lines: a header naming the key by a fingerprint (AES of a zero block:
//! which key, not the key), then `{"address":"192.0.2.1","anonymised":"…"}` and
//! `{"mac":"…","anonymised":"…"}` and `{"label":"…","anonymised":"…"}` lines (a name's
//! labels, lower-cased), and `{"masked":"…"}` for each address written as text that was
//! masked, in the order they were met (the restorer meets them in the same order). It holds every original: it stays with the owner.

use std::collections::HashMap;
use std::io::{BufRead, BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use crate::cryptopan::CryptoPan;
use crate::rewriter::Rewriter;
use crate::{CleanError, MAX_CACHED};

/// Anonymises addresses (Crypto-PAn) and MACs under one key.
pub struct Anonymiser {
    pan: CryptoPan,
    /// Addresses (IPv4 ones below 2^32, IPv6 ones tagged by bit 128's absence: kept apart by
    /// `(is_v6, value)`) and their pseudonyms.
    addresses: HashMap<(bool, u128), u128, foldhash::fast::FixedState>,
    macs: HashMap<[u8; 6], [u8; 6], foldhash::fast::FixedState>,
    /// Labels (lower-cased) and their pseudonyms, and the pseudonyms taken.
    labels: HashMap<Vec<u8>, Vec<u8>, foldhash::fast::FixedState>,
    taken: std::collections::HashSet<Vec<u8>, foldhash::fast::FixedState>,
    mapping: Option<(BufWriter<Box<dyn Write>>, String)>,
    failed: Option<std::io::Error>,
    distinct: (u64, u64),
}

impl Anonymiser {
    /// The anonymiser of `key`, writing what it replaces to `mapping` (a writer and its name)
    /// when given.
    pub fn new(
        key: &[u8; 32],
        mapping: Option<(Box<dyn Write>, String)>,
    ) -> Result<Anonymiser, CleanError> {
        let pan = CryptoPan::new(key);
        let mapping = match mapping {
            None => None,
            Some((out, name)) => {
                let mut w = BufWriter::new(out);
                let fingerprint: String = pan.block([0; 16])[..8]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                writeln!(
                    w,
                    "{}",
                    serde_json::json!({"levee-clean-mapping": 1, "key": fingerprint})
                )
                .map_err(|e| CleanError::Unwritable {
                    file: name.clone(),
                    why: e.to_string(),
                })?;
                Some((w, name))
            }
        };
        Ok(Anonymiser {
            pan,
            addresses: HashMap::default(),
            macs: HashMap::default(),
            labels: HashMap::default(),
            taken: Default::default(),
            mapping,
            failed: None,
            distinct: (0, 0),
        })
    }

    /// Flushes the mapping file; the first error writing it, if any.
    pub fn finish(&mut self) -> Result<(), CleanError> {
        if let Some((w, name)) = self.mapping.as_mut() {
            let e = self.failed.take().map_or_else(|| w.flush(), Err);
            e.map_err(|e| CleanError::Unwritable {
                file: name.clone(),
                why: e.to_string(),
            })?;
        }
        Ok(())
    }

    /// The pseudonym of a lower-cased label: its letters letters, its digits digits, the rest
    /// kept; from AES under the key in CBC-MAC over the label (its length first), tried again
    /// with a counter while another label holds it, so no two labels share one.
    fn pseudonym(&self, label: &[u8]) -> Vec<u8> {
        for attempt in 0u32..1_000 {
            let mut state = *b"levee-clean-name";
            state[0] ^= label.len() as u8;
            state[12..16]
                .iter_mut()
                .zip(attempt.to_be_bytes())
                .for_each(|(s, a)| *s ^= a);
            state = self.pan.block(state);
            for chunk in label.chunks(16) {
                chunk.iter().enumerate().for_each(|(i, b)| state[i] ^= b);
                state = self.pan.block(state);
            }
            let mut out = Vec::with_capacity(label.len());
            let mut stream = state;
            for (i, &c) in label.iter().enumerate() {
                if i % 16 == 15 {
                    stream = self.pan.block(stream);
                }
                let r = stream[i % 16];
                out.push(match c {
                    b'a'..=b'z' => b'a' + r % 26,
                    b'0'..=b'9' => b'0' + r % 10,
                    other => other,
                });
            }
            if !self.taken.contains(&out) || self.taken.len() >= MAX_CACHED {
                return out;
            }
        }
        // Every pseudonym of this shape is taken (a few short labels): the label is kept
        // apart by nothing more; its mapping line says so by repeating the pseudonym.
        label
            .iter()
            .map(|c| if c.is_ascii_alphanumeric() { b'x' } else { *c })
            .collect()
    }

    fn record(&mut self, line: serde_json::Value) {
        if let Some((w, _)) = self.mapping.as_mut() {
            if let Err(e) = writeln!(w, "{line}") {
                self.failed.get_or_insert(e);
            }
        }
    }
}

/// Whether the address names nobody: unspecified, broadcast, multicast, loopback.
fn names_nobody(a: &[u8]) -> bool {
    match a.len() {
        4 => {
            let v4 = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
            v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast() || v4.is_loopback()
        }
        16 => {
            let v6 = Ipv6Addr::from(<[u8; 16]>::try_from(a).expect("16 bytes"));
            v6.is_unspecified() || v6.is_multicast() || v6.is_loopback()
        }
        _ => true,
    }
}

fn ip_text(a: &[u8]) -> String {
    match a.len() {
        4 => Ipv4Addr::new(a[0], a[1], a[2], a[3]).to_string(),
        _ => Ipv6Addr::from(<[u8; 16]>::try_from(a).expect("16 bytes")).to_string(),
    }
}

fn mac_text(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl Rewriter for Anonymiser {
    fn address(&mut self, a: &mut [u8]) {
        if names_nobody(a) {
            return;
        }
        let v6 = a.len() == 16;
        let value = a.iter().fold(0u128, |v, &b| (v << 8) | u128::from(b));
        let put = |a: &mut [u8], p: u128| {
            let bytes = p.to_be_bytes();
            a.copy_from_slice(&bytes[16 - a.len()..]);
        };
        if let Some(&p) = self.addresses.get(&(v6, value)) {
            return put(a, p);
        }
        let pseudonym = if v6 {
            u128::from_be_bytes(self.pan.v6(a.try_into().expect("16 bytes")))
        } else {
            u128::from(u32::from_be_bytes(
                self.pan.v4(a.try_into().expect("4 bytes")),
            ))
        };
        if self.mapping.is_some() {
            let original = ip_text(a);
            put(a, pseudonym);
            let line = serde_json::json!({"address": original, "anonymised": ip_text(a)});
            self.record(line);
        }
        put(a, pseudonym);
        if self.addresses.len() >= MAX_CACHED {
            self.addresses.clear();
        }
        self.distinct.0 += 1;
        self.addresses.insert((v6, value), pseudonym);
    }

    fn mac(&mut self, mac: &mut [u8; 6]) {
        // Multicast and broadcast MACs (the group bit) and the zero MAC name nobody.
        if mac[0] & 1 == 1 || *mac == [0; 6] {
            return;
        }
        if let Some(p) = self.macs.get(mac) {
            *mac = *p;
            return;
        }
        let mut input = *b"levee-clean-mac\0";
        input[10..16].copy_from_slice(mac);
        let h = self.pan.block(input);
        // Locally administered, unicast.
        let pseudonym = [(h[0] & 0xfc) | 0x02, h[1], h[2], h[3], h[4], h[5]];
        self.record(serde_json::json!({"mac": mac_text(mac), "anonymised": mac_text(&pseudonym)}));
        if self.macs.len() >= MAX_CACHED {
            self.macs.clear();
        }
        self.distinct.1 += 1;
        self.macs.insert(*mac, pseudonym);
        *mac = pseudonym;
    }

    fn label(&mut self, label: &mut [u8]) {
        // Labels of protocol (`_tcp`, `_ldap`) and wildcards name nobody.
        if label.first() == Some(&b'_') || label == b"*" {
            return;
        }
        let lower = label.to_ascii_lowercase();
        let pseudonym = match self.labels.get(&lower) {
            Some(p) => p.clone(),
            None => {
                let p = self.pseudonym(&lower);
                self.record(serde_json::json!({
                    "label": String::from_utf8_lossy(&lower),
                    "anonymised": String::from_utf8_lossy(&p),
                }));
                if self.labels.len() >= MAX_CACHED {
                    self.labels.clear();
                }
                self.taken.insert(p.clone());
                self.labels.insert(lower, p.clone());
                p
            }
        };
        for (c, p) in label.iter_mut().zip(pseudonym) {
            *c = if c.is_ascii_uppercase() {
                p.to_ascii_uppercase()
            } else {
                p
            };
        }
    }

    fn masked(&mut self, text: &mut [u8]) {
        // Each occurrence in order: the restorer meets them in the same order.
        self.record(serde_json::json!({"masked": String::from_utf8_lossy(text)}));
        crate::rewriter::mask(text);
    }

    fn addresses(&self) -> u64 {
        self.distinct.0
    }

    fn macs(&self) -> u64 {
        self.distinct.1
    }
}

/// Pseudonyms back to originals, from a mapping file.
pub struct Restorer {
    addresses: HashMap<Vec<u8>, Vec<u8>>,
    macs: HashMap<[u8; 6], [u8; 6]>,
    labels: HashMap<Vec<u8>, Vec<u8>>,
    /// Addresses written as text, masked, in the order they were met.
    masked: std::collections::VecDeque<Vec<u8>>,
    restored: u64,
}

impl Restorer {
    /// Reads the mapping file at `path`.
    pub fn read(path: &Path) -> Result<Restorer, CleanError> {
        let file = path.display().to_string();
        let f = std::fs::File::open(path).map_err(|e| CleanError::Unreadable {
            file: file.clone(),
            why: e.to_string(),
        })?;
        let mut r = Restorer {
            addresses: HashMap::new(),
            macs: HashMap::new(),
            labels: HashMap::new(),
            masked: Default::default(),
            restored: 0,
        };
        for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
            let bad = |why: String| CleanError::BadMapping {
                file: file.clone(),
                line: i + 1,
                why,
            };
            let line = line.map_err(|e| bad(e.to_string()))?;
            let v: serde_json::Value =
                serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
            if i == 0 {
                if v.get("levee-clean-mapping").is_none() {
                    return Err(bad("not a mapping `levee clean` wrote".into()));
                }
                continue;
            }
            let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
            if let Some(m) = text("masked") {
                r.masked.push_back(m.into_bytes());
                continue;
            }
            let anonymised = text("anonymised").ok_or_else(|| bad("no `anonymised`".into()))?;
            if let Some(a) = text("address") {
                let parse = |s: &str| {
                    s.parse::<IpAddr>()
                        .map_err(|e| bad(format!("`{s}`: {e}")))
                        .map(|ip| match ip {
                            IpAddr::V4(v4) => v4.octets().to_vec(),
                            IpAddr::V6(v6) => v6.octets().to_vec(),
                        })
                };
                r.addresses.insert(parse(&anonymised)?, parse(&a)?);
            } else if let Some(m) = text("mac") {
                let parse = |s: &str| -> Result<[u8; 6], CleanError> {
                    let bytes: Vec<u8> = s
                        .split(':')
                        .map(|h| u8::from_str_radix(h, 16))
                        .collect::<Result<_, _>>()
                        .map_err(|e| bad(format!("`{s}`: {e}")))?;
                    bytes
                        .try_into()
                        .map_err(|_| bad(format!("`{s}`: not a MAC")))
                };
                r.macs.insert(parse(&anonymised)?, parse(&m)?);
            } else if let Some(l) = text("label") {
                if l.len() != anonymised.len() {
                    return Err(bad(format!("`{l}` and `{anonymised}` differ in length")));
                }
                r.labels.insert(anonymised.into_bytes(), l.into_bytes());
            } else {
                return Err(bad("none of `address`, `mac`, `label`".into()));
            }
        }
        if r.addresses.is_empty() && r.macs.is_empty() {
            return Err(CleanError::BadMapping {
                file,
                line: 1,
                why: "nothing in it".into(),
            });
        }
        Ok(r)
    }
}

impl Rewriter for Restorer {
    fn address(&mut self, a: &mut [u8]) {
        if let Some(o) = self.addresses.get(a) {
            a.copy_from_slice(o);
            self.restored += 1;
        }
    }

    fn mac(&mut self, mac: &mut [u8; 6]) {
        if let Some(o) = self.macs.get(mac) {
            *mac = *o;
            self.restored += 1;
        }
    }

    fn label(&mut self, label: &mut [u8]) {
        if let Some(o) = self.labels.get(&label.to_ascii_lowercase()) {
            for (c, o) in label.iter_mut().zip(o) {
                *c = if c.is_ascii_uppercase() {
                    o.to_ascii_uppercase()
                } else {
                    *o
                };
            }
            self.restored += 1;
        }
    }

    fn masked(&mut self, text: &mut [u8]) {
        let mut shape = text.to_vec();
        crate::rewriter::mask(&mut shape);
        let next = self.masked.front().map(|m| {
            let mut s = m.clone();
            crate::rewriter::mask(&mut s);
            s
        });
        if shape == text && next.as_deref() == Some(&shape[..]) {
            text.copy_from_slice(&self.masked.pop_front().expect("a masked text"));
            self.restored += 1;
        }
    }

    fn scrubs_padding(&self) -> bool {
        false
    }

    /// Addresses, MACs, labels and masked texts put back (each time, not each distinct).
    fn addresses(&self) -> u64 {
        self.restored
    }
}
