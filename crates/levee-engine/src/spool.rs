//! The requests of a first pass kept for the second ([`RequestSpool`]), so that a two-pass
//! analysis of access logs or captures reads and parses its input once.
//!
//! The second pass of a layer-7 analysis needs every request again, in the same order, once
//! the verdicts are known. Reading the log again costs what the first reading cost: the text
//! split into lines and parsed field by field (the parsing was about 40 % of `levee analyze`
//! on one thread in `perf`, half of it in the second pass), or for a capture, the TCP
//! reassembled again. A request written here is a few lengths and the bytes of its fields,
//! read back with no parsing at all.
//!
//! The spool is an unnamed temporary file (removed by the system however levee ends), written
//! and read through large buffers: memory stays bounded whatever the input's size, and a
//! spool is one thread's, so shares of a log's clients each keep their own and replay them in
//! parallel. The text of user agents, header-name lists and TLS fingerprints, which repeat
//! from request to request, is written once and referred to by number after ([`MAX_INTERNED`]
//! texts at most). A spool that grows past [`MAX_SPOOL_BYTES`], or that the system cannot
//! write, is given up, and the second pass reads the input again: the result is the same.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::hash::BuildHasher;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::IpAddr;

use levee_logs::Request;

/// The size past which a spool is given up (and the input read again): the system's
/// temporary directory is not levee's to fill.
pub const MAX_SPOOL_BYTES: u64 = 4 << 30;

/// Distinct texts written once and referred to by number, per spool.
pub const MAX_INTERNED: usize = 1 << 16;

/// Texts longer than this are always written in full.
const MAX_INTERNED_LEN: usize = 1_024;

/// Bytes read from the spool at a time.
const CHUNK: usize = 1 << 20;

/// Why a spool cannot be written or read back.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The temporary file could not be made, written or read.
    #[error("the temporary file of the first pass: {0}")]
    Io(#[from] std::io::Error),
    /// It grew past [`MAX_SPOOL_BYTES`].
    #[error("the first pass's requests passed {} GiB", MAX_SPOOL_BYTES >> 30)]
    Full,
    /// What was read back is not what was written (the file was changed under levee).
    #[error("the temporary file of the first pass is damaged at byte {offset}: {what}")]
    Damaged {
        /// Where.
        offset: u64,
        /// What is wrong.
        what: &'static str,
    },
}

// Which optional fields a record holds.
const TS: u16 = 1;
const STATUS: u16 = 1 << 1;
const BYTES: u16 = 1 << 2;
const INCOMPLETE: u16 = 1 << 3;
const PROTOCOL: u16 = 1 << 4;
const REFERER: u16 = 1 << 5;
const USER_AGENT: u16 = 1 << 6;
const HOST: u16 = 1 << 7;
const COOKIE: u16 = 1 << 8;
const JA3: u16 = 1 << 9;
const JA4: u16 = 1 << 10;
const HEADER_NAMES: u16 = 1 << 11;
const SET_COOKIES: u16 = 1 << 12;

/// What of each request a spool keeps: a second pass that reads only some fields has only
/// those written (a quarter of a log line's bytes, not half, for a layer-7 analysis), and
/// gets the others empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keep {
    /// The optional fields kept (the others come back as `None`).
    optional: u16,
    /// The method, protocol and the target's query are kept (otherwise the method comes back
    /// empty and the target is its path alone, [`Request::path`]).
    request_line: bool,
}

impl Keep {
    /// Every field.
    pub const ALL: Keep = Keep {
        optional: u16::MAX,
        request_line: true,
    };

    /// What a layer-7 analysis counts on its second pass: the client, time, path, status,
    /// size, user agent, JA4 and an unfinished header block.
    pub const L7_COUNTS: Keep = Keep {
        optional: TS | STATUS | BYTES | INCOMPLETE | USER_AGENT | JA4,
        request_line: false,
    };
}

/// Requests written by a first pass, to be replayed in the same order by the second.
pub struct RequestSpool {
    file: File,
    keep: Keep,
    /// Records not written to the file yet.
    buf: Vec<u8>,
    written: u64,
    records: u64,
    /// The texts given a number, by their hash, with their number.
    interned: HashMap<u64, (Box<str>, u32), foldhash::fast::FixedState>,
}

impl RequestSpool {
    /// An empty spool in the system's temporary directory, keeping every field.
    pub fn new() -> Result<RequestSpool, SpoolError> {
        RequestSpool::keeping(Keep::ALL)
    }

