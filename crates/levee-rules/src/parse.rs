//! Lexer and recursive-descent parser for the wirefilter syntax, with type checking.
//!
//! Precedence, loosest first: `or` (`||`), `xor` (`^^`), `and` (`&&`), `not` (`!`). Comparison
//! operators have word forms too (`eq ne lt le gt ge`), and `~` is `matches`. Every error carries
//! the byte span it is about, so [`crate::ParseError::render`] can put a caret under it.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use regex::bytes::RegexBuilder;

use crate::ast::{CmpOp, Expr, Literal, Set, SetItem};
use crate::field::{ip_proto_number, Field, FieldType, MAX_SLICE};
use crate::lists::Lists;
use crate::ParseError;

/// Deepest nesting of parentheses and `not` accepted.
pub const MAX_DEPTH: usize = 64;
/// Largest compiled regex accepted for `matches`, in bytes.
pub const MAX_REGEX_SIZE: usize = 1 << 20;
/// Longest expression accepted, in bytes.
pub const MAX_EXPRESSION_LEN: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Int(u64),
    /// A hexadecimal number too long for 64 bits: only bytes can be written so.
    LongHex,
    /// `[start:len]` after a bytes field.
    Slice(i32, u16),
    Ip(IpAddr),
    Net(IpNet),
    Str(String),
    List(String),
    LParen,
    RParen,
    LBrace,
    RBrace,
    DotDot,
    Op(CmpOp),
    In,
    Contains,
    Matches,
    And,
    Or,
    Xor,
    Not,
    True,
    False,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Int(v) => format!("number {v}"),
            Tok::LongHex => "a long hexadecimal number".into(),
            Tok::Slice(start, len) => format!("slice `[{start}:{len}]`"),
            Tok::Ip(ip) => format!("address {ip}"),
            Tok::Net(n) => format!("prefix {n}"),
            Tok::Str(_) => "a string".into(),
            Tok::List(n) => format!("list ${n}"),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::LBrace => "`{`".into(),
            Tok::RBrace => "`}`".into(),
            Tok::DotDot => "`..`".into(),
            Tok::Op(op) => format!("`{}`", op.symbol()),
            Tok::In => "`in`".into(),
            Tok::Contains => "`contains`".into(),
            Tok::Matches => "`matches`".into(),
            Tok::And => "`and`".into(),
            Tok::Or => "`or`".into(),
            Tok::Xor => "`xor`".into(),
            Tok::Not => "`not`".into(),
            Tok::True => "`true`".into(),
            Tok::False => "`false`".into(),
        }
    }
}

#[derive(Debug, Clone)]
struct Spanned {
    tok: Tok,
    start: usize,
    end: usize,
}

/// Refuses an integer above what the field can hold on the wire (`tcp.dstport == 65536`):
/// it would never match, and engines refuse it when the rules are loaded.
fn in_range(field: &Field, v: u64, t: &Spanned) -> Result<(), ParseError> {
    match field.max_value() {
        Some(max) if v > max => Err(err(
            t.start,
            t.end,
            format!("{v} is out of range: `{}` holds 0 to {max}", field.name()),
        )),
        _ => Ok(()),
    }
}

fn err(start: usize, end: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        start,
        end: end.max(start + 1),
        message: message.into(),
    }
}

