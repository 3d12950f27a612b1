//! The fields an expression can name, their types, and how each is read from a packet.
//!
//! Every field declared in [`levee_decode::FIELDS`] is usable, with the type and bounds
//! declared there. The header fields that rules test on
//! every packet of a flood (addresses, ports, flags, lengths) are read straight from the decoded
//! structs; the rest go through [`Packet::field`], which decodes layer 7 when needed.

use std::net::IpAddr;

use levee_decode::{FieldDef, FieldKind, FieldLayer, FieldValue, Packet, TcpFlags, Transport};

/// The type of a field's value, which decides the operators and literals it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// An unsigned integer (ports, lengths, flags, counts).
    Int,
    /// True or false.
    Bool,
    /// An IPv4 or IPv6 address.
    Ip,
    /// A string (names, URIs, headers, fingerprints).
    Str,
    /// Bytes (payloads): compared with `==`/`!=`, searched with `contains` and `matches`,
    /// sliced (`udp.payload[0:4]`) and measured (`len(udp.payload)`).
    Bytes,
}

impl FieldType {
    /// The type's name, as error messages and `levee fields --list` give it.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Int => "integer",
            FieldType::Bool => "boolean",
            FieldType::Ip => "IP address",
            FieldType::Str => "string",
            FieldType::Bytes => "bytes",
        }
    }

    /// What a field of this type holds, for messages: "`ip.ttl` holds integers".
    pub fn plural(self) -> &'static str {
        match self {
            FieldType::Int => "integers",
            FieldType::Bool => "booleans",
            FieldType::Ip => "IP addresses",
            FieldType::Str => "strings",
            FieldType::Bytes => "bytes",
        }
    }
}

/// Header fields read without going through names (the hot path of rule evaluation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direct {
    FrameLen,
    IpSrc,
    IpDst,
    IpProto,
    IpLen,
    IpTtl,
    IpId,
    IpFrag,
    IpFragOffset,
    IpMf,
    IpDf,
    TcpSrcport,
    TcpDstport,
    TcpFlags,
    TcpFlag(u16),
    TcpWindow,
    TcpLen,
    UdpSrcport,
    UdpDstport,
    UdpLen,
    IcmpType,
    IcmpCode,
}

/// What a condition reads of a bytes field: all of it, a slice, or its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The field as declared.
    Whole,
    /// `len` bytes from byte `start` of the field, or from `-start` bytes before its end when
    /// `start` is negative, as Wireshark slices: `udp.payload[0:4]`, `udp.payload[-4:4]`. A
    /// field too short for the slice does not have it (its condition is false).
    Slice {
        /// The first byte, from the start (0 on) or from the end (-1 is the last byte).
        start: i32,
        /// How many bytes (at least 1).
        len: u16,
    },
    /// The field's length in bytes: `len(udp.payload)`, an integer.
    Len,
}

/// The longest slice an expression may take: any payload fits in it.
pub const MAX_SLICE: u16 = 65_535;

/// A field resolved from its name: cheap to copy and to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Its declaration: name, layer, bound.
    def: &'static FieldDef,
    ty: FieldType,
    direct: Option<Direct>,
    view: View,
}

/// A field's value on one packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An integer.
    Int(u64),
    /// True or false.
    Bool(bool),
    /// An address.
    Ip(IpAddr),
    /// A string.
    Str(String),
    /// Bytes.
    Bytes(Vec<u8>),
}

