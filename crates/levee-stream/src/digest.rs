//! Hashes of HTTP message bodies (MD5, SHA-1, SHA-256), as they pass, for hunting file hashes:
//! the body as sent (its chunks joined), and, when it is sent gzip- or deflate-encoded, the
//! content decoded, which is the file (as tshark's `--export-objects http` writes it). Nothing
//! is kept but the hash states; a decoded body is hashed up to [`MAX_DECODED`] bytes (a
//! decompression bomb stops there, and that hash is not given).

use std::io::Write;

use md5::Digest as _;

/// The most bytes of a decoded body hashed.
pub const MAX_DECODED: u64 = 256 << 20;

/// The hashes of a body, hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHashes {
    /// Its length, bytes.
    pub len: u64,
    /// MD5.
    pub md5: String,
    /// SHA-1.
    pub sha1: String,
    /// SHA-256.
    pub sha256: String,
    /// Whether these are of the content decoded (gzip, deflate), not of the bytes sent.
    pub decoded: bool,
}

/// The three hashes of a byte stream, as it is written.
#[derive(Default, Clone)]
struct Hashing {
    md5: md5::Md5,
    sha1: sha1::Sha1,
    sha256: sha2::Sha256,
    len: u64,
    /// Stop at this many bytes (an error then).
    cap: u64,
}

impl Hashing {
    fn new(cap: u64) -> Hashing {
        Hashing {
            cap,
            ..Hashing::default()
        }
    }

    fn finish(self, decoded: bool) -> FileHashes {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        FileHashes {
            len: self.len,
            md5: hex(&self.md5.finalize()),
            sha1: hex(&self.sha1.finalize()),
            sha256: hex(&self.sha256.finalize()),
            decoded,
        }
    }
}

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.len + buf.len() as u64 > self.cap {
            return Err(std::io::Error::other("decoded body over the limit"));
        }
        self.md5.update(buf);
        self.sha1.update(buf);
        self.sha256.update(buf);
        self.len += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A decoder writing what it decodes into hashes.
enum Decoder {
    Gzip(flate2::write::GzDecoder<Hashing>),
    Deflate(flate2::write::ZlibDecoder<Hashing>),
    RawDeflate(flate2::write::DeflateDecoder<Hashing>),
}

/// A body being hashed.
pub struct BodyHash {
    sent: Hashing,
    decoder: Option<Decoder>,
    /// The decoded content was not what its encoding said (or too large): no hash of it.
    decoding_failed: bool,
    /// The first bytes of a deflate body, to tell zlib's wrapper from raw deflate.
    deflate_start: Option<Vec<u8>>,
}

impl BodyHash {
    /// A body whose `Content-Encoding` is `encoding` (when given).
    pub fn new(encoding: Option<&str>) -> BodyHash {
        let encoding = encoding.map(|e| e.trim().to_ascii_lowercase());
        let (decoder, deflate_start) = match encoding.as_deref() {
            Some("gzip" | "x-gzip") => (
                Some(Decoder::Gzip(flate2::write::GzDecoder::new(Hashing::new(
                    MAX_DECODED,
                )))),
                None,
            ),
            Some("deflate") => (None, Some(Vec::new())),
            _ => (None, None),
        };
        BodyHash {
            sent: Hashing::new(u64::MAX),
            decoder,
            decoding_failed: false,
            deflate_start,
        }
    }

    /// More of the body.
    pub fn update(&mut self, data: &[u8]) {
        let _ = self.sent.write(data);
        if let Some(start) = self.deflate_start.as_mut() {
            // "deflate" is zlib-wrapped by the standard and raw by some servers: its first
            // byte tells (0x78 begins a zlib stream).
            start.extend_from_slice(data);
            let Some(&first) = start.first() else { return };
            let held = std::mem::take(start);
            self.deflate_start = None;
            let hashing = Hashing::new(MAX_DECODED);
            self.decoder = Some(if first == 0x78 {
                Decoder::Deflate(flate2::write::ZlibDecoder::new(hashing))
            } else {
                Decoder::RawDeflate(flate2::write::DeflateDecoder::new(hashing))
            });
            return self.decode(&held);
        }
        self.decode(data);
    }

    fn decode(&mut self, data: &[u8]) {
        if self.decoding_failed {
            return;
        }
        let result = match self.decoder.as_mut() {
            None => return,
            Some(Decoder::Gzip(d)) => d.write_all(data),
            Some(Decoder::Deflate(d)) => d.write_all(data),
            Some(Decoder::RawDeflate(d)) => d.write_all(data),
        };
        if result.is_err() {
            self.decoding_failed = true;
        }
    }

    /// The body ended: its hashes, and those of its content decoded when it was encoded and
    /// decoded whole.
    pub fn finish(self) -> Vec<FileHashes> {
        let mut out = vec![self.sent.finish(false)];
        if self.decoding_failed {
            return out;
        }
        let decoded = match self.decoder {
            None => None,
            Some(Decoder::Gzip(d)) => d.finish().ok(),
            Some(Decoder::Deflate(d)) => d.finish().ok(),
            Some(Decoder::RawDeflate(d)) => d.finish().ok(),
        };
        if let Some(h) = decoded {
            out.push(h.finish(true));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_hashed_as_sent_and_decoded() {
        let mut plain = BodyHash::new(None);
        plain.update(b"hello ");
        plain.update(b"world");
        let h = plain.finish();
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].md5, "5eb63bbbe01eeed093cb22bb8f5acdc3");
        assert_eq!(h[0].sha1, "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed");
        assert_eq!(
            h[0].sha256,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"hello world").unwrap();
        let gz = gz.finish().unwrap();
        let mut encoded = BodyHash::new(Some("gzip"));
        for part in gz.chunks(3) {
            encoded.update(part);
        }
        let h = encoded.finish();
        assert_eq!(h.len(), 2);
        assert!(h[1].decoded);
        assert_eq!(h[1].md5, "5eb63bbbe01eeed093cb22bb8f5acdc3");
        assert_eq!(h[0].len, gz.len() as u64);
        // Not what it claims: only the bytes as sent.
        let mut liar = BodyHash::new(Some("gzip"));
        liar.update(b"plain text, not gzip");
        assert_eq!(liar.finish().len(), 1);
    }
}