fn lex(src: &str) -> Result<Vec<Spanned>, ParseError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let two = if i + 1 < b.len() {
            &b[i..i + 2]
        } else {
            &b[i..i + 1]
        };
        let (tok, len) = match (c, two) {
            (_, b"==") => (Tok::Op(CmpOp::Eq), 2),
            (_, b"!=") => (Tok::Op(CmpOp::Ne), 2),
            (_, b"<=") => (Tok::Op(CmpOp::Le), 2),
            (_, b">=") => (Tok::Op(CmpOp::Ge), 2),
            (_, b"&&") => (Tok::And, 2),
            (_, b"||") => (Tok::Or, 2),
            (_, b"^^") => (Tok::Xor, 2),
            (_, b"..") => (Tok::DotDot, 2),
            (b'<', _) => (Tok::Op(CmpOp::Lt), 1),
            (b'>', _) => (Tok::Op(CmpOp::Gt), 1),
            (b'!', _) => (Tok::Not, 1),
            (b'~', _) => (Tok::Matches, 1),
            (b'(', _) => (Tok::LParen, 1),
            (b')', _) => (Tok::RParen, 1),
            (b'{', _) => (Tok::LBrace, 1),
            (b'[', _) => {
                let (tok, end) = lex_slice(src, i)?;
                out.push(Spanned { tok, start, end });
                i = end;
                continue;
            }
            (b'}', _) => (Tok::RBrace, 1),
            (b'"', _) => {
                let (s, end) = lex_string(src, i)?;
                out.push(Spanned {
                    tok: Tok::Str(s),
                    start,
                    end,
                });
                i = end;
                continue;
            }
            (b'$', _) => {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'-')
                {
                    j += 1;
                }
                if j == i + 1 {
                    return Err(err(i, i + 1, "`$` must be followed by a list name"));
                }
                out.push(Spanned {
                    tok: Tok::List(src[i + 1..j].to_string()),
                    start,
                    end: j,
                });
                i = j;
                continue;
            }
            _ if c.is_ascii_alphanumeric() || c == b':' => {
                let (tok, end) = lex_word(src, i)?;
                out.push(Spanned { tok, start, end });
                i = end;
                continue;
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(err(
                    i,
                    i + ch.len_utf8(),
                    format!("unexpected character `{ch}`"),
                ));
            }
        };
        out.push(Spanned {
            tok,
            start,
            end: start + len,
        });
        i += len;
    }
    Ok(out)
}

fn lex_string(src: &str, start: usize) -> Result<(String, usize), ParseError> {
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((k, c)) = chars.next() {
        let at = start + 1 + k;
        match c {
            '"' => return Ok((out, at + 1)),
            '\\' => match chars.next() {
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'x')) => {
                    let hex: String = chars.by_ref().take(2).map(|(_, c)| c).collect();
                    // The span covers the escape as written, whatever its characters' widths.
                    let end = at + 2 + hex.len();
                    let v = u8::from_str_radix(&hex, 16)
                        .map_err(|_| err(at, end, "`\\x` needs two hex digits"))?;
                    out.push(char::from(v));
                }
                Some((_, other)) => {
                    let end = at + 1 + other.len_utf8();
                    return Err(err(at, end, format!("unknown escape `\\{other}`")));
                }
                None => break,
            },
            c => out.push(c),
        }
    }
    Err(err(start, src.len(), "string is not closed with `\"`"))
}

/// A slice after a field, Wireshark's `[start:len]`: `len` bytes from `start` (from the end
/// when negative).
fn lex_slice(src: &str, start: usize) -> Result<(Tok, usize), ParseError> {
    let Some(close) = src[start..].find(']').map(|k| start + k) else {
        return Err(err(start, start + 1, "this `[` is never closed"));
    };
    let inner = &src[start + 1..close];
    let bad = || {
        err(
            start,
            close + 1,
            format!(
                "a slice is `[start:length]`, the start from 0 (or from the end when negative) \
                 and the length from 1 to {MAX_SLICE}: `[0:4]`, `[-4:4]`; found `[{inner}]`"
            ),
        )
    };
    let (from, len) = inner.split_once(':').ok_or_else(bad)?;
    let from: i32 = from.trim().parse().map_err(|_| bad())?;
    let len: u16 = len.trim().parse().map_err(|_| bad())?;
    if len == 0 || from.unsigned_abs() > u32::from(MAX_SLICE) {
        return Err(bad());
    }
    if from < 0 && from.unsigned_abs() < u32::from(len) {
        return Err(err(
            start,
            close + 1,
            format!(
                "`[{inner}]` runs past the end: from {from}, at most {} bytes",
                -from
            ),
        ));
    }
    Ok((Tok::Slice(from, len), close + 1))
}

/// The bytes a hexadecimal literal (`0x...`, an even number of digits) writes, each pair a
/// byte: its leading zeros count.
fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))?;
    if digits.is_empty() || digits.len() % 2 != 0 {
        return None;
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).ok())
        .collect()
}

