//! What a WAF does to a request's text before it matches anything: undo the encodings an
//! attacker stacks to slip past a literal match.
//!
//! [`normalize`] applies, in order: percent-decoding repeated until nothing changes (at most
//! three rounds: `%252e` is a `.` sent twice encoded), with `%uXXXX` and, in a query, `+` as a
//! space; HTML character references (`&#x24;`, `&#00036;`, `&lt;`, with or without the `;`);
//! JavaScript escapes (`\u0024`, `\x24`); lower case; the look-alike characters of other
//! scripts folded to ASCII (fullwidth forms, circled letters and digits, the ideographic full
//! stop); SQL comments (`/*…*/`) replaced by a space; runs of blanks made one space.
//!
//! [`shell_view`] then removes what a shell ignores inside a word (`c\at`, `ca''t`, `c$@at`,
//! `c$()at`), so that the command a shell would run is what is matched.

/// The normalized form of `raw`, borrowed when it is already normal (plain lower-case ASCII
/// with nothing to decode, as most of a site's parameters are).
pub fn normalized(raw: &str, query: bool) -> std::borrow::Cow<'_, str> {
    let plain = raw.bytes().all(|b| {
        matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'=' | b'.' | b',' | b'_' | b'-' | b'/' | b':' | b'~' | b'!' | b'@' | b';' | b'(' | b')')
    });
    if plain && !raw.contains("/*") {
        std::borrow::Cow::Borrowed(raw)
    } else {
        std::borrow::Cow::Owned(normalize(raw, query))
    }
}

/// The normalized form of `raw` (see the module's overview). `query` says whether `+` is a
/// space (in a query string it is; in a path or a header it is not).
pub fn normalize(raw: &str, query: bool) -> String {
    let mut bytes = raw.as_bytes().to_vec();
    let mut plus_is_space = query;
    for _ in 0..3 {
        match percent_decode(&bytes, plus_is_space) {
            Some(decoded) => bytes = decoded,
            None => break,
        }
        // A `+` that decoding revealed (`%2b`) is a `+`, not a space.
        plus_is_space = false;
    }
    if query && plus_is_space {
        // No `%` at all: the `+` still stand for spaces.
        for b in bytes.iter_mut() {
            if *b == b'+' {
                *b = b' ';
            }
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    let text = if text.contains('&') {
        html_entities(&text)
    } else {
        text.into_owned()
    };
    let text = if text.contains('\\') {
        js_escapes(&text)
    } else {
        text
    };
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = fold(c);
        for l in c.to_lowercase() {
            out.push(l);
        }
    }
    let out = if out.contains("/*") {
        strip_sql_comments(&out)
    } else {
        out
    };
    collapse_blanks(&out)
}

/// One round of percent-decoding; `None` when there was nothing to decode.
fn percent_decode(input: &[u8], plus_is_space: bool) -> Option<Vec<u8>> {
    let plus = plus_is_space && input.contains(&b'+');
    if !input.contains(&b'%') && !plus {
        return None;
    }
    let mut out = Vec::with_capacity(input.len());
    let mut changed = false;
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b == b'%' {
            if let Some(v) = hex_at(input, i + 1, 2) {
                out.push(v as u8);
                i += 3;
                changed = true;
                continue;
            }
            if matches!(input.get(i + 1), Some(b'u' | b'U')) {
                if let Some(v) = hex_at(input, i + 2, 4) {
                    push_char(&mut out, v);
                    i += 6;
                    changed = true;
                    continue;
                }
            }
        } else if b == b'+' && plus_is_space {
            out.push(b' ');
            i += 1;
            changed = true;
            continue;
        }
        out.push(b);
        i += 1;
    }
    changed.then_some(out)
}

/// The value of the `len` hexadecimal digits at `at`, if they all are.
fn hex_at(input: &[u8], at: usize, len: usize) -> Option<u32> {
    let digits = input.get(at..at + len)?;
    let mut v = 0u32;
    for &d in digits {
        v = v * 16 + (d as char).to_digit(16)?;
    }
    Some(v)
}

