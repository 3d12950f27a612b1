//! NetFlow v9 and IPFIX: sets of templates, option templates and data, decoded with the
//! templates each exporter and observation domain sent, and the sampling their option data
//! describes. Also the entry point for every version ([`Decoder`]).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::{sflow, u16_at, u32_at, uint, v5, FlowError, FlowRecord, Format};

/// Templates kept at most, over all exporters: a flood of bogus templates cannot grow memory.
const MAX_TEMPLATES: usize = 4096;
/// Data sets held for a template not seen yet, at most, over all exporters.
const MAX_HELD: usize = 256;
/// An IPFIX field whose length is given in the record.
const VARIABLE: u16 = 65535;

/// A template's key: exporter, observation domain (v9 source id), template id.
type Key = (IpAddr, u32, u16);

/// A record's known fields: each one's information element and bytes.
type Values<'b> = Vec<(u16, &'b [u8])>;

/// One field of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Field {
    /// The information element (0 for an enterprise field, whose meaning is skipped).
    id: u16,
    /// Its length, or [`VARIABLE`].
    len: u16,
}

/// A template: data, or options (whose records describe the exporter, e.g. its samplers).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Template {
    fields: Vec<Field>,
    options: bool,
}

/// What a datagram's header says that its records need.
#[derive(Debug, Clone, Copy)]
struct Context {
    format: Format,
    exporter: IpAddr,
    domain: u32,
    /// The export's wall time, ns since 1970.
    export_ns: i64,
    /// The exporter's uptime at export, in ms (v9 only).
    uptime_ms: Option<u32>,
}

/// A data set that came before its template.
struct Held {
    context: Context,
    template: u16,
    body: Vec<u8>,
}

/// What a decoder has met so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecoderStats {
    /// Datagrams decoded.
    pub datagrams: u64,
    /// Records decoded.
    pub records: u64,
    /// Templates and option templates received.
    pub templates: u64,
    /// Option records read (sampler descriptions, and others).
    pub option_records: u64,
    /// Data sets held because their template had not come yet.
    pub held: u64,
    /// Data sets dropped: held too long (the bound was reached) or never explained.
    pub dropped_sets: u64,
    /// sFlow counter samples (counted, not read).
    pub counter_samples: u64,
    /// sFlow flow samples without a record levee reads (a frame without IP, or only
    /// records of other formats).
    pub unread_samples: u64,
}

/// Decodes export datagrams of any version, keeping the templates and samplers each exporter
/// sent.
#[derive(Default)]
pub struct Decoder {
    /// Shared, so a data set borrows its template while the decoder learns from the records.
    templates: HashMap<Key, Arc<Template>>,
    /// Sampling rate by (exporter, domain, sampler or selector id).
    samplers: HashMap<(IpAddr, u32, u64), u32>,
    /// Sampling rate of a whole domain (option data without a sampler id).
    domain_rates: HashMap<(IpAddr, u32), u32>,
    /// The exporter's boot time, ms since 1970 (IPFIX `systemInitTimeMilliseconds`).
    boot_ms: HashMap<(IpAddr, u32), i64>,
    held: Vec<Held>,
    stats: DecoderStats,
}

impl Decoder {
    /// A decoder that has seen nothing.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// What it has met so far.
    pub fn stats(&self) -> DecoderStats {
        self.stats
    }

    /// Decodes one export datagram from `exporter`, adding its records (and those of held
    /// data its templates explain) to `out`. On an error, the records decoded before it stay
    /// in `out`.
    pub fn decode(
        &mut self,
        exporter: IpAddr,
        datagram: &[u8],
        out: &mut Vec<FlowRecord>,
    ) -> Result<(), FlowError> {
        let Some(version) = u16_at(datagram, 0) else {
            return Err(FlowError::Truncated {
                offset: datagram.len(),
                what: "the version",
            });
        };
        let before = out.len();
        let result = match version {
            // sFlow's version is 32 bits: its first two bytes are zero.
            0 if sflow::is_sflow(datagram) => {
                let mut counts = sflow::SflowCounts::default();
                let r = sflow::decode(datagram, exporter, out, &mut counts);
                self.stats.counter_samples += counts.counter_samples;
                self.stats.unread_samples += counts.unread_samples;
                r
            }
            5 => v5::decode(datagram, exporter).map(|r| out.extend(r)),
            9 => self.v9(datagram, exporter, out),
            10 => self.ipfix(datagram, exporter, out),
            v => Err(FlowError::Version(v)),
        };
        self.stats.datagrams += 1;
        self.stats.records += (out.len() - before) as u64;
        result
    }