    /// An empty spool in the system's temporary directory, keeping what `keep` says.
    pub fn keeping(keep: Keep) -> Result<RequestSpool, SpoolError> {
        Ok(RequestSpool {
            file: tempfile::tempfile()?,
            keep,
            buf: Vec::with_capacity(CHUNK + 4_096),
            written: 0,
            records: 0,
            interned: HashMap::with_hasher(foldhash::fast::FixedState::with_seed(0x5b00)),
        })
    }

    /// Requests written.
    pub fn len(&self) -> u64 {
        self.records
    }

    /// Whether no request was written.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Bytes written.
    pub fn bytes(&self) -> u64 {
        self.written
    }

    /// Writes a request after the others.
    pub fn push(&mut self, r: &Request<'_>) -> Result<(), SpoolError> {
        let keep = self.keep;
        let flags = [
            (r.ts.is_some(), TS),
            (r.status.is_some(), STATUS),
            (r.bytes.is_some(), BYTES),
            (r.header_incomplete_ns.is_some(), INCOMPLETE),
            (r.protocol.is_some(), PROTOCOL),
            (r.referer.is_some(), REFERER),
            (r.user_agent.is_some(), USER_AGENT),
            (r.host.is_some(), HOST),
            (r.cookie.is_some(), COOKIE),
            (r.ja3.is_some(), JA3),
            (r.ja4.is_some(), JA4),
            (r.header_names.is_some(), HEADER_NAMES),
            (r.set_cookies.is_some(), SET_COOKIES),
        ]
        .iter()
        .fold(0u16, |f, &(on, bit)| if on { f | bit } else { f })
            & keep.optional;
        let has = |bit: u16| flags & bit != 0;
        // Written straight into the buffer, its length put in front once known.
        let mut b = std::mem::take(&mut self.buf);
        let at = b.len();
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&flags.to_le_bytes());
        if let (true, Some(ts)) = (has(TS), r.ts) {
            b.extend_from_slice(&ts.to_le_bytes());
        }
        if let (true, Some(s)) = (has(STATUS), r.status) {
            b.extend_from_slice(&s.to_le_bytes());
        }
        if let (true, Some(n)) = (has(BYTES), r.bytes) {
            varint(&mut b, n);
        }
        if let (true, Some(ns)) = (has(INCOMPLETE), r.header_incomplete_ns) {
            b.extend_from_slice(&ns.to_le_bytes());
        }
        match r.ip {
            None => b.push(0),
            Some(IpAddr::V4(a)) => {
                b.push(4);
                b.extend_from_slice(&a.octets());
            }
            Some(IpAddr::V6(a)) => {
                b.push(6);
                b.extend_from_slice(&a.octets());
            }
        }
        text(&mut b, &r.client);
        if keep.request_line {
            text(&mut b, &r.method);
            text(&mut b, &r.target);
        } else {
            text(&mut b, "");
            text(&mut b, r.path());
        }
        let plain = [
            (PROTOCOL, &r.protocol),
            (REFERER, &r.referer),
            (HOST, &r.host),
            (COOKIE, &r.cookie),
            (SET_COOKIES, &r.set_cookies),
        ];
        for (bit, t) in plain {
            if let (true, Some(t)) = (has(bit), t) {
                text(&mut b, t);
            }
        }
        let numbered = [
            (USER_AGENT, &r.user_agent),
            (JA3, &r.ja3),
            (JA4, &r.ja4),
            (HEADER_NAMES, &r.header_names),
        ];
        for (bit, t) in numbered {
            if let (true, Some(t)) = (has(bit), t) {
                self.interned_text(&mut b, t);
            }
        }
        let Ok(len) = u32::try_from(b.len() - at - 4) else {
            self.buf = b;
            return Err(SpoolError::Full);
        };
        b[at..at + 4].copy_from_slice(&len.to_le_bytes());
        self.written += (b.len() - at) as u64;
        self.records += 1;
        let flushed = if b.len() >= CHUNK {
            let w = self.file.write_all(&b);
            b.clear();
            w
        } else {
            Ok(())
        };
        self.buf = b;
        flushed?;
        if self.written > MAX_SPOOL_BYTES {
            return Err(SpoolError::Full);
        }
        Ok(())
    }

    /// A text that repeats: `0` and the text the first time (it takes the next number),
    /// then its number plus 2; `1` and the text when it cannot be numbered.
    fn interned_text(&mut self, b: &mut Vec<u8>, t: &str) {
        if t.len() > MAX_INTERNED_LEN {
            varint(b, 1);
            text(b, t);
            return;
        }
        let h = self.interned.hasher().hash_one(t);
        match self.interned.get(&h) {
            Some((held, id)) if &**held == t => varint(b, u64::from(*id) + 2),
            Some(_) => {
                varint(b, 1);
                text(b, t);
            }
            None if self.interned.len() < MAX_INTERNED => {
                let id = self.interned.len() as u32;
                self.interned.insert(h, (t.into(), id));
                varint(b, 0);
                text(b, t);
            }
            None => {
                varint(b, 1);
                text(b, t);
            }
        }
    }

    /// Hands every request written to `each`, in the order written; returns how many. A
    /// spool can be replayed again (a third pass), and written to after.
    pub fn replay(&mut self, each: impl FnMut(&Request<'_>)) -> Result<u64, SpoolError> {
        self.file.write_all(&self.buf)?;
        self.buf.clear();
        self.file.seek(SeekFrom::Start(0))?;
        let replayed = replay_file(&mut self.file, each);
        self.file.seek(SeekFrom::End(0))?;
        replayed
    }
}