fn direct_for(name: &str) -> Option<Direct> {
    Some(match name {
        "frame.len" => Direct::FrameLen,
        "ip.src" => Direct::IpSrc,
        "ip.dst" => Direct::IpDst,
        "ip.proto" => Direct::IpProto,
        "ip.len" => Direct::IpLen,
        "ip.ttl" => Direct::IpTtl,
        "ip.id" => Direct::IpId,
        "ip.frag" => Direct::IpFrag,
        "ip.frag_offset" => Direct::IpFragOffset,
        "ip.flags.mf" => Direct::IpMf,
        "ip.flags.df" => Direct::IpDf,
        "tcp.srcport" => Direct::TcpSrcport,
        "tcp.dstport" => Direct::TcpDstport,
        "tcp.flags" => Direct::TcpFlags,
        "tcp.flags.fin" => Direct::TcpFlag(TcpFlags::FIN),
        "tcp.flags.syn" => Direct::TcpFlag(TcpFlags::SYN),
        "tcp.flags.reset" => Direct::TcpFlag(TcpFlags::RST),
        "tcp.flags.push" => Direct::TcpFlag(TcpFlags::PSH),
        "tcp.flags.ack" => Direct::TcpFlag(TcpFlags::ACK),
        "tcp.flags.urg" => Direct::TcpFlag(TcpFlags::URG),
        "tcp.flags.ecn" => Direct::TcpFlag(TcpFlags::ECE),
        "tcp.flags.cwr" => Direct::TcpFlag(TcpFlags::CWR),
        "tcp.window" => Direct::TcpWindow,
        "tcp.len" => Direct::TcpLen,
        "udp.srcport" => Direct::UdpSrcport,
        "udp.dstport" => Direct::UdpDstport,
        "udp.len" => Direct::UdpLen,
        "icmp.type" => Direct::IcmpType,
        "icmp.code" => Direct::IcmpCode,
        _ => return None,
    })
}

impl Field {
    /// Resolves a field name; `None` when levee has no such field.
    pub fn lookup(name: &str) -> Option<Field> {
        let def = levee_decode::field_def(name)?;
        let ty = match def.kind {
            FieldKind::Str => FieldType::Str,
            FieldKind::Bool => FieldType::Bool,
            FieldKind::Ip => FieldType::Ip,
            FieldKind::Int => FieldType::Int,
            FieldKind::Bytes => FieldType::Bytes,
        };
        Some(Field {
            def,
            ty,
            direct: direct_for(def.name),
            view: View::Whole,
        })
    }

    /// `len` bytes of a bytes field from `start` (see [`View::Slice`]); `None` for a field
    /// that does not hold bytes, a view already taken, or an empty slice.
    pub fn slice(self, start: i32, len: u16) -> Option<Field> {
        (self.ty == FieldType::Bytes && self.view == View::Whole && len > 0).then_some(Field {
            view: View::Slice { start, len },
            ..self
        })
    }

    /// The length of a bytes field, an integer (see [`View::Len`]).
    pub fn len_of(self) -> Option<Field> {
        (self.ty == FieldType::Bytes && self.view == View::Whole).then_some(Field {
            view: View::Len,
            ty: FieldType::Int,
            ..self
        })
    }

    /// What the condition reads of the field.
    pub fn view(&self) -> View {
        self.view
    }