    fn v9(
        &mut self,
        b: &[u8],
        exporter: IpAddr,
        out: &mut Vec<FlowRecord>,
    ) -> Result<(), FlowError> {
        if b.len() < 20 {
            return Err(FlowError::Truncated {
                offset: b.len(),
                what: "the v9 header",
            });
        }
        let context = Context {
            format: Format::NetflowV9,
            exporter,
            domain: u32_at(b, 16).unwrap_or(0),
            export_ns: i64::from(u32_at(b, 8).unwrap_or(0)) * 1_000_000_000,
            uptime_ms: u32_at(b, 4),
        };
        self.sets(b, 20, context, out)
    }

    fn ipfix(
        &mut self,
        b: &[u8],
        exporter: IpAddr,
        out: &mut Vec<FlowRecord>,
    ) -> Result<(), FlowError> {
        if b.len() < 16 {
            return Err(FlowError::Truncated {
                offset: b.len(),
                what: "the IPFIX header",
            });
        }
        let len = usize::from(u16_at(b, 2).unwrap_or(0));
        if len < 16 || len > b.len() {
            return Err(FlowError::Malformed {
                offset: 2,
                what: "an IPFIX message length beyond the datagram",
            });
        }
        let context = Context {
            format: Format::Ipfix,
            exporter,
            domain: u32_at(b, 12).unwrap_or(0),
            export_ns: i64::from(u32_at(b, 4).unwrap_or(0)) * 1_000_000_000,
            uptime_ms: None,
        };
        self.sets(&b[..len], 16, context, out)
    }

    /// The sets of a message from `at` on.
    fn sets(
        &mut self,
        b: &[u8],
        mut at: usize,
        context: Context,
        out: &mut Vec<FlowRecord>,
    ) -> Result<(), FlowError> {
        while at + 4 <= b.len() {
            let id = u16_at(b, at).unwrap_or(0);
            let len = usize::from(u16_at(b, at + 2).unwrap_or(0));
            if len < 4 || at + len > b.len() {
                return Err(FlowError::Malformed {
                    offset: at + 2,
                    what: "a set length below 4 or beyond the message",
                });
            }
            let body = &b[at + 4..at + len];
            let (templates, options) = if context.format == Format::NetflowV9 {
                (0, 1)
            } else {
                (2, 3)
            };
            if id == templates || id == options {
                let found = self.templates(body, at + 4, context, id == options)?;
                self.explain_held(&found, out);
            } else if id >= 256 {
                self.data(body, id, context, out);
            }
            at += len;
        }
        Ok(())
    }

    /// The templates of a template set; returns the keys received.
    fn templates(
        &mut self,
        body: &[u8],
        base: usize,
        c: Context,
        options: bool,
    ) -> Result<Vec<Key>, FlowError> {
        let mut found = Vec::new();
        let mut at = 0;
        let malformed = |offset, what| FlowError::Malformed { offset, what };
        while at + 4 <= body.len() {
            let tid = u16_at(body, at).unwrap_or(0);
            let (count, mut fat) = match (c.format, options) {
                (Format::NetflowV9, true) => {
                    let scope = usize::from(u16_at(body, at + 2).unwrap_or(0));
                    let opts = usize::from(u16_at(body, at + 4).unwrap_or(0));
                    ((scope + opts) / 4, at + 6)
                }
                (_, true) => (usize::from(u16_at(body, at + 2).unwrap_or(0)), at + 6),
                _ => (usize::from(u16_at(body, at + 2).unwrap_or(0)), at + 4),
            };
            if tid < 256 {
                // Padding at the end of the set (or a withdrawal of all templates).
                if tid == 0 && count == 0 {
                    break;
                }
                return Err(malformed(base + at, "a template id below 256"));
            }
            if count == 0 {
                // An IPFIX template withdrawal.
                self.templates.remove(&(c.exporter, c.domain, tid));
                at += 4;
                continue;
            }
            let mut fields = Vec::with_capacity(count);
            for _ in 0..count {
                let (Some(id), Some(len)) = (u16_at(body, fat), u16_at(body, fat + 2)) else {
                    return Err(FlowError::Truncated {
                        offset: base + body.len(),
                        what: "a template's fields",
                    });
                };
                fat += 4;
                let enterprise = c.format == Format::Ipfix && id & 0x8000 != 0;
                if enterprise {
                    fat += 4; // the enterprise number
                }
                fields.push(Field {
                    id: if enterprise { 0 } else { id },
                    len,
                });
            }
            if fat > body.len() {
                return Err(FlowError::Truncated {
                    offset: base + body.len(),
                    what: "a template's enterprise number",
                });
            }
            if self.templates.len() < MAX_TEMPLATES
                || self.templates.contains_key(&(c.exporter, c.domain, tid))
            {
                self.templates.insert(
                    (c.exporter, c.domain, tid),
                    Arc::new(Template { fields, options }),
                );
                self.stats.templates += 1;
                found.push((c.exporter, c.domain, tid));
            }
            at = fat;
        }
        Ok(found)
    }

