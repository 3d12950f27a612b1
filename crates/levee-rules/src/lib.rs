//! levee's rule language: the Cloudflare Rules / wirefilter expression syntax, so an expression
//! reads like a Wireshark display filter and pastes into that ecosystem.
//!
//! ```text
//! ip.dst == 10.10.10.10 and udp.srcport == 4500 and ip.len in {1000..1500}
//! tcp.flags.syn and not tcp.flags.ack and ip.src in $allowlist
//! http.user_agent matches "(?i)sqlmap" or dns.qry.name contains "example.com"
//! ```
//!
//! [`parse`] turns text into a type-checked [`Expr`]; [`Expr::matches`] evaluates it on a decoded
//! packet; printing an [`Expr`] gives canonical text that parses back to the same tree. Fields are
//! those declared in [`levee_decode::FIELDS`], typed in [`field`]. Errors say where, with a caret.

#![warn(missing_docs)]

pub mod aggregate;
mod ast;
pub mod compile;
pub mod engine;
mod eval;
pub mod field;
pub mod file;
mod index;
mod lists;
mod parse;
pub mod record;
mod set;

pub use ast::{CmpOp, Expr, Literal, Set, SetItem};

/// A string literal for an expression: quoted, with quotes, backslashes and control
/// characters escaped, so any text (a DNS name seen in traffic) can be embedded safely.
pub fn quote(s: &str) -> String {
    ast::quote(s)
}

/// Escapes regular-expression metacharacters, for `matches` on literal text.
pub fn escape_regex(s: &str) -> String {
    regex::escape(s)
}
pub use engine::{Engine, Verdict};
pub use field::{Field, FieldType, Value};
pub use file::{Action, RateKey, Rule, RulesError, RulesFile};
pub use lists::Lists;
pub use parse::{MAX_DEPTH, MAX_EXPRESSION_LEN, MAX_REGEX_SIZE};
pub use set::{Memo, RuleSet};

/// A syntax or type error, with the byte span it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at byte {start})")]
pub struct ParseError {
    /// Byte offset where the problem starts.
    pub start: usize,
    /// Byte offset where it ends.
    pub end: usize,
    /// What is wrong.
    pub message: String,
}

impl ParseError {
    /// The error as a compiler would print it: the message, `line:column`, the line, and carets
    /// under the fault. `origin` names where the text came from (a file, `--expr`).
    pub fn render(&self, origin: &str, src: &str) -> String {
        let start = char_floor(src, self.start);
        let line_no = src[..start].matches('\n').count() + 1;
        let line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
        let col = src[line_start..start].chars().count() + 1;
        self.render_at(&format!("{origin}:{line_no}:{col}"), src)
    }

    /// [`Self::render`] with the place (`file:line:column`) given by the caller, for
    /// expressions embedded in a larger file.
    pub fn render_at(&self, place: &str, src: &str) -> String {
        let start = char_floor(src, self.start);
        let line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = src[start..].find('\n').map_or(src.len(), |i| start + i);
        let col = src[line_start..start].chars().count() + 1;
        let line = &src[line_start..line_end];
        let end = char_floor(src, self.end.min(line_end).max(start));
        let width = src[start..end].chars().count().max(1);
        format!(
            "error: {}\n --> {place}\n  |\n  | {line}\n  | {}{}\n",
            self.message,
            " ".repeat(col - 1),
            "^".repeat(width)
        )
    }
}

/// `i` moved back to the start of the character it falls in, and to the end of `src` at
/// most: spans of errors never slice inside a character, whatever made them.
fn char_floor(src: &str, i: usize) -> usize {
    let mut i = i.min(src.len());
    while !src.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A list file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The list file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not an address or prefix.
    #[error("{origin}:{line}: `{entry}` is not an IP address or prefix")]
    BadEntry {
        /// The file.
        origin: String,
        /// The line number, from 1.
        line: usize,
        /// The line.
        entry: String,
    },
}

/// Parses and type-checks an expression. Named lists it uses must be in `lists`.
pub fn parse(src: &str, lists: &Lists) -> Result<Expr, ParseError> {
    parse::Parser::new(src, lists)?.parse()
}

