//! Log timestamps: the common log format's `[10/Oct/2000:13:55:36 -0700]`, RFC 3339, and
//! numbers of seconds, milliseconds or nanoseconds since 1970 (JSON logs); and the one form
//! levee prints every time in ([`format_ts`]).

use jiff::Timestamp;

/// Parses timestamps, remembering the last one: consecutive lines of a busy log mostly carry
/// the same second, so most lines cost a comparison instead of a parse.
#[derive(Debug, Default)]
pub struct TimeCache {
    last_text: String,
    last: Option<i64>,
}

impl TimeCache {
    /// `10/Oct/2000:13:55:36 -0700` (without brackets) in nanoseconds since 1970.
    pub fn clf(&mut self, text: &str) -> Option<i64> {
        if text == self.last_text {
            return self.last;
        }
        let v = Timestamp::strptime("%d/%b/%Y:%H:%M:%S %z", text)
            .ok()
            .map(|t| t.as_nanosecond() as i64);
        self.remember(text, v)
    }

    /// RFC 3339 / ISO 8601 with an offset (`2026-01-15T12:00:00+00:00`, `...Z`, with
    /// fractions), in nanoseconds since 1970.
    pub fn rfc3339(&mut self, text: &str) -> Option<i64> {
        if text == self.last_text {
            return self.last;
        }
        let v = text
            .parse::<Timestamp>()
            .ok()
            .map(|t| t.as_nanosecond() as i64);
        self.remember(text, v)
    }

    /// Either of the two textual forms, tried in turn.
    pub fn any(&mut self, text: &str) -> Option<i64> {
        let text = text.trim_matches(['[', ']']);
        if text.as_bytes().get(2) == Some(&b'/') {
            self.clf(text)
        } else {
            self.rfc3339(text)
        }
    }

    fn remember(&mut self, text: &str, v: Option<i64>) -> Option<i64> {
        self.last_text.clear();
        self.last_text.push_str(text);
        self.last = v;
        v
    }
}

/// A number since 1970 in seconds (with a fraction), milliseconds or nanoseconds, told apart
/// by its size (Cloudflare logs nanoseconds, `$msec` of nginx seconds with a fraction).
pub fn epoch_number(v: f64) -> Option<i64> {
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    let ns = if v < 1e11 {
        v * 1e9
    } else if v < 1e14 {
        v * 1e6
    } else if v < 1e17 {
        v * 1e3
    } else {
        v
    };
    Some(ns as i64)
}

/// The same for whole numbers, without the rounding of a float (nanosecond timestamps
/// exceed a float's precision).
pub fn epoch_integer(v: i64) -> Option<i64> {
    match v {
        ..0 => None,
        0..100_000_000_000 => v.checked_mul(1_000_000_000),
        100_000_000_000..100_000_000_000_000 => v.checked_mul(1_000_000),
        100_000_000_000_000..100_000_000_000_000_000 => v.checked_mul(1_000),
        _ => Some(v),
    }
}

/// ISO 8601 UTC with microseconds, from nanoseconds since 1970.
pub fn format_ts(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let micros = ns.rem_euclid(1_000_000_000) / 1000;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_log_format_times_with_offsets() {
        let mut c = TimeCache::default();
        // 2005-01-30T09:34:59Z
        assert_eq!(
            c.clf("30/Jan/2005:04:34:59 -0500"),
            Some(1_107_077_699_000_000_000)
        );
        assert_eq!(
            c.clf("30/Jan/2005:04:34:59 -0500"),
            Some(1_107_077_699_000_000_000)
        );
        assert_eq!(
            c.clf("10/Oct/2000:13:55:36 -0700"),
            Some(971_211_336_000_000_000)
        );
        assert_eq!(c.clf("32/Oct/2000:13:55:36 -0700"), None);
        assert_eq!(
            c.any("[10/Oct/2000:13:55:36 -0700]"),
            Some(971_211_336_000_000_000)
        );
    }

    #[test]
    fn rfc3339_and_numbers() {
        let mut c = TimeCache::default();
        assert_eq!(
            c.rfc3339("2000-10-10T20:55:36Z"),
            Some(971_211_336_000_000_000)
        );
        assert_eq!(
            c.any("2000-10-10T13:55:36.5-07:00"),
            Some(971_211_336_500_000_000)
        );
        assert_eq!(c.rfc3339("yesterday"), None);
        assert_eq!(epoch_number(971_211_336.25), Some(971_211_336_250_000_000));
        assert_eq!(
            epoch_number(971_211_336_250.0),
            Some(971_211_336_250_000_000)
        );
        assert_eq!(
            epoch_number(971_211_336_250_000_000.0),
            Some(971_211_336_250_000_000)
        );
        assert_eq!(epoch_number(-1.0), None);
        assert_eq!(
            epoch_integer(1_768_478_400_123_000_001),
            Some(1_768_478_400_123_000_001)
        );
        assert_eq!(
            epoch_integer(1_768_478_400_123),
            Some(1_768_478_400_123_000_000)
        );
        assert_eq!(
            epoch_integer(1_768_478_400),
            Some(1_768_478_400_000_000_000)
        );
    }
}