/// A word: a keyword, a field name, a number, an address or a prefix.
fn lex_word(src: &str, start: usize) -> Result<(Tok, usize), ParseError> {
    let b = src.as_bytes();
    let mut j = start;
    while j < b.len() {
        let c = b[j];
        // `..` ends a word: it is the range operator (`1024..2048`).
        if c == b'.' && b.get(j + 1) == Some(&b'.') {
            break;
        }
        if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b':' {
            j += 1;
        } else {
            break;
        }
    }
    let word = &src[start..j];
    let looks_numeric = b[start].is_ascii_digit() || word.contains(':');
    if !looks_numeric {
        let tok = match word {
            "and" => Tok::And,
            "or" => Tok::Or,
            "xor" => Tok::Xor,
            "not" => Tok::Not,
            "in" => Tok::In,
            "contains" => Tok::Contains,
            "matches" => Tok::Matches,
            "eq" => Tok::Op(CmpOp::Eq),
            "ne" => Tok::Op(CmpOp::Ne),
            "lt" => Tok::Op(CmpOp::Lt),
            "le" => Tok::Op(CmpOp::Le),
            "gt" => Tok::Op(CmpOp::Gt),
            "ge" => Tok::Op(CmpOp::Ge),
            "true" => Tok::True,
            "false" => Tok::False,
            _ => Tok::Ident(word.to_string()),
        };
        return Ok((tok, j));
    }
    // A prefix length after an address.
    let mut end = j;
    let mut prefix = None;
    if b.get(j) == Some(&b'/') {
        let mut k = j + 1;
        while k < b.len() && b[k].is_ascii_digit() {
            k += 1;
        }
        prefix = Some(&src[j + 1..k]);
        end = k;
    }
    if let Some(hex) = word.strip_prefix("0x").or_else(|| word.strip_prefix("0X")) {
        if prefix.is_none() {
            return match u64::from_str_radix(hex, 16) {
                Ok(v) => Ok((Tok::Int(v), end)),
                // Bytes may be many: the parser reads them from the source text.
                Err(_) if !hex.is_empty() && hex.bytes().all(|c| c.is_ascii_hexdigit()) => {
                    Ok((Tok::LongHex, end))
                }
                Err(_) => Err(err(
                    start,
                    end,
                    format!("`{word}` is not a hexadecimal number"),
                )),
            };
        }
    }
    if prefix.is_none() && word.bytes().all(|c| c.is_ascii_digit()) {
        return word
            .parse::<u64>()
            .map(|v| (Tok::Int(v), end))
            .map_err(|_| err(start, end, format!("`{word}` is too large")));
    }
    let ip = IpAddr::from_str(word).map_err(|_| {
        err(
            start,
            j,
            format!("`{word}` is neither a number nor an IP address"),
        )
    })?;
    match prefix {
        None => Ok((Tok::Ip(ip), end)),
        Some(p) => {
            let len: u8 = p
                .parse()
                .map_err(|_| err(j, end, "a prefix length must follow `/`"))?;
            let net = IpNet::new(ip, len)
                .map_err(|_| err(j, end, format!("prefix length /{len} is too long for {ip}")))?;
            if net.trunc() != net {
                return Err(err(
                    start,
                    end,
                    format!("{net} has host bits set; did you mean {}?", net.trunc()),
                ));
            }
            Ok((Tok::Net(net), end))
        }
    }
}