    /// Decodes held data sets that the templates just received explain.
    fn explain_held(&mut self, found: &[Key], out: &mut Vec<FlowRecord>) {
        if found.is_empty() || self.held.is_empty() {
            return;
        }
        let (now, later): (Vec<Held>, Vec<Held>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| found.contains(&(h.context.exporter, h.context.domain, h.template)));
        self.held = later;
        for h in now {
            self.data(&h.body, h.template, h.context, out);
        }
    }

    /// The records of a data set; held when its template has not come yet.
    fn data(&mut self, body: &[u8], tid: u16, c: Context, out: &mut Vec<FlowRecord>) {
        let Some(template) = self.templates.get(&(c.exporter, c.domain, tid)).cloned() else {
            if self.held.len() < MAX_HELD {
                self.held.push(Held {
                    context: c,
                    template: tid,
                    body: body.to_vec(),
                });
                self.stats.held += 1;
            } else {
                self.stats.dropped_sets += 1;
            }
            return;
        };
        let mut at = 0;
        while at < body.len() {
            let Some((values, next)) = record(body, at, &template.fields) else {
                break; // padding, or a record cut short: the rest of the set
            };
            if next == at {
                break; // a template of zero-length fields
            }
            at = next;
            if template.options {
                self.option_record(&values, c);
            } else {
                out.push(self.flow(&values, c));
            }
        }
    }

    /// What an option record says of the exporter: a sampler's rate, its boot time.
    fn option_record(&mut self, values: &[(u16, &[u8])], c: Context) {
        self.stats.option_records += 1;
        let get = |id: u16| values.iter().find(|(f, _)| *f == id).map(|(_, v)| uint(v));
        let sampler = get(48).or_else(|| get(302));
        let rate = match (get(309), get(310), get(305), get(306)) {
            (Some(size), Some(population), _, _) if size > 0 && population > 0 => {
                Some(population / size)
            }
            (_, _, Some(interval), Some(space)) if interval > 0 => {
                Some((interval + space) / interval)
            }
            _ => get(34).or_else(|| get(50)).or_else(|| get(305)),
        };
        if let Some(rate) = rate.filter(|&r| r >= 1) {
            let rate = u32::try_from(rate).unwrap_or(u32::MAX);
            match sampler {
                Some(id) => {
                    self.samplers.insert((c.exporter, c.domain, id), rate);
                }
                None => {
                    self.domain_rates.insert((c.exporter, c.domain), rate);
                }
            }
        }
        if let Some(boot) = get(160) {
            self.boot_ms
                .insert((c.exporter, c.domain), i64::try_from(boot).unwrap_or(0));
        }
    }

    /// A data record as a flow.
    fn flow(&self, values: &[(u16, &[u8])], c: Context) -> FlowRecord {
        let mut r = FlowRecord::empty(c.format, c.exporter, c.domain);
        let (mut first_up, mut last_up) = (None, None);
        let mut sampler = None;
        for &(id, v) in values {
            let n = uint(v);
            match id {
                1 => r.bytes = n,
                2 => r.packets = n,
                85 if r.bytes == 0 => r.bytes = n,
                86 if r.packets == 0 => r.packets = n,
                4 => r.protocol = n as u8,
                5 => r.tos = n as u8,
                6 => r.tcp_flags = n as u16,
                7 => r.src_port = n as u16,
                11 => r.dst_port = n as u16,
                // Some templates carry both families, the unused one all zeros.
                8 | 27 => r.src = known(r.src, address(v)),
                12 | 28 => r.dst = known(r.dst, address(v)),
                22 => first_up = Some(n as u32),
                21 => last_up = Some(n as u32),
                150 => r.start_ns = Some(n as i64 * 1_000_000_000),
                151 => r.end_ns = Some(n as i64 * 1_000_000_000),
                152 => r.start_ns = Some(n as i64 * 1_000_000),
                153 => r.end_ns = Some(n as i64 * 1_000_000),
                52 => r.min_ttl = Some(n as u8),
                53 => r.max_ttl = Some(n as u8),
                34 if n > 1 => {
                    r.sampling = u32::try_from(n).unwrap_or(u32::MAX);
                    r.sampling_known = true;
                }
                48 | 302 => sampler = Some(n),
                _ => {}
            }
        }
        let wall = |up: u32| match (c.uptime_ms, self.boot_ms.get(&(c.exporter, c.domain))) {
            (Some(uptime), _) => Some(v5::wall_ns(c.export_ns, uptime, up)),
            (None, Some(&boot)) => Some((boot + i64::from(up)) * 1_000_000),
            (None, None) => None,
        };
        if r.start_ns.is_none() {
            r.start_ns = first_up.and_then(wall);
        }
        if r.end_ns.is_none() {
            r.end_ns = last_up.and_then(wall);
        }
        if !r.sampling_known {
            let rate = sampler
                .and_then(|id| self.samplers.get(&(c.exporter, c.domain, id)))
                .or_else(|| self.domain_rates.get(&(c.exporter, c.domain)));
            if let Some(&rate) = rate {
                r.sampling = rate;
                r.sampling_known = true;
            }
        }
        r
    }
}