/// The records of a spool's file, from where it stands, handed to `each`.
fn replay_file(file: &mut File, mut each: impl FnMut(&Request<'_>)) -> Result<u64, SpoolError> {
    let mut data: Vec<u8> = Vec::with_capacity(CHUNK);
    let mut table: Vec<Box<str>> = Vec::new();
    let (mut start, mut offset, mut replayed) = (0usize, 0u64, 0u64);
    let mut ended = false;
    loop {
        let held = &data[start..];
        let need = match held.get(..4) {
            Some(l) => 4 + u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize,
            None => 4,
        };
        if held.len() < need {
            if ended {
                if held.is_empty() {
                    return Ok(replayed);
                }
                return Err(SpoolError::Damaged {
                    offset,
                    what: "a record is cut short",
                });
            }
            data.drain(..start);
            start = 0;
            let want = need.max(CHUNK);
            let have = data.len();
            data.resize(have + want, 0);
            let n = read_full(file, &mut data[have..])?;
            data.truncate(have + n);
            ended = n < want;
            continue;
        }
        let record = &data[start + 4..start + need];
        let fields = Fields::read(record, &mut table).ok_or(SpoolError::Damaged {
            offset,
            what: "a record does not read as one",
        })?;
        let r = fields.request(record, &table).ok_or(SpoolError::Damaged {
            offset,
            what: "a text is not UTF-8",
        })?;
        each(&r);
        replayed += 1;
        start += need;
        offset += need as u64;
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn varint(b: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        b.push((v as u8) | 0x80);
        v >>= 7;
    }
    b.push(v as u8);
}

fn text(b: &mut Vec<u8>, t: &str) {
    varint(b, t.len() as u64);
    b.extend_from_slice(t.as_bytes());
}

/// A text of a record: bytes of the record, or a numbered text of the spool. (Offsets of 32
/// bits: a record's length is one; the fields of a record are moved at every record.)
#[derive(Clone, Copy)]
enum At {
    Record(u32, u32),
    Table(u32),
}

/// A record's fields, located.
struct Fields {
    ts: Option<i64>,
    status: Option<u16>,
    bytes: Option<u64>,
    incomplete: Option<i64>,
    ip: Option<IpAddr>,
    /// Client, method, target, then the optional texts in the order written.
    texts: [Option<At>; 12],
}

/// A cursor over a record's bytes.
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N).map(|s| s.try_into().expect("N bytes"))
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.at)?;
            self.at += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(v);
            }
        }
        None
    }

    fn text(&mut self) -> Option<At> {
        let len = usize::try_from(self.varint()?).ok()?;
        let start = self.at;
        self.take(len)?;
        Some(At::Record(
            u32::try_from(start).ok()?,
            u32::try_from(start + len).ok()?,
        ))
    }
}