/// Parses an expression that uses no named lists.
pub fn parse_plain(src: &str) -> Result<Expr, ParseError> {
    parse(src, &Lists::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use levee_decode::{decode, linktype};

    /// An Ethernet/IPv4 frame from 192.0.2.7 to 10.10.10.10, TTL 57, carrying `l4` (of IP
    /// protocol `proto`), with IP id `id`.
    fn ipv4_frame(proto: u8, id: u16, l4: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20];
        f[12] = 0x08;
        let ip = &mut f[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&id.to_be_bytes());
        ip[8] = 57;
        ip[9] = proto;
        ip[12..16].copy_from_slice(&[192, 0, 2, 7]);
        ip[16..20].copy_from_slice(&[10, 10, 10, 10]);
        f.extend_from_slice(l4);
        f
    }

    /// An Ethernet/IPv4/TCP SYN from 192.0.2.7:40000 to 10.10.10.10:25565, TTL 57, 60 bytes.
    fn syn_frame() -> Vec<u8> {
        let mut tcp = [0u8; 20];
        tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&25565u16.to_be_bytes());
        tcp[12] = 5 << 4;
        tcp[13] = 0x02;
        tcp[14..16].copy_from_slice(&64240u16.to_be_bytes());
        ipv4_frame(6, 0x1234, &tcp)
    }

    fn check(expr: &str) -> bool {
        let f = syn_frame();
        let p = decode(linktype::ETHERNET, &f, f.len() as u32);
        parse_plain(expr)
            .unwrap_or_else(|e| panic!("{}", e.render("test", expr)))
            .matches(&p)
    }

    #[test]
    fn comparisons_and_sets_match_a_syn() {
        assert!(check("tcp.flags.syn and not tcp.flags.ack"));
        assert!(check("tcp.flags == 0x02"));
        assert!(check("ip.dst == 10.10.10.10 and tcp.dstport == 25565"));
        assert!(check("ip.src in {192.0.2.0/24}"));
        assert!(check("ip.src in {192.0.2.1..192.0.2.9 203.0.113.0/24}"));
        assert!(!check("ip.src in {198.51.100.0/24 2001:db8::/32}"));
        assert!(check("ip.ttl >= 50 && ip.ttl le 60"));
        assert!(check("ip.len in {40..60 1500}"));
        assert!(check("ip.proto == tcp and ip.proto in {udp tcp}"));
        assert!(check("tcp.window == 64240"));
        assert!(
            !check("udp.dstport != 53"),
            "absent field: every comparison is false"
        );
        assert!(check("not udp.dstport == 53"));
        assert!(check("tcp.dstport == 80 or tcp.dstport == 25565"));
        assert!(check("tcp.dstport == 25565 xor tcp.dstport == 80"));
        assert!(!check("tcp.dstport == 25565 ^^ ip.ttl == 57"));
        assert!(check("tcp.flags.str == \"S\""));
        assert!(check(
            "tcp.flags.str matches \"^S$\" and tcp.flags.str contains \"S\""
        ));
        assert!(check("ip.frag == false and tcp.flags.syn == 1"));
        assert!(check("(((ip.id == 0x1234)))"));
    }

    #[test]
    fn precedence_is_not_and_xor_or() {
        // and binds tighter than or
        assert!(check("tcp.dstport == 1 and ip.ttl == 0 or tcp.flags.syn"));
        assert!(!check(
            "tcp.dstport == 1 and (ip.ttl == 0 or tcp.flags.syn)"
        ));
        // not binds tighter than and
        assert!(!check("not tcp.flags.syn and tcp.flags.syn"));
    }

    #[test]
    fn printing_round_trips() {
        for src in [
            "ip.dst == 10.10.10.10 and udp.srcport == 4500",
            "(tcp.flags == 0x12 or tcp.flags == 0x02) and not ip.src in {10.0.0.0/8 192.0.2.1}",
            "tcp.dstport in {80 443 1024..2048} xor ip.frag",
            "(ip.ttl == 1 xor ip.ttl == 2) xor ip.ttl == 3",
            "not (ip.len < 100 or ip.len > 1400)",
            "dns.qry.name matches \"^[a-z0-9]{12}\\\\.example\\\\.com$\"",
            "http.user_agent contains \"\\\"quoted\\\"\"",
            "ip.src in {2001:db8::/32 ::1 fe80::1..fe80::ff}",
        ] {
            let e = parse_plain(src).unwrap_or_else(|e| panic!("{}", e.render("t", src)));
            let printed = e.to_string();
            let again = parse_plain(&printed)
                .unwrap_or_else(|e| panic!("{}", e.render("printed", &printed)));
            assert_eq!(e, again, "{src} printed as {printed}");
        }
        assert_eq!(
            parse_plain("(a.b == 1)").unwrap_err().message,
            "unknown field `a.b` (see `levee fields --list`)"
        );
        assert_eq!(
            parse_plain("tcp.flags==2 && (ip.ttl<3 || ip.ttl>200)")
                .unwrap()
                .to_string(),
            "tcp.flags == 0x02 and (ip.ttl < 3 or ip.ttl > 200)"
        );
    }

    #[test]
    fn errors_point_at_the_fault() {
        let src = "ip.dst == 10.10.10.10 and\n  tcp.dstport == \"http\"";
        let e = parse_plain(src).unwrap_err();
        let shown = e.render("rules.toml", src);
        assert!(shown.contains("rules.toml:2:18"), "{shown}");
        let caret_line = format!("  | {}^^^^^^\n", " ".repeat(17));
        assert!(shown.contains(&caret_line), "{shown}");
        assert!(e.message.contains("holds integers"), "{}", e.message);

        let cases = [
            ("", "empty expression"),
            ("ip.src", "compare it"),
            ("ip.src == 10.0.0.0/8", "in {10.0.0.0/8}"),
            ("ip.src in {10.0.0.1/8}", "host bits"),
            ("ip.ttl contains \"x\"", "strings and bytes"),
            ("ip.ttl == 1 and", "found the end"),
            ("(ip.ttl == 1", "never closed"),
            ("ip.ttl == 1)", "expected `and`"),
            ("ip.ttl in {5..1}", "range"),
            ("ip.ttl in {}", "empty set"),
            ("ip.src in $nope", "no list named"),
            ("http.host matches \"(\"", "bad regular expression"),
            ("http.host == \"open", "not closed"),
            ("ip.proto == bogus", "unknown IP protocol"),
            ("ip.ttl == 99999999999999999999999", "too large"),
            ("ip.ttl @ 3", "unexpected character"),
            ("http.host < \"a\"", "cannot be used with `<`"),
            ("tcp.dstport == 65536", "`tcp.dstport` holds 0 to 65535"),
            ("ip.ttl == 256", "`ip.ttl` holds 0 to 255"),
            ("ip.ttl in {1..256}", "256 is out of range"),
            ("icmp.type in {3 300}", "300 is out of range"),
            ("tcp.flags > 0x200", "holds 0 to 511"),
            ("ip.frag_offset == 8192", "holds 0 to 8191"),
        ];
        for (src, want) in cases {
            let e = parse_plain(src).expect_err(src);
            assert!(e.message.contains(want), "{src}: {}", e.message);
            // Rendering never panics, even for spans at the end.
            let _ = e.render("x", src);
        }
    }

    #[test]
    fn out_of_range_values_are_pointed_at() {
        let src = "tcp.dstport == 80 or\n  ip.ttl in {64..300}";
        let e = parse_plain(src).unwrap_err();
        let shown = e.render("rules.toml", src);
        assert!(shown.contains("rules.toml:2:18"), "{shown}");
        assert!(
            shown.contains(&format!("  | {}^^^\n", " ".repeat(17))),
            "{shown}"
        );
        // The largest values still parse.
        for ok in [
            "tcp.dstport == 65535",
            "ip.ttl in {0..255}",
            "ip.len == 65575",
        ] {
            parse_plain(ok).expect(ok);
        }
    }

    #[test]
    fn limits_hold() {
        let deep = format!("{}ip.ttl == 1{}", "(".repeat(100), ")".repeat(100));
        assert!(parse_plain(&deep).unwrap_err().message.contains("nested"));
        let nots = format!("{}tcp.flags.syn", "not ".repeat(100));
        assert!(parse_plain(&nots).is_err());
        let huge_regex = format!("http.host matches \"{}\"", "(a|b|c|d){1000}".repeat(20));
        assert!(parse_plain(&huge_regex).is_err());
        let long = "ip.ttl == 1 or ".repeat(10_000) + "ip.ttl == 2";
        assert!(parse_plain(&long).unwrap_err().message.contains("longer"));
    }

    /// An Ethernet/IPv4/UDP datagram from 192.0.2.7:40000 to 10.10.10.10:27015 carrying
    /// `payload`, with `pad` bytes of Ethernet padding after it.
    fn udp_frame(payload: &[u8], pad: usize) -> Vec<u8> {
        let mut udp = vec![0u8; 8];
        udp[0..2].copy_from_slice(&40000u16.to_be_bytes());
        udp[2..4].copy_from_slice(&27015u16.to_be_bytes());
        udp[4..6].copy_from_slice(&(8 + payload.len() as u16).to_be_bytes());
        udp.extend_from_slice(payload);
        let mut f = ipv4_frame(17, 0, &udp);
        f.extend(std::iter::repeat_n(0xee, pad));
        f
    }

    #[test]
    fn payload_conditions_print_as_written_and_parse_back() {
        for (src, printed) in [
            ("udp.payload[0:4] == 0x00010203", None),
            ("udp.payload[-4:4] == \"TAIL\"", None),
            (
                "udp.payload[0:2] == 0x4142",
                Some("udp.payload[0:2] == \"AB\""),
            ),
            ("udp.payload contains 0xdeadbeef", None),
            ("tcp.payload contains \"GET /\"", None),
            ("len(udp.payload) >= 100", None),
            (
                "len( udp.payload ) in {0 8..16}",
                Some("len(udp.payload) in {0 8..16}"),
            ),
            ("icmp.payload matches \"^\\\\x00{4}\"", None),
            (
                "not udp.payload[ 2 : 1 ] != 0x00",
                Some("not udp.payload[2:1] != 0x00"),
            ),
            (
                "udp.payload == 0x000102030405060708090a0b0c0d0e0f1011",
                None,
            ),
        ] {
            let e = parse_plain(src).unwrap_or_else(|e| panic!("{}", e.render("t", src)));
            let text = e.to_string();
            assert_eq!(text, printed.unwrap_or(src), "{src}");
            assert_eq!(parse_plain(&text).unwrap(), e, "{text}");
        }
        // An integer may still be written with leading zeros.
        assert!(check("tcp.dstport == 0x000000000000000000063dd"));
        // Leading zeros are bytes.
        let Expr::Cmp { value, .. } = parse_plain("udp.payload[0:2] == 0x0000").unwrap() else {
            panic!("a comparison")
        };
        assert_eq!(value, Literal::Bytes(vec![0, 0]));
    }

    #[test]
    fn payload_conditions_read_the_transport_payload() {
        let payload = b"\x00\x01\x02\x03HELLO world\xffTAIL";
        let f = udp_frame(payload, 6);
        let p = decode(linktype::ETHERNET, &f, f.len() as u32);
        let holds = |expr: &str| {
            parse_plain(expr)
                .unwrap_or_else(|e| panic!("{}", e.render("t", expr)))
                .matches(&p)
        };
        for (expr, want) in [
            ("udp.payload[0:4] == 0x00010203", true),
            ("udp.payload[0:4] != 0x00010203", false),
            ("udp.payload[1:2] == 0x0102", true),
            ("udp.payload[4:5] == \"HELLO\"", true),
            ("udp.payload[-4:4] == \"TAIL\"", true),
            ("udp.payload[-5:1] == 0xff", true),
            // The Ethernet padding is not payload.
            ("udp.payload[-1:1] == 0xee", false),
            ("udp.payload[16:4] == \"TAIL\"", true),
            // Past the end: the slice is not there, whatever the operator.
            ("udp.payload[17:4] == \"TAIL\"", false),
            ("udp.payload[17:4] != \"TAIL\"", false),
            ("not udp.payload[17:4] == \"TAIL\"", true),
            ("udp.payload[-21:1] == 0x00", false),
            ("udp.payload[-20:1] == 0x00", true),
            ("len(udp.payload) == 20", true),
            ("len(udp.payload) in {21..30}", false),
            ("udp.payload contains \"world\"", true),
            ("udp.payload contains 0xff54", true),
            ("udp.payload contains \"World\"", false),
            (
                "udp.payload == 0x0001020348454c4c4f20776f726c64ff5441494c",
                true,
            ),
            ("udp.payload matches \"(?i)^.{4}hello\"", true),
            ("udp.payload matches \"\\\\xffTAIL$\"", true),
            ("udp.payload matches \"^HELLO\"", false),
            // Another transport's payload is not there.
            ("tcp.payload[0:1] == 0x00", false),
            ("len(tcp.payload) == 20", false),
            ("not tcp.payload contains 0x00", true),
            ("icmp.payload contains 0x00", false),
        ] {
            assert_eq!(holds(expr), want, "{expr}");
        }

        // A frame the capture cut: a slice from the start within what was kept is known;
        // the whole payload, its length and its end are not.
        let cut = &f[..14 + 20 + 8 + 10];
        let p = decode(linktype::ETHERNET, cut, f.len() as u32);
        for (expr, want) in [
            ("udp.payload[4:5] == \"HELLO\"", true),
            ("udp.payload[8:4] == \"O wo\"", false),
            ("udp.payload[-4:4] == \"TAIL\"", false),
            ("len(udp.payload) >= 0", false),
            ("udp.payload contains \"HELLO\"", false),
        ] {
            let e = parse_plain(expr).unwrap();
            assert_eq!(e.matches(&p), want, "cut frame: {expr}");
        }
    }

    #[test]
    fn payload_conditions_are_type_checked() {
        for (src, says) in [
            ("udp.payload < 0x01", "compared with `==` and `!=` only"),
            (
                "udp.payload[0:1] >= 0x01",
                "compared with `==` and `!=` only",
            ),
            ("ip.ttl[0:1] == 1", "only bytes (a payload) can be sliced"),
            ("len(ip.ttl) == 1", "`len()` measures a bytes field"),
            (
                "len(udp.payload[0:4]) == 4",
                "`len()` measures a bytes field",
            ),
            ("len udp.payload", "`len(udp.payload)`"),
            ("len(udp.payload == 1", "expected `)`"),
            ("udp.payload[0:0] == 0x00", "the length from 1"),
            ("udp.payload[a:4] == 0x00", "a slice is `[start:length]`"),
            ("udp.payload[0:4 == 0x00", "never closed"),
            ("udp.payload[-2:4] == 0x00", "runs past the end"),
            ("udp.payload[0:70000] == 0x00", "a slice is"),
            ("udp.payload == 0x123", "two digits a byte"),
            ("udp.payload == 12", "two digits a byte"),
            ("udp.payload == \"\"", "non-empty ASCII"),
            ("udp.payload == \"caf\u{e9}\"", "non-empty ASCII"),
            (
                "udp.payload contains 10.0.0.1",
                "bytes (`0x...`) or a quoted string",
            ),
            ("udp.payload in {0x00}", "does not belong in a set"),
            ("udp.payload", "holds bytes: compare it"),
            ("len(udp.payload) == 70000", "70000"),
            ("ip.ttl contains \"x\"", "works on strings and bytes"),
            (
                "tcp.dstport == 0x10000000000000000",
                "long hexadecimal number",
            ),
            ("tcp.dstport == 0xfg", "not a hexadecimal number"),
            (
                "udp.payload[0:2] == 0x010203",
                "`udp.payload[0:2]` is 2 byte(s): compare it with as many (found 3)",
            ),
        ] {
            let e = parse_plain(src).map(|e| e.to_string()).unwrap_err();
            assert!(e.message.contains(says), "{src}: {}", e.message);
        }
    }

    #[test]
    fn engines_that_write_no_payload_conditions_refuse_them_by_name() {
        let text = "version = 1\n[[rule]]\nid = \"magic\"\nexpression = 'tcp.payload[0:4] == 0xdeadbeef'\naction = \"block\"\n";
        let file = RulesFile::parse("t.toml", text, None).unwrap();
        for target in compile::Target::EXPRESSING {
            let result = compile::render(&file, *target, "t.toml", "eth0");
            if matches!(
                *target,
                compile::Target::Bpf | compile::Target::Iptables | compile::Target::Nftables
            ) {
                // libpcap, iptables' u32 and nft's `@ih` read TCP payload slices from the start.
                assert!(result.is_ok(), "{result:?}");
                continue;
            }
            let all = result.unwrap_err().problems.join("\n");
            assert!(all.contains("tcp.payload"), "{target:?}: {all}");
        }
        // nftables writes a UDP payload's slices from its start, and refuses their negation
        // with the reason.
        let compiled = |target: compile::Target, expr: &str| {
            let text = format!(
                "version = 1\n[[rule]]\nid = \"magic\"\nexpression = '{expr}'\naction = \"block\"\n"
            );
            let file = RulesFile::parse("t.toml", &text, None).unwrap();
            compile::render(&file, target, "t.toml", "eth0")
        };
        let udp = |expr: &str| compiled(compile::Target::Nftables, expr);
        let nft = udp("udp.payload[2:4] == 0xdeadbeef").unwrap();
        assert!(
            nft.contains("udp length >= 14 @th,80,32 0xdeadbeef"),
            "{nft}"
        );
        let e = udp("not udp.payload[2:4] == 0xdeadbeef").unwrap_err();
        assert!(e.problems[0].contains("first fragment"), "{e:?}");
        // iptables reads them with u32, past the UDP header, under the UDP length.
        let ipt = |expr: &str| compiled(compile::Target::Iptables, expr);
        let rules = ipt("udp.payload[2:6] == 0xdeadbeef0102").unwrap();
        assert!(
            rules.contains("0>>22&0x3C@4>>16=16:65535&&0>>22&0x3C@10=0xdeadbeef\"")
                && rules.contains("0>>22&0x3C@12=0xbeef0102\""),
            "{rules}"
        );
        let ne = ipt("tcp.payload[0:6] != 0x010203040506").unwrap();
        assert!(
            ne.contains("@0=0:16909059,16909061:4294967295&&0>>22&0x3C@12>>26&0x3C@2&0xffffffff=0:0xffffffff\"")
                && ne.contains("@2=0:50595077,50595079:4294967295\""),
            "{ne}"
        );
        let short = ipt("udp.payload[0:2] != 0x0102").unwrap();
        assert!(short.contains("@6&0xffff=0:257,259:65535\""), "{short}");
        let e = ipt("tcp.payload[0:2] == 0x0102").unwrap_err();
        assert!(e.problems[0].contains("cannot read back"), "{e:?}");
        let e = ipt("not udp.payload[0:4] == 0x01020304").unwrap_err();
        assert!(e.problems[0].contains("negated"), "{e:?}");
        // A TCP payload's slice from `@ih`, where the kernel puts it, once the packet holds it
        // after both headers: an IPv4 SYN's Ethernet padding is no payload.
        let tcp = udp("tcp.payload[1:5] == 0x474554202f").unwrap();
        assert!(
            tcp.contains(
                "ip hdrlength . tcp doff . ip length { 5 . 5 . 46-65535, 5 . 6 . 50-65535,"
            ) && tcp.contains("15 . 15 . 126-65535 } @ih,8,32 0x47455420 @ih,40,8 0x2f")
                && tcp.contains("tcp doff . ip6 length { 5 . 26-65535,")
                && !tcp.contains(" 4 . "),
            "{tcp}"
        );
        let e = udp("not tcp.payload[0:1] == 0x47").unwrap_err();
        assert!(e.problems[0].contains("negated"), "{e:?}");
        // ICMP's past its 8-byte header, in either IP version (levee takes both as ICMP).
        let icmp = udp("icmp.payload[0:1] == 0x47").unwrap();
        assert!(
            icmp.contains("ip6 length >= 9 @th,64,8 0x47")
                && icmp.contains("meta l4proto { icmp, ipv6-icmp }"),
            "{icmp}"
        );
        // `!=` on several words: a line a word, each loading the slice's last byte too.
        let ne = udp("udp.payload[0:6] != 0x010203040506").unwrap();
        assert!(
            ne.contains("@th,64,32 != 0x1020304 @th,104,8 >= 0")
                && ne.contains("@th,96,16 != 0x506"),
            "{ne}"
        );
        let e = udp("len(udp.payload) > 4").unwrap_err();
        assert!(
            e.problems[0].contains("slices from the payload's start only"),
            "{e:?}"
        );
    }

    #[test]
    fn the_ip_payload_is_read_past_the_header_length_on_every_kernel_target() {
        let compiled = |target: compile::Target, expr: &str| {
            let text = format!(
                "version = 1\n[[rule]]\nid = \"frag\"\nexpression = '{expr}'\naction = \"block\"\n"
            );
            let file = RulesFile::parse("t.toml", &text, None).unwrap();
            compile::render(&file, target, "t.toml", "eth0")
        };
        // nftables: a line per IPv4 header length, at that length, under the total length;
        // IPv6 past the fixed header, under the payload length. Exact guards: `!=` needs no
        // anchor.
        let nft = compiled(compile::Target::Nftables, "ip.payload[2:4] != 0xdeadbeef").unwrap();
        assert!(
            nft.contains("ip hdrlength 5 ip length >= 26 @nh,176,32 != 0xdeadbeef")
                && nft.contains("ip hdrlength 15 ip length >= 66 @nh,496,32 != 0xdeadbeef")
                && nft.contains("ip6 length >= 6 @nh,336,32 != 0xdeadbeef")
                && !nft.contains("hdrlength 4 "),
            "{nft}"
        );
        let e = compiled(compile::Target::Nftables, "not ip.payload[0:1] == 0x11").unwrap_err();
        assert!(e.problems[0].contains("negated"), "{e:?}");
        // iptables: u32 past the header's length, no protocol or fragment test (every
        // fragment has an IP payload); a short slice at the start cannot be read back.
        let ipt = compiled(compile::Target::Iptables, "ip.payload[4:4] == 0x01020304").unwrap();
        assert!(
            ipt.contains("-m u32 --u32 \"0>>22&0x3C@4=0x1020304\"") && !ipt.contains(" -p "),
            "{ipt}"
        );
        let e = compiled(compile::Target::Iptables, "ip.payload[0:2] == 0x0035").unwrap_err();
        assert!(e.problems[0].contains("cannot read back"), "{e:?}");
        // A search, negated too: the string match from the payload's start, a line per header
        // length; KMP, which finds a match across the parts of a non-linear packet.
        let ipt = compiled(compile::Target::Iptables, "not ip.payload contains \"ab\"").unwrap();
        assert!(
            ipt.contains("-m u32 --u32 \"0>>24&0xF=7\" -m string --algo kmp --from 28 --to 65535 ! --hex-string \"|61 62|\"")
                && ipt.matches("--algo kmp").count() == 11,
            "{ipt}"
        );
        let e = compiled(compile::Target::Iptables, "udp.payload contains \"ab\"").unwrap_err();
        assert!(e.problems[0].contains("cannot search"), "{e:?}");
        // libpcap: after the IPv4 header's stated length, or IPv6's fixed header.
        let bpf = compiled(compile::Target::Bpf, "len(ip.payload) == 8").unwrap();
        assert!(
            bpf.contains(
                "ip[2:2] >= ((ip[0] & 0xf) << 2) and (ip[2:2] - ((ip[0] & 0xf) << 2)) == 8"
            ) && bpf.contains("ip6 and ip6[4:2] == 8"),
            "{bpf}"
        );
        // Cloudflare: per header length, within what bit_slice reaches after the longest.
        let cf = |expr: &str| compiled(compile::Target::Cloudflare, expr);
        let ok = cf("ip.dst == 10.0.0.1 and ip.payload[0:4] == 0x00350035").unwrap();
        assert!(
            ok.contains("bit_slice(\\\"ip\\\", 4, 8) == 15 and ip.len >= 64 and bit_slice(\\\"ip\\\", 480, 512) == 3473461"),
            "{ok}"
        );
        let e = cf("ip.dst == 10.0.0.1 and ip.payload[192:4] == 0x00350035").unwrap_err();
        assert!(e.problems[0].contains("first 195 bytes"), "{e:?}");
    }

    #[test]
    fn named_lists_load_and_match() {
        let nets = Lists::parse_text(
            "l.txt",
            "# bad sources\n192.0.2.0/25\n\n198.51.100.7 # one\n",
        )
        .unwrap();
        assert_eq!(nets.len(), 2);
        let mut lists = Lists::new();
        lists.insert("bad", nets);
        let f = syn_frame();
        let p = decode(linktype::ETHERNET, &f, f.len() as u32);
        let e = parse("ip.src in $bad", &lists).unwrap();
        assert!(e.matches(&p));
        assert_eq!(e.to_string(), "ip.src in $bad");
        let e = parse("ip.src in {$bad 10.0.0.0/8}", &lists).unwrap();
        assert!(e.matches(&p));
        let err = Lists::parse_text("l.txt", "10.0.0.0/8\nnot-an-ip\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "l.txt:2: `not-an-ip` is not an IP address or prefix"
        );
    }
}