    /// The field's declared name (`udp.payload`, also for a slice of it or its length: see
    /// [`Field::view`]; its [`Display`](std::fmt::Display) writes it as an expression does).
    pub fn name(&self) -> &'static str {
        self.def.name
    }

    /// Whether the field reads a payload (all of it, a slice or its length): what engines
    /// reach with raw offsets, not header matches.
    pub fn is_payload(&self) -> bool {
        self.def.kind == FieldKind::Bytes
    }

    /// The field's type.
    pub fn ty(&self) -> FieldType {
        self.ty
    }

    /// The largest value an integer field can hold on the wire; `None` for fields that are
    /// not integers. A value above it can never match, and no engine would take it: `rules
    /// check` refuses it.
    pub fn max_value(&self) -> Option<u64> {
        match self.view {
            View::Len => Some(0xffff),
            _ => (self.ty == FieldType::Int).then_some(self.def.max),
        }
    }

    /// Whether reading this field may decode layer 7 (slow): used to order conditions.
    pub fn is_application(&self) -> bool {
        self.direct.is_none() && self.def.layer == FieldLayer::App
    }

    /// Reads an integer field without allocating; `None` when the packet lacks the layer.
    #[inline]
    pub fn int(&self, p: &Packet<'_>) -> Option<u64> {
        if let Some(d) = self.direct {
            return direct_int(d, p);
        }
        if self.view == View::Len {
            // The length of a payload the capture cut is not known.
            let payload = p.payload_of(self.def.layer)?;
            return (!p.is_cut()).then_some(payload.len() as u64);
        }
        match p.field(self.def.name)? {
            FieldValue::Int(v) => Some(v),
            FieldValue::Bool(b) => Some(u64::from(b)),
            _ => None,
        }
    }

    /// The field's address in a packet, if it has one.
    #[inline]
    pub fn ip(&self, p: &Packet<'_>) -> Option<IpAddr> {
        match self.direct {
            Some(Direct::IpSrc) => p.ip.map(|i| i.src),
            Some(Direct::IpDst) => p.ip.map(|i| i.dst),
            _ => match p.field(self.def.name)? {
                FieldValue::Ip(ip) => Some(ip),
                _ => None,
            },
        }
    }

    /// The field's truth in a packet (an integer field is true when not 0), if it has one.
    #[inline]
    pub fn bool(&self, p: &Packet<'_>) -> Option<bool> {
        if let Some(d) = self.direct {
            return direct_int(d, p).map(|v| v != 0);
        }
        match p.field(self.def.name)? {
            FieldValue::Bool(b) => Some(b),
            FieldValue::Int(v) => Some(v != 0),
            _ => None,
        }
    }

    /// The bytes a bytes field (or its slice) holds in a packet, if it has them. Of a frame
    /// the capture cut (see [`Packet::is_cut`]), only a slice from the start within what was
    /// kept is known: the whole payload and slices from its end are not.
    #[inline]
    pub fn bytes<'p>(&self, p: &Packet<'p>) -> Option<&'p [u8]> {
        if self.ty != FieldType::Bytes {
            return None;
        }
        let payload = p.payload_of(self.def.layer)?;
        match self.view {
            View::Whole => (!p.is_cut()).then_some(payload),
            View::Slice { start, len } => {
                let from = if start >= 0 {
                    start as usize
                } else if p.is_cut() {
                    return None;
                } else {
                    payload.len().checked_sub(start.unsigned_abs() as usize)?
                };
                payload.get(from..from + usize::from(len))
            }
            View::Len => None,
        }
    }

    /// The field's value in a packet as a string (any type written out), if it has one.
    pub fn str(&self, p: &Packet<'_>) -> Option<String> {
        match p.field(self.def.name)? {
            FieldValue::Str(s) => Some(s),
            other => Some(other.to_string()),
        }
    }

    /// The value of any type, for display and tests.
    pub fn value(&self, p: &Packet<'_>) -> Option<Value> {
        match self.ty {
            FieldType::Int => self.int(p).map(Value::Int),
            FieldType::Bool => self.bool(p).map(Value::Bool),
            FieldType::Ip => self.ip(p).map(Value::Ip),
            FieldType::Str => self.str(p).map(Value::Str),
            FieldType::Bytes => self.bytes(p).map(|b| Value::Bytes(b.to_vec())),
        }
    }
}

/// The field as an expression writes it: `udp.payload[0:4]`, `len(udp.payload)`.
impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.view {
            View::Whole => f.write_str(self.def.name),
            View::Slice { start, len } => write!(f, "{}[{start}:{len}]", self.def.name),
            View::Len => write!(f, "len({})", self.def.name),
        }
    }
}

#[inline]
fn direct_int(d: Direct, p: &Packet<'_>) -> Option<u64> {
    let ip = p.ip.as_ref();
    let v = match d {
        Direct::FrameLen => u64::from(p.wire_len),
        Direct::IpSrc | Direct::IpDst => return None,
        Direct::IpProto => u64::from(ip?.proto),
        Direct::IpLen => u64::from(ip?.len),
        Direct::IpTtl => u64::from(ip?.ttl),
        Direct::IpId => u64::from(ip?.id),
        Direct::IpFrag => u64::from(ip?.is_fragment),
        Direct::IpFragOffset => u64::from(ip?.frag_offset),
        Direct::IpMf => u64::from(ip?.more_fragments),
        Direct::IpDf => u64::from(ip?.dont_fragment),
        Direct::TcpSrcport => u64::from(p.tcp()?.src_port),
        Direct::TcpDstport => u64::from(p.tcp()?.dst_port),
        Direct::TcpFlags => u64::from(p.tcp()?.flags.0),
        Direct::TcpFlag(bit) => u64::from(p.tcp()?.flags.has(bit)),
        Direct::TcpWindow => u64::from(p.tcp()?.window),
        Direct::TcpLen => {
            p.tcp()?;
            p.payload.len() as u64
        }
        Direct::UdpSrcport => u64::from(p.udp()?.src_port),
        Direct::UdpDstport => u64::from(p.udp()?.dst_port),
        Direct::UdpLen => u64::from(p.udp()?.len),
        Direct::IcmpType => match &p.transport {
            Transport::Icmp(i) => u64::from(i.icmp_type),
            _ => return None,
        },
        Direct::IcmpCode => match &p.transport {
            Transport::Icmp(i) => u64::from(i.code),
            _ => return None,
        },
    };
    Some(v)
}

