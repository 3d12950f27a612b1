//! The few BER/DER reading steps CLDAP and SNMP need: tag, definite length, value. Lengths are
//! checked against the buffer before use; indefinite and over-long lengths are refused.

/// One TLV: its tag, its value bytes, and what follows it.
pub struct Tlv<'a> {
    /// The tag byte.
    pub tag: u8,
    /// The value's bytes.
    pub value: &'a [u8],
    /// The bytes after the value.
    pub rest: &'a [u8],
}

/// Reads one TLV. When `allow_short` is set, a value cut by the end of the buffer is returned
/// cut (a truncated capture still shows its first fields).
pub fn read(b: &[u8], allow_short: bool) -> Option<Tlv<'_>> {
    let tag = *b.first()?;
    let first = *b.get(1)? as usize;
    let (len, hdr) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 || b.len() < 2 + n {
            return None;
        }
        let mut len = 0usize;
        for &x in &b[2..2 + n] {
            len = (len << 8) | x as usize;
        }
        (len, 2 + n)
    };
    let avail = b.len() - hdr;
    if len > avail && !allow_short {
        return None;
    }
    let take = len.min(avail);
    Some(Tlv {
        tag,
        value: &b[hdr..hdr + take],
        rest: &b[hdr + take..],
    })
}

/// An INTEGER value as i64 (up to 8 bytes).
pub fn integer(v: &[u8]) -> Option<i64> {
    if v.is_empty() || v.len() > 8 {
        return None;
    }
    let mut x: i64 = if v[0] & 0x80 != 0 { -1 } else { 0 };
    for &b in v {
        x = (x << 8) | b as i64;
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_form_length_and_short_values() {
        let mut b = vec![0x30, 0x82, 0x01, 0x00];
        b.extend(std::iter::repeat_n(0u8, 0x100));
        let t = read(&b, false).unwrap();
        assert_eq!(t.value.len(), 256);
        assert!(read(&b[..100], false).is_none());
        assert_eq!(read(&b[..100], true).unwrap().value.len(), 96);
        assert_eq!(integer(&[0x01, 0x00]), Some(256));
        assert_eq!(integer(&[0xff]), Some(-1));
    }
}