fn push_char(out: &mut Vec<u8>, code: u32) {
    let c = char::from_u32(code).unwrap_or('\u{fffd}');
    let mut buf = [0; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// Named references that matter to an attack (brackets, quotes, separators); others stay.
const NAMED: &[(&str, char)] = &[
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("amp", '&'),
    ("colon", ':'),
    ("semi", ';'),
    ("lpar", '('),
    ("rpar", ')'),
    ("lsqb", '['),
    ("rsqb", ']'),
    ("lbrace", '{'),
    ("rbrace", '}'),
    ("sol", '/'),
    ("bsol", '\\'),
    ("tab", '\t'),
    ("newline", '\n'),
    ("nbsp", ' '),
    ("num", '#'),
    ("dollar", '$'),
    ("period", '.'),
    ("comma", ','),
    ("excl", '!'),
    ("quest", '?'),
    ("equals", '='),
    ("plus", '+'),
    ("grave", '`'),
    ("verbar", '|'),
    ("percnt", '%'),
];

/// HTML character references decoded: numeric ones of any length (leading zeros are an
/// evasion), named ones from [`NAMED`]; the `;` may be missing, as browsers allow.
fn html_entities(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    while let Some(off) = memchr::memchr(b'&', &b[i..]) {
        let at = i + off;
        if let Some((c, len)) = entity_at(&b[at + 1..]) {
            out.push_str(&s[copied..at]);
            out.push(c);
            i = at + 1 + len;
            copied = i;
        } else {
            i = at + 1;
        }
    }
    out.push_str(&s[copied..]);
    out
}

/// The character of the reference after a `&`, and how many bytes it takes (with its `;`).
fn entity_at(b: &[u8]) -> Option<(char, usize)> {
    if b.first() == Some(&b'#') {
        let (radix, start) = match b.get(1) {
            Some(b'x' | b'X') => (16, 2),
            _ => (10, 1),
        };
        let mut end = start;
        let mut v: u64 = 0;
        while let Some(d) = b.get(end).and_then(|&c| (c as char).to_digit(radix)) {
            v = (v * u64::from(radix) + u64::from(d)).min(0x10_ffff + 1);
            end += 1;
        }
        if end == start {
            return None;
        }
        let c = char::from_u32(v as u32).unwrap_or('\u{fffd}');
        let len = end + usize::from(b.get(end) == Some(&b';'));
        return Some((c, len));
    }
    let name_len = b
        .iter()
        .take(8)
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    let name = std::str::from_utf8(&b[..name_len])
        .ok()?
        .to_ascii_lowercase();
    let &(_, c) = NAMED.iter().find(|(n, _)| *n == name)?;
    Some((c, name_len + usize::from(b.get(name_len) == Some(&b';'))))
}

/// `\uXXXX`, `\u{X…}` and `\xXX` decoded; other backslashes stay.
fn js_escapes(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            match b.get(i + 1) {
                Some(b'u') if b.get(i + 2) == Some(&b'{') => {
                    let close = b[i + 3..].iter().take(7).position(|&c| c == b'}');
                    if let Some(v) = close.and_then(|n| hex_at(b, i + 3, n)) {
                        push_char(&mut out, v);
                        i += 4 + close.unwrap_or(0);
                        continue;
                    }
                }
                Some(b'u') => {
                    if let Some(v) = hex_at(b, i + 2, 4) {
                        push_char(&mut out, v);
                        i += 6;
                        continue;
                    }
                }
                Some(b'x') => {
                    if let Some(v) = hex_at(b, i + 2, 2) {
                        push_char(&mut out, v);
                        i += 4;
                        continue;
                    }
                }
                _ => {}
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Look-alikes folded to ASCII: fullwidth forms, circled and parenthesised letters and
/// digits, the ideographic and other full stops.
fn fold(c: char) -> char {
    let u = c as u32;
    let ascii = |v: u32| char::from_u32(v).unwrap_or(c);
    match u {
        // Fullwidth ASCII.
        0xff01..=0xff5e => ascii(u - 0xff01 + 0x21),
        // Circled digits 1-20 (① is U+2460); beyond 9 they are not one digit, keep them.
        0x2460..=0x2468 => ascii(u - 0x2460 + u32::from(b'1')),
        0x24ea | 0x24ff => '0',
        // Negative circled digits ❶-❾ and dingbat circled digits.
        0x2776..=0x277e => ascii(u - 0x2776 + u32::from(b'1')),
        0x2780..=0x2788 => ascii(u - 0x2780 + u32::from(b'1')),
        0x278a..=0x2792 => ascii(u - 0x278a + u32::from(b'1')),
        // Circled capital and small letters.
        0x24b6..=0x24cf => ascii(u - 0x24b6 + u32::from(b'a')),
        0x24d0..=0x24e9 => ascii(u - 0x24d0 + u32::from(b'a')),
        // Parenthesised small letters.
        0x249c..=0x24b5 => ascii(u - 0x249c + u32::from(b'a')),
        // Ideographic full stop, halfwidth ideographic full stop, one-dot leader.
        0x3002 | 0xff61 | 0x2024 => '.',
        _ => c,
    }
}

/// `/* … */` replaced by one space; an unclosed one is kept.
fn strip_sql_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        out.push(' ');
        match rest[start + 2..].find("*/") {
            Some(end) => rest = &rest[start + 2 + end + 2..],
            None => {
                // An unclosed comment stays as sent: it is evidence itself (`touch/*a`).
                out.pop();
                rest = &rest[start..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Spaces, tabs and other blanks (not line breaks: those are evidence of header injection)
/// made one space.
fn collapse_blanks(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank = false;
    for c in s.chars() {
        let is_blank = matches!(c, ' ' | '\t' | '\u{0b}' | '\u{0c}' | '\u{a0}');
        if is_blank {
            if !blank {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
        blank = is_blank;
    }
    out
}

/// What a shell would read as a word, from a normalized value: escapes and empty quotes or
/// expansions inside words removed (`c\at`, `ca''t`, `c"a"t`, `c$@at`, `c$()at`, `c${x}at`,
/// `c``at`), so that `cat` is seen. Quotes around whole words go too (`'i'fconfig`).
pub fn shell_view(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\\' | b'\'' | b'"' => {
                i += 1;
                continue;
            }
            b'`' if b.get(i + 1) == Some(&b'`') => {
                i += 2;
                continue;
            }
            b'$' => match b.get(i + 1) {
                Some(b'@' | b'*' | b'!' | b'$' | b'?' | b'-' | b'_' | b'#') => {
                    i += 2;
                    continue;
                }
                Some(b'(') if b.get(i + 2) == Some(&b')') => {
                    i += 3;
                    continue;
                }
                Some(b'{') => {
                    // `${name}` of a short variable name: usually empty, used to split words.
                    let close = b[i + 2..].iter().take(12).position(|&x| x == b'}');
                    if let Some(n) = close {
                        if b[i + 2..i + 2 + n]
                            .iter()
                            .all(|x| x.is_ascii_alphanumeric() || *x == b'_')
                        {
                            i += 3 + n;
                            continue;
                        }
                    }
                }
                Some(b'(') if s[i..].starts_with("$(echo)") => {
                    i += 7;
                    continue;
                }
                _ => {}
            },
            b'<' | b'>' if b.get(i + 1) == Some(&b'(') && b.get(i + 2) == Some(&b')') => {
                i += 3;
                continue;
            }
            _ => {}
        }
        // Multi-byte characters are copied whole.
        let len = utf8_len(c);
        out.push_str(&s[i..(i + len).min(s.len())]);
        i += len;
    }
    out
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

/// The text a query value encodes in base64, when it looks like base64 (at least 12
/// characters of its alphabet, a whole number of quads) and decodes to printable text.
pub fn base64_text(raw: &str) -> Option<String> {
    use base64::Engine as _;
    // Percent-encoded padding (`%3D`) is common.
    let value = raw.replace("%3D", "=").replace("%3d", "=");
    let body = value.trim_end_matches('=');
    if body.len() < 12
        || value.len() % 4 != 0
        || !body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&value)
        .ok()?;
    let printable = bytes
        .iter()
        .filter(|&&b| b.is_ascii_graphic() || b.is_ascii_whitespace())
        .count();
    (printable * 10 >= bytes.len() * 9).then(|| String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacked_encodings_are_undone() {
        assert_eq!(normalize("%252e%252e%252fetc", true), "../etc");
        assert_eq!(normalize("a+b%2bc", true), "a b+c");
        assert_eq!(normalize("a+b", false), "a+b");
        assert_eq!(normalize("%u003cscript%u003e", true), "<script>");
        assert_eq!(
            normalize("&#x24;&#00000000000000000123;jndi", false),
            "${jndi"
        );
        assert_eq!(normalize("&lt;script+&gt;", false), "<script+>");
        assert_eq!(normalize("\\u0077hile", false), "while");
        assert_eq!(normalize("ⓛⓞⓒⓐⓛⓗⓞⓢⓣ", false), "localhost");
        assert_eq!(normalize("①⑥⑨。②⑤④", false), "169.254");
        assert_eq!(normalize("SELECT/*x*/1,\t\t2", false), "select 1, 2");
        assert_eq!(normalize("overlay(a%0aplacing", true), "overlay(a\nplacing");
        // A `%` that starts no escape stays.
        assert_eq!(normalize("100%+sure", true), "100% sure");
        // Normal text is borrowed, anything to decode or fold is not.
        for plain in ["q=red", "page=3", "/product/42", "x=a(b);c"] {
            assert!(matches!(
                normalized(plain, true),
                std::borrow::Cow::Borrowed(_)
            ));
            assert_eq!(normalized(plain, true), normalize(plain, true));
        }
        for raw in ["q=Red", "q=a+b", "q=%41", "x=a/*b*/c", "q=a  b"] {
            assert_eq!(normalized(raw, true), normalize(raw, true), "{raw}");
        }
    }

    #[test]
    fn the_shell_view_removes_what_a_shell_ignores_inside_words() {
        for (raw, want) in [
            ("c$@at /et$@c/pas$@swd", "cat /etc/passwd"),
            ("c\\at /etc/p\\asswd", "cat /etc/passwd"),
            ("cat /etc/$(echo)passwd", "cat /etc/passwd"),
            ("cat /etc/${a}passwd", "cat /etc/passwd"),
            ("'i'fconfig", "ifconfig"),
            ("ti''me who", "time who"),
            ("pi$()ng 127.0.0.1", "ping 127.0.0.1"),
            ("pi``ng", "ping"),
            ("pi<()ng", "ping"),
        ] {
            assert_eq!(shell_view(raw), want, "{raw}");
        }
    }
}