/// The bit of a `tcp.flags.*` field within `tcp.flags`.
pub fn tcp_flag_bit(name: &str) -> Option<u16> {
    Some(match name {
        "tcp.flags.fin" => TcpFlags::FIN,
        "tcp.flags.syn" => TcpFlags::SYN,
        "tcp.flags.reset" => TcpFlags::RST,
        "tcp.flags.push" => TcpFlags::PSH,
        "tcp.flags.ack" => TcpFlags::ACK,
        "tcp.flags.urg" => TcpFlags::URG,
        "tcp.flags.ecn" => TcpFlags::ECE,
        "tcp.flags.cwr" => TcpFlags::CWR,
        _ => return None,
    })
}

/// The name printed for an IP protocol number, for the common ones.
pub(crate) fn ip_proto_name(n: u64) -> Option<&'static str> {
    Some(match n {
        1 => "icmp",
        6 => "tcp",
        17 => "udp",
        47 => "gre",
        50 => "esp",
        58 => "icmpv6",
        132 => "sctp",
        _ => return None,
    })
}

/// IP protocol names accepted where `ip.proto` expects a number.
pub(crate) fn ip_proto_number(name: &str) -> Option<u64> {
    Some(match name.to_ascii_lowercase().as_str() {
        "icmp" => 1,
        "igmp" => 2,
        "ipip" | "ipencap" => 4,
        "tcp" => 6,
        "udp" => 17,
        "ipv6" => 41,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "icmpv6" | "ipv6-icmp" => 58,
        "ospf" => 89,
        "pim" => 103,
        "vrrp" => 112,
        "l2tp" => 115,
        "sctp" => 132,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_decoder_field_resolves_with_a_type() {
        for def in levee_decode::FIELDS {
            let f = Field::lookup(def.name).expect(def.name);
            assert_eq!(f.name(), def.name);
        }
        assert!(Field::lookup("ip.nonsense").is_none());
        assert_eq!(Field::lookup("ip.src").unwrap().ty(), FieldType::Ip);
        assert_eq!(
            Field::lookup("tcp.flags.syn").unwrap().ty(),
            FieldType::Bool
        );
        assert_eq!(Field::lookup("dns.qry.name").unwrap().ty(), FieldType::Str);
        assert_eq!(Field::lookup("udp.dstport").unwrap().ty(), FieldType::Int);
    }

    #[test]
    fn integer_fields_have_their_wire_ranges() {
        let max = |n: &str| Field::lookup(n).unwrap().max_value();
        assert_eq!(max("tcp.dstport"), Some(65535));
        assert_eq!(max("ip.ttl"), Some(255));
        assert_eq!(max("ip.len"), Some(65575));
        assert_eq!(max("ip.frag_offset"), Some(8191));
        assert_eq!(max("tcp.flags"), Some(0x1ff));
        assert_eq!(max("ip.src"), None);
        assert_eq!(max("tcp.flags.syn"), None);
        // Every integer field has a range, even if unbounded.
        for def in levee_decode::FIELDS {
            let f = Field::lookup(def.name).unwrap();
            assert_eq!(
                f.max_value().is_some(),
                f.ty() == FieldType::Int,
                "{}",
                def.name
            );
        }
    }

    /// The fields read straight from the decoded headers are declared with the type their
    /// reader gives.
    #[test]
    fn fast_readers_are_declared_with_their_types() {
        let mut direct = 0;
        for def in levee_decode::FIELDS {
            if direct_for(def.name).is_some() {
                direct += 1;
                assert!(
                    matches!(def.kind, FieldKind::Int | FieldKind::Bool | FieldKind::Ip),
                    "{} is read as a number, a flag or an address",
                    def.name
                );
                assert_ne!(def.layer, FieldLayer::App, "{}", def.name);
            }
        }
        assert!(
            direct >= 28,
            "the header fields rules test on floods: {direct}"
        );
    }
}