/// The fields of one record at `at`: each known field's id with its bytes; and where the
/// next record starts. `None` when the record does not fit.
fn record<'b>(body: &'b [u8], mut at: usize, fields: &[Field]) -> Option<(Values<'b>, usize)> {
    let mut values = Vec::with_capacity(fields.len());
    for f in fields {
        let len = if f.len == VARIABLE {
            let first = *body.get(at)?;
            at += 1;
            if first == 255 {
                let long = u16_at(body, at)?;
                at += 2;
                usize::from(long)
            } else {
                usize::from(first)
            }
        } else {
            usize::from(f.len)
        };
        let v = body.get(at..at + len)?;
        at += len;
        if f.id != 0 {
            values.push((f.id, v));
        }
    }
    Some((values, at))
}

/// `new` unless it is all zeros and an address is already known.
fn known(old: Option<IpAddr>, new: Option<IpAddr>) -> Option<IpAddr> {
    match (old, new) {
        (Some(o), Some(n)) if n.is_unspecified() => Some(o),
        (o, None) => o,
        (_, n) => n,
    }
}

/// An address field (4 or 16 bytes).
fn address(v: &[u8]) -> Option<IpAddr> {
    match v.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(v[0], v[1], v[2], v[3]))),
        16 => {
            let a: [u8; 16] = v.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(a)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPORTER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

    /// An IPFIX message of `sets` (each: set id, body), domain 7, exported at 1,700,000,000 s.
    fn ipfix(sets: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (id, b) in sets {
            body.extend(id.to_be_bytes());
            body.extend(((b.len() + 4) as u16).to_be_bytes());
            body.extend(b);
        }
        let mut m = vec![0, 10];
        m.extend(((body.len() + 16) as u16).to_be_bytes());
        m.extend(1_700_000_000u32.to_be_bytes());
        m.extend(1u32.to_be_bytes());
        m.extend(7u32.to_be_bytes());
        m.extend(body);
        m
    }

    /// Template 256: source, destination, protocol, packets (reduced to 2 bytes), a variable
    /// length field, and an enterprise field.
    fn template() -> Vec<u8> {
        let mut t = Vec::new();
        for v in [256u16, 6, 8, 4, 12, 4, 4, 1, 2, 2, 82, VARIABLE] {
            t.extend(v.to_be_bytes());
        }
        t.extend((0x8000u16 | 1).to_be_bytes());
        t.extend(2u16.to_be_bytes());
        t.extend(9u32.to_be_bytes()); // enterprise number
        t
    }

    fn data() -> Vec<u8> {
        let mut d = vec![10, 0, 0, 1, 10, 0, 0, 2, 17, 0, 42];
        d.extend([3, b'e', b't', b'h']); // variable length: 3 bytes
        d.extend([0xab, 0xcd]); // the enterprise field
        d
    }

    #[test]
    fn data_before_its_template_is_held_and_decoded_when_it_comes() {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        d.decode(EXPORTER, &ipfix(&[(256, data())]), &mut out)
            .unwrap();
        assert!(out.is_empty());
        assert_eq!(d.stats().held, 1);
        d.decode(EXPORTER, &ipfix(&[(2, template())]), &mut out)
            .unwrap();
        assert_eq!(out.len(), 1);
        let r = &out[0];
        assert_eq!(r.src, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(r.dst, Some("10.0.0.2".parse().unwrap()));
        assert_eq!(
            (r.protocol, r.packets, r.domain, r.format),
            (17, 42, 7, Format::Ipfix)
        );
        // Later data decodes at once; another domain's templates are its own.
        d.decode(EXPORTER, &ipfix(&[(256, data()), (256, data())]), &mut out)
            .unwrap();
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn a_withdrawn_template_no_longer_decodes() {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        d.decode(EXPORTER, &ipfix(&[(2, template())]), &mut out)
            .unwrap();
        let mut withdrawal = 256u16.to_be_bytes().to_vec();
        withdrawal.extend(0u16.to_be_bytes());
        d.decode(
            EXPORTER,
            &ipfix(&[(2, withdrawal), (256, data())]),
            &mut out,
        )
        .unwrap();
        assert!(out.is_empty());
        assert_eq!(d.stats().held, 1);
    }

    #[test]
    fn a_sampler_in_option_data_sets_the_rate_of_the_records_that_name_it() {
        // Options template 257: scope selectorId (4 bytes), then samplingSize and
        // samplingPopulation; data template 258 names its selector.
        let mut options = Vec::new();
        for v in [257u16, 3, 1, 302, 4, 309, 4, 310, 4] {
            options.extend(v.to_be_bytes());
        }
        let mut templ = Vec::new();
        for v in [258u16, 2, 2, 4, 302, 4] {
            templ.extend(v.to_be_bytes());
        }
        let mut sampler = 5u32.to_be_bytes().to_vec();
        sampler.extend(1u32.to_be_bytes());
        sampler.extend(1000u32.to_be_bytes());
        let mut rec = 9u32.to_be_bytes().to_vec();
        rec.extend(5u32.to_be_bytes());
        let mut d = Decoder::new();
        let mut out = Vec::new();
        let m = ipfix(&[(3, options), (2, templ), (257, sampler), (258, rec)]);
        d.decode(EXPORTER, &m, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].packets, out[0].sampling, out[0].sampling_known),
            (9, 1000, true)
        );
    }

    #[test]
    fn v5_records_carry_the_headers_sampling_and_wall_times() {
        let mut m = vec![0, 5, 0, 1];
        m.extend(10_000u32.to_be_bytes()); // uptime: 10 s
        m.extend(1_700_000_000u32.to_be_bytes());
        m.extend(0u32.to_be_bytes());
        m.extend(0u32.to_be_bytes());
        m.extend([0, 0]);
        m.extend((0x4000u16 | 100).to_be_bytes()); // mode 1, 1 in 100
        let mut r = vec![198, 51, 100, 7, 203, 0, 113, 9, 0, 0, 0, 0, 0, 1, 0, 2];
        r.extend(3u32.to_be_bytes());
        r.extend(180u32.to_be_bytes());
        r.extend(8_000u32.to_be_bytes()); // first: 2 s before export
        r.extend(9_000u32.to_be_bytes());
        r.extend(53u16.to_be_bytes());
        r.extend(4444u16.to_be_bytes());
        r.extend([0, 0x12, 17, 0, 0, 0, 0, 0, 24, 24, 0, 0]);
        m.extend(r);
        let mut out = Vec::new();
        Decoder::new().decode(EXPORTER, &m, &mut out).unwrap();
        let f = &out[0];
        assert_eq!(
            (f.packets, f.bytes, f.src_port, f.dst_port),
            (3, 180, 53, 4444)
        );
        assert_eq!((f.protocol, f.tcp_flags, f.sampling), (17, 0x12, 100));
        assert_eq!(f.start_ns, Some(1_699_999_998_000_000_000));
        assert_eq!(f.end_ns, Some(1_699_999_999_000_000_000));
    }

    #[test]
    fn damaged_datagrams_give_errors_never_panics() {
        let m = ipfix(&[(2, template()), (256, data())]);
        for cut in 0..m.len() {
            let mut d = Decoder::new();
            let mut out = Vec::new();
            let _ = d.decode(EXPORTER, &m[..cut], &mut out);
        }
        let mut bad = m.clone();
        bad[2] = 0xff; // a message length beyond the datagram
        let e = Decoder::new().decode(EXPORTER, &bad, &mut Vec::new());
        assert!(
            matches!(e, Err(FlowError::Malformed { offset: 2, .. })),
            "{e:?}"
        );
        let e = Decoder::new().decode(EXPORTER, &[0, 7, 0, 0], &mut Vec::new());
        assert_eq!(e, Err(FlowError::Version(7)));
    }
}