impl Fields {
    /// Locates a record's fields, adding the texts it numbers to `table`.
    fn read(record: &[u8], table: &mut Vec<Box<str>>) -> Option<Fields> {
        let mut c = Cursor { b: record, at: 0 };
        let flags = u16::from_le_bytes(c.array()?);
        let has = |bit: u16| flags & bit != 0;
        let ts = if has(TS) {
            Some(i64::from_le_bytes(c.array()?))
        } else {
            None
        };
        let status = if has(STATUS) {
            Some(u16::from_le_bytes(c.array()?))
        } else {
            None
        };
        let bytes = if has(BYTES) { Some(c.varint()?) } else { None };
        let incomplete = if has(INCOMPLETE) {
            Some(i64::from_le_bytes(c.array()?))
        } else {
            None
        };
        let ip = match c.take(1)?[0] {
            0 => None,
            4 => Some(IpAddr::from(c.array::<4>()?)),
            6 => Some(IpAddr::from(c.array::<16>()?)),
            _ => return None,
        };
        let mut texts = [None; 12];
        for t in texts.iter_mut().take(3) {
            *t = Some(c.text()?);
        }
        let plain = [PROTOCOL, REFERER, HOST, COOKIE, SET_COOKIES];
        for (i, bit) in plain.into_iter().enumerate() {
            if has(bit) {
                texts[3 + i] = Some(c.text()?);
            }
        }
        let numbered = [USER_AGENT, JA3, JA4, HEADER_NAMES];
        for (i, bit) in numbered.into_iter().enumerate() {
            if !has(bit) {
                continue;
            }
            texts[8 + i] = Some(match c.varint()? {
                0 => {
                    let At::Record(s, e) = c.text()? else {
                        return None;
                    };
                    table.push(
                        std::str::from_utf8(&record[s as usize..e as usize])
                            .ok()?
                            .into(),
                    );
                    At::Table(u32::try_from(table.len() - 1).ok()?)
                }
                1 => c.text()?,
                n => {
                    let id = u32::try_from(n - 2).ok()?;
                    ((id as usize) < table.len()).then_some(At::Table(id))?
                }
            });
        }
        (c.at == record.len()).then_some(Fields {
            ts,
            status,
            bytes,
            incomplete,
            ip,
            texts,
        })
    }

    /// The request the fields make, its texts borrowed from the record and the table.
    fn request<'a>(&self, record: &'a [u8], table: &'a [Box<str>]) -> Option<Request<'a>> {
        let get = |i: usize| -> Option<Option<Cow<'a, str>>> {
            Some(match self.texts[i] {
                None => None,
                // Short texts, most of them: std's check, quicker than a vector one to start.
                Some(At::Record(s, e)) => Some(Cow::Borrowed(
                    std::str::from_utf8(&record[s as usize..e as usize]).ok()?,
                )),
                Some(At::Table(id)) => Some(Cow::Borrowed(&*table[id as usize])),
            })
        };
        Some(Request {
            ts: self.ts,
            client: get(0)??,
            ip: self.ip,
            method: get(1)??,
            target: get(2)??,
            protocol: get(3)?,
            status: self.status,
            bytes: self.bytes,
            referer: get(4)?,
            user_agent: get(8)?,
            host: get(5)?,
            cookie: get(6)?,
            ja3: get(9)?,
            ja4: get(10)?,
            header_names: get(11)?,
            header_incomplete_ns: self.incomplete,
            set_cookies: get(7)?,
        })
    }
}