pub(crate) struct Parser<'a> {
    src: &'a str,
    toks: Vec<Spanned>,
    pos: usize,
    depth: usize,
    lists: &'a Lists,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str, lists: &'a Lists) -> Result<Parser<'a>, ParseError> {
        if src.len() > MAX_EXPRESSION_LEN {
            return Err(err(
                MAX_EXPRESSION_LEN,
                src.len(),
                format!("expression longer than {MAX_EXPRESSION_LEN} bytes"),
            ));
        }
        Ok(Parser {
            src,
            toks: lex(src)?,
            pos: 0,
            depth: 0,
            lists,
        })
    }

    pub(crate) fn parse(mut self) -> Result<Expr, ParseError> {
        if self.toks.is_empty() {
            return Err(err(0, self.src.len().max(1), "empty expression"));
        }
        let e = self.or()?;
        if let Some(t) = self.toks.get(self.pos) {
            return Err(err(
                t.start,
                t.end,
                format!(
                    "expected `and`, `or` or the end, found {}",
                    t.tok.describe()
                ),
            ));
        }
        Ok(e)
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn next(&mut self) -> Option<Spanned> {
        let t = self.toks.get(self.pos).cloned();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    /// Span for "something was expected here": the next token, or just past the end.
    fn here(&self) -> (usize, usize) {
        match self.toks.get(self.pos) {
            Some(t) => (t.start, t.end),
            None => (self.src.len(), self.src.len() + 1),
        }
    }

    fn expected(&self, what: &str) -> ParseError {
        let (s, e) = self.here();
        match self.toks.get(self.pos) {
            Some(t) => err(s, e, format!("expected {what}, found {}", t.tok.describe())),
            None => err(
                s,
                e,
                format!("expected {what}, found the end of the expression"),
            ),
        }
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut parts = vec![self.xor()?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            parts.push(self.xor()?);
        }
        Ok(Expr::or(parts))
    }

    fn xor(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::Xor) {
            self.pos += 1;
            let right = self.and()?;
            left = Expr::Xor(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut parts = vec![self.unary()?];
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            parts.push(self.unary()?);
        }
        Ok(Expr::and(parts))
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let (s, e) = self.here();
            return Err(err(s, e, format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let r = match self.peek() {
            Some(Tok::Not) => {
                self.pos += 1;
                self.unary().map(|e| Expr::Not(Box::new(e)))
            }
            Some(Tok::LParen) => {
                let open = self.next().expect("peeked");
                let inner = self.or()?;
                match self.next() {
                    Some(Spanned {
                        tok: Tok::RParen, ..
                    }) => Ok(inner),
                    Some(t) => Err(err(
                        t.start,
                        t.end,
                        format!("expected `)`, found {}", t.tok.describe()),
                    )),
                    None => Err(err(open.start, open.end, "this `(` is never closed")),
                }
            }
            Some(Tok::Ident(_)) => self.condition(),
            _ => Err(self.expected("a field name, `not` or `(`")),
        };
        self.depth -= 1;
        r
    }

    /// A field as a condition names it: `udp.payload`, `udp.payload[0:4]`, `len(udp.payload)`.
    fn field(&mut self) -> Result<(Field, Spanned), ParseError> {
        let t = self.next().expect("caller peeked an identifier");
        let Tok::Ident(name) = &t.tok else {
            unreachable!("caller peeked an identifier")
        };
        if name == "len" && self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let inner = match self.peek() {
                Some(Tok::Ident(_)) => self.field()?,
                _ => return Err(self.expected("a bytes field, as in `len(udp.payload)`")),
            };
            let (field, at) = inner;
            let len = field.len_of().ok_or_else(|| {
                err(
                    at.start,
                    at.end,
                    format!(
                        "`len()` measures a bytes field (a payload); `{field}` holds {}",
                        field.ty().plural()
                    ),
                )
            })?;
            return match self.next() {
                Some(Spanned {
                    tok: Tok::RParen,
                    end,
                    ..
                }) => Ok((len, Spanned { end, ..t })),
                _ => {
                    self.pos -= 1;
                    Err(self.expected("`)`"))
                }
            };
        }
        if name == "len" {
            return Err(err(
                t.start,
                t.end,
                "`len` measures a bytes field in parentheses: `len(udp.payload)`",
            ));
        }
        let field = Field::lookup(name).ok_or_else(|| {
            err(
                t.start,
                t.end,
                format!("unknown field `{name}` (see `levee fields --list`)"),
            )
        })?;
        if let Some(Tok::Slice(start, len)) = self.peek().cloned() {
            let slice = self.next().expect("peeked");
            let field = field.slice(start, len).ok_or_else(|| {
                err(
                    slice.start,
                    slice.end,
                    format!(
                        "only bytes (a payload) can be sliced; `{field}` holds {}",
                        field.ty().plural()
                    ),
                )
            })?;
            return Ok((
                field,
                Spanned {
                    end: slice.end,
                    ..t
                },
            ));
        }
        Ok((field, t))
    }

    fn condition(&mut self) -> Result<Expr, ParseError> {
        let (field, t) = self.field()?;
        let op_tok = self.peek().cloned();
        match op_tok {
            Some(Tok::Op(op)) => {
                self.pos += 1;
                let value = self.literal(&field, op)?;
                Ok(Expr::Cmp { field, op, value })
            }
            Some(Tok::In) => {
                self.pos += 1;
                let set = self.set(&field)?;
                Ok(Expr::In { field, set })
            }
            Some(Tok::Contains) | Some(Tok::Matches) => {
                let op = self.next().expect("peeked");
                if !matches!(field.ty(), FieldType::Str | FieldType::Bytes) {
                    return Err(err(
                        op.start,
                        op.end,
                        format!(
                            "{} works on strings and bytes; `{field}` holds {}",
                            op.tok.describe(),
                            field.ty().plural()
                        ),
                    ));
                }
                if op.tok == Tok::Contains && field.ty() == FieldType::Bytes {
                    let needle = self.bytes_literal(&field)?;
                    return Ok(Expr::contains(field, needle));
                }
                let s = self.next();
                let Some(Spanned {
                    tok: Tok::Str(text),
                    start,
                    end,
                }) = s
                else {
                    self.pos -= usize::from(s.is_some());
                    return Err(self.expected("a quoted string"));
                };
                if op.tok == Tok::Contains {
                    return Ok(Expr::contains(field, Literal::Str(text)));
                }
                let regex = RegexBuilder::new(&text)
                    // On bytes, `\xff` is the byte 0xff and `.` any byte, not a character.
                    .unicode(field.ty() != FieldType::Bytes)
                    .size_limit(MAX_REGEX_SIZE)
                    .dfa_size_limit(MAX_REGEX_SIZE)
                    .build()
                    .map_err(|e| err(start, end, format!("bad regular expression: {e}")))?;
                Ok(Expr::Matches {
                    field,
                    pattern: text,
                    regex,
                })
            }
            _ => {
                if field.ty() == FieldType::Bool {
                    Ok(Expr::Flag(field))
                } else {
                    Err(err(
                        t.start,
                        t.end,
                        format!(
                            "`{field}` holds {}: compare it (e.g. `{field} == ...`) or test it with `in`",
                            field.ty().plural(),
                        ),
                    ))
                }
            }
        }
    }

    /// Bytes for a bytes field: a hexadecimal literal (`0x0102`, each pair of digits a
    /// byte) or ASCII text in quotes.
    fn bytes_literal(&mut self, field: &Field) -> Result<Literal, ParseError> {
        let Some(t) = self.next() else {
            return Err(self.expected("bytes (`0x...`) or a quoted string"));
        };
        match &t.tok {
            Tok::Int(_) | Tok::LongHex => hex_bytes(&self.src[t.start..t.end])
                .map(Literal::Bytes)
                .ok_or_else(|| {
                    err(
                        t.start,
                        t.end,
                        format!(
                            "`{field}` holds bytes: write them in hexadecimal, two digits a byte \
                             (`0x0a0b`), or as quoted text"
                        ),
                    )
                }),
            Tok::Str(text) if !text.is_empty() && text.is_ascii() => {
                Ok(Literal::Bytes(text.as_bytes().to_vec()))
            }
            Tok::Str(_) => Err(err(
                t.start,
                t.end,
                "quoted bytes must be non-empty ASCII text; write other bytes in hexadecimal \
                 (`0xc3a9`)",
            )),
            _ => {
                self.pos -= 1;
                Err(self.expected("bytes (`0x...`) or a quoted string"))
            }
        }
    }

    fn literal(&mut self, field: &Field, op: CmpOp) -> Result<Literal, ParseError> {
        if field.ty() == FieldType::Bytes {
            if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                let (s, e) = self.here();
                return Err(err(
                    s,
                    e,
                    format!(
                        "`{field}` holds bytes, which are compared with `==` and `!=` only \
                         (slice it, or use `contains`)"
                    ),
                ));
            }
            let from = self.pos;
            let bytes = self.bytes_literal(field)?;
            if let (crate::field::View::Slice { len, .. }, Literal::Bytes(b)) =
                (field.view(), &bytes)
            {
                if b.len() != usize::from(len) {
                    let t = &self.toks[from];
                    return Err(err(
                        t.start,
                        t.end,
                        format!(
                            "`{field}` is {len} byte(s): compare it with as many (found {}), \
                             or it could never be equal",
                            b.len()
                        ),
                    ));
                }
            }
            return Ok(bytes);
        }
        let Some(t) = self.next() else {
            return Err(self.expected("a value"));
        };
        let mismatch = |t: &Spanned| {
            err(
                t.start,
                t.end,
                format!(
                    "`{}` holds {} and cannot be compared with {}",
                    field.name(),
                    field.ty().plural(),
                    t.tok.describe()
                ),
            )
        };
        let ordered = !matches!(op, CmpOp::Eq | CmpOp::Ne);
        match (field.ty(), &t.tok) {
            (FieldType::Int, Tok::Int(v)) => {
                in_range(field, *v, &t)?;
                Ok(Literal::Int(*v))
            }
            (FieldType::Int, Tok::Ident(name)) if field.name() == "ip.proto" => {
                ip_proto_number(name).map(Literal::Int).ok_or_else(|| {
                    err(t.start, t.end, format!("unknown IP protocol name `{name}`"))
                })
            }
            (FieldType::Bool, Tok::True | Tok::False | Tok::Int(0 | 1)) if !ordered => {
                Ok(Literal::Bool(matches!(t.tok, Tok::True | Tok::Int(1))))
            }
            (FieldType::Ip, Tok::Ip(ip)) => Ok(Literal::Ip(*ip)),
            (FieldType::Ip, Tok::Net(n)) => Err(err(
                t.start,
                t.end,
                format!("compare an address with a prefix using `in {{{n}}}`"),
            )),
            (FieldType::Str, Tok::Str(s)) if !ordered => Ok(Literal::Str(s.clone())),
            (FieldType::Str | FieldType::Bool | FieldType::Ip, _) if ordered => Err(err(
                t.start,
                t.end,
                format!(
                    "`{}` holds {}, which cannot be used with `{}`",
                    field.name(),
                    field.ty().plural(),
                    op.symbol()
                ),
            )),
            _ => Err(mismatch(&t)),
        }
    }

    fn set(&mut self, field: &Field) -> Result<Set, ParseError> {
        let Some(open) = self.next() else {
            return Err(self.expected("`{` or a list name `$name`"));
        };
        let mut items = Vec::new();
        match &open.tok {
            Tok::List(name) => {
                if field.ty() != FieldType::Ip {
                    return Err(err(
                        open.start,
                        open.end,
                        "named lists hold addresses; use them with ip.src or ip.dst",
                    ));
                }
                if self.lists.get(name).is_none() {
                    return Err(err(
                        open.start,
                        open.end,
                        format!("no list named `${name}` was loaded"),
                    ));
                }
                items.push(SetItem::List(name.clone()));
                return Ok(build_set(items, self.lists));
            }
            Tok::LBrace => {}
            _ => {
                self.pos -= 1;
                return Err(self.expected("`{` or a list name `$name`"));
            }
        }
        loop {
            let Some(t) = self.next() else {
                return Err(err(open.start, open.end, "this `{` is never closed"));
            };
            let item = match (field.ty(), &t.tok) {
                (_, Tok::RBrace) => break,
                (FieldType::Int, Tok::Int(a)) => {
                    in_range(field, *a, &t)?;
                    if self.peek() == Some(&Tok::DotDot) {
                        self.pos += 1;
                        match self.next() {
                            Some(
                                u @ Spanned {
                                    tok: Tok::Int(b), ..
                                },
                            ) if b >= *a => {
                                in_range(field, b, &u)?;
                                SetItem::IntRange(*a, b)
                            }
                            Some(u) => {
                                return Err(err(
                                    u.start,
                                    u.end,
                                    format!("a range needs an end number ≥ {a}"),
                                ))
                            }
                            None => return Err(self.expected("the end of the range")),
                        }
                    } else {
                        SetItem::Int(*a)
                    }
                }
                (FieldType::Int, Tok::Ident(name)) if field.name() == "ip.proto" => {
                    SetItem::Int(ip_proto_number(name).ok_or_else(|| {
                        err(t.start, t.end, format!("unknown IP protocol name `{name}`"))
                    })?)
                }
                (FieldType::Ip, Tok::Ip(a)) => {
                    if self.peek() == Some(&Tok::DotDot) {
                        self.pos += 1;
                        match self.next() {
                            Some(Spanned {
                                tok: Tok::Ip(b), ..
                            }) if a.is_ipv4() == b.is_ipv4() && b >= *a => SetItem::IpRange(*a, b),
                            Some(u) => {
                                return Err(err(
                                    u.start,
                                    u.end,
                                    format!(
                                        "a range needs an end address of the same family ≥ {a}"
                                    ),
                                ))
                            }
                            None => return Err(self.expected("the end of the range")),
                        }
                    } else {
                        SetItem::Ip(*a)
                    }
                }
                (FieldType::Ip, Tok::Net(n)) => SetItem::Net(*n),
                (FieldType::Ip, Tok::List(name)) => {
                    if self.lists.get(name).is_none() {
                        return Err(err(
                            t.start,
                            t.end,
                            format!("no list named `${name}` was loaded"),
                        ));
                    }
                    SetItem::List(name.clone())
                }
                (FieldType::Str, Tok::Str(s)) => SetItem::Str(s.clone()),
                _ => {
                    return Err(err(
                        t.start,
                        t.end,
                        format!(
                            "{} does not belong in a set for `{}`, which holds {}",
                            t.tok.describe(),
                            field.name(),
                            field.ty().plural()
                        ),
                    ))
                }
            };
            items.push(item);
        }
        if items.is_empty() {
            return Err(err(open.start, open.end, "empty set"));
        }
        Ok(build_set(items, self.lists))
    }
}

fn v6_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    }
}