/// Replays each spool to its worker, one thread per spool (the second pass of a reading in
/// shares: [`crate::logs::for_each_request_shared`]). Returns the workers, in order.
pub fn replay_shared<W: Send>(
    spools: Vec<RequestSpool>,
    workers: Vec<W>,
    each: impl Fn(&mut W, &Request<'_>) + Sync,
) -> Result<Vec<W>, SpoolError> {
    let each = &each;
    if spools.len() == 1 {
        let mut workers = workers;
        let mut spool = spools.into_iter().next().expect("one spool");
        if let Some(w) = workers.first_mut() {
            spool.replay(|r| each(w, r))?;
        }
        return Ok(workers);
    }
    std::thread::scope(|scope| {
        let threads: Vec<_> = spools
            .into_iter()
            .zip(workers)
            .map(|(mut spool, mut w)| {
                scope.spawn(move || spool.replay(|r| each(&mut w, r)).map(|_| w))
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("a spool's replay does not panic"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(r: &Request<'_>) -> Request<'static> {
        r.clone().into_owned()
    }

    #[test]
    fn every_field_comes_back_as_written_and_in_order() {
        let agent = "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0";
        let long = "x".repeat(3_000);
        let mut written = Vec::new();
        for i in 0..5_000u32 {
            let r = Request {
                ts: (i % 7 != 0).then_some(i64::from(i) * 1_000_000 - 5),
                client: Cow::Owned(if i % 3 == 0 {
                    format!("2001:db8::{i:x}")
                } else {
                    format!("10.0.{}.{}", i >> 8, i & 255)
                }),
                ip: (i % 5 != 0).then(|| IpAddr::from([10, 0, (i >> 8) as u8, i as u8])),
                method: Cow::Borrowed(if i % 2 == 0 { "GET" } else { "" }),
                target: Cow::Owned(format!("/p/{i}?q=ü")),
                protocol: (i % 4 != 0).then_some(Cow::Borrowed("HTTP/1.1")),
                status: (i % 6 != 0).then_some(200 + (i % 300) as u16),
                bytes: (i % 8 != 0).then_some(u64::from(i) << 33),
                referer: (i % 9 != 0).then(|| Cow::Owned(format!("https://a.example/{i}"))),
                user_agent: (i % 10 != 0).then(|| {
                    Cow::Owned(match i % 4 {
                        0 => agent.to_string(),
                        1 => format!("agent {}", i % 50),
                        2 => long.clone(),
                        _ => String::new(),
                    })
                }),
                host: (i % 11 == 0).then_some(Cow::Borrowed("shop.example")),
                cookie: (i % 12 == 0).then_some(Cow::Borrowed("sid=1; _sv=2")),
                ja3: (i % 13 == 0).then_some(Cow::Borrowed("e7d705a3286e19ea42f587b344ee6865")),
                ja4: (i % 14 == 0).then_some(Cow::Borrowed("t13d1516h2_8daaf6152771_02713d6af862")),
                header_names: (i % 15 == 0).then_some(Cow::Borrowed("Host,User-Agent")),
                header_incomplete_ns: (i % 16 == 0).then_some(-7),
                set_cookies: (i % 17 == 0).then_some(Cow::Borrowed("")),
            };
            written.push(r);
        }
        let mut spool = RequestSpool::new().unwrap();
        for r in &written {
            spool.push(r).unwrap();
        }
        assert_eq!(spool.len(), 5_000);
        let mut back = Vec::new();
        let n = spool.replay(|r| back.push(owned(r))).unwrap();
        assert_eq!(n, 5_000);
        assert_eq!(back, written);
        // Again (a third pass), and after more is written.
        let mut again = Vec::new();
        spool.replay(|r| again.push(owned(r))).unwrap();
        assert_eq!(again, written);
        spool.push(&written[7]).unwrap();
        let mut more = Vec::new();
        assert_eq!(spool.replay(|r| more.push(owned(r))).unwrap(), 5_001);
        assert_eq!(more.last(), Some(&written[7]));
        assert_eq!(more[..5_000], written[..]);
        // Nothing written, nothing replayed.
        assert_eq!(
            RequestSpool::new().unwrap().replay(|_| panic!()).unwrap(),
            0
        );
    }

    #[test]
    fn a_spool_for_the_counts_keeps_what_they_read_and_no_more() {
        let r = Request {
            ts: Some(7),
            client: Cow::Borrowed("host.example"),
            method: Cow::Borrowed("GET"),
            target: Cow::Borrowed("http://shop.example/p/1?cb=123"),
            protocol: Some(Cow::Borrowed("HTTP/1.1")),
            status: Some(404),
            bytes: Some(9),
            referer: Some(Cow::Borrowed("https://shop.example/")),
            user_agent: Some(Cow::Borrowed("curl/8.0")),
            cookie: Some(Cow::Borrowed("sid=1")),
            ja4: Some(Cow::Borrowed("t13d1516h2_8daaf6152771_02713d6af862")),
            header_incomplete_ns: Some(5),
            ..Default::default()
        };
        let mut spool = RequestSpool::keeping(Keep::L7_COUNTS).unwrap();
        spool.push(&r).unwrap();
        let mut back = Vec::new();
        spool.replay(|q| back.push(owned(q))).unwrap();
        let want = Request {
            ts: Some(7),
            client: Cow::Borrowed("host.example"),
            target: Cow::Borrowed("/p/1"),
            status: Some(404),
            bytes: Some(9),
            user_agent: Some(Cow::Borrowed("curl/8.0")),
            ja4: Some(Cow::Borrowed("t13d1516h2_8daaf6152771_02713d6af862")),
            header_incomplete_ns: Some(5),
            ..Default::default()
        };
        assert_eq!(back, [want]);
        assert_eq!(back[0].path(), r.path());
    }

    #[test]
    fn a_spool_changed_under_levee_is_an_error_not_a_request() {
        let mut spool = RequestSpool::new().unwrap();
        let r = Request {
            client: Cow::Borrowed("10.0.0.1"),
            target: Cow::Borrowed("/"),
            ..Default::default()
        };
        spool.push(&r).unwrap();
        spool.push(&r).unwrap();
        // The second record's length made longer than what follows it.
        let half = spool.buf.len() / 2;
        spool.buf[half..half + 4].copy_from_slice(&[0xff, 0xff, 0, 0]);
        let mut seen = 0;
        let e = spool.replay(|_| seen += 1).unwrap_err();
        assert!(matches!(e, SpoolError::Damaged { .. }), "{e}");
        assert_eq!(seen, 1);
    }
}