pub(crate) fn merge<T: Ord + Copy>(
    mut r: Vec<(T, T)>,
    succ: impl Fn(T) -> Option<T>,
) -> Vec<(T, T)> {
    r.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(r.len());
    for (lo, hi) in r {
        if let Some(last) = out.last_mut() {
            if succ(last.1).is_none_or(|next| lo <= next) {
                last.1 = last.1.max(hi);
                continue;
            }
        }
        out.push((lo, hi));
    }
    out
}

/// Builds the sorted ranges a set is matched with.
pub(crate) fn build_set(items: Vec<SetItem>, lists: &Lists) -> Set {
    let mut ints = Vec::new();
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    let mut strings = Vec::new();
    fn add_net(n: &IpNet, v4: &mut Vec<(u32, u32)>, v6: &mut Vec<(u128, u128)>) {
        match n {
            IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
            IpNet::V6(n) => v6.push((u128::from(n.network()), u128::from(n.broadcast()))),
        }
    }
    for item in &items {
        match item {
            SetItem::Int(v) => ints.push((*v, *v)),
            SetItem::IntRange(a, b) => ints.push((*a, *b)),
            SetItem::Ip(IpAddr::V4(a)) => v4.push((u32::from(*a), u32::from(*a))),
            SetItem::Ip(ip @ IpAddr::V6(_)) => v6.push((v6_bits(*ip), v6_bits(*ip))),
            SetItem::IpRange(IpAddr::V4(a), IpAddr::V4(b)) => {
                v4.push((u32::from(*a), u32::from(*b)))
            }
            SetItem::IpRange(a, b) => v6.push((v6_bits(*a), v6_bits(*b))),
            SetItem::Net(n) => add_net(n, &mut v4, &mut v6),
            SetItem::Str(s) => strings.push(s.clone()),
            SetItem::List(name) => {
                for n in lists.get(name).unwrap_or(&[]) {
                    add_net(n, &mut v4, &mut v6);
                }
            }
        }
    }
    strings.sort();
    strings.dedup();
    Set {
        items,
        int_ranges: merge(ints, |v: u64| v.checked_add(1)),
        v4_ranges: merge(v4, |v: u32| v.checked_add(1)),
        v6_ranges: merge(v6, |v: u128| v.checked_add(1)),
        strings,
    }
}
