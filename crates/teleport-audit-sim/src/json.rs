//! A small JSON object writer (generated events are written straight to text, without building
//! a tree) and Go-compatible time formatting.

use std::fmt::Write as _;

use time::OffsetDateTime;

/// Nanoseconds since the Unix epoch (covers 1677..2262, every time the sim deals in).
pub(crate) type Nanos = i64;

pub(crate) const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Converts a time to [`Nanos`], or `None` outside the representable range.
pub(crate) fn to_nanos(t: OffsetDateTime) -> Option<Nanos> {
    i64::try_from(t.unix_timestamp_nanos()).ok()
}

/// Converts [`Nanos`] back to a UTC time.
pub(crate) fn from_nanos(n: Nanos) -> OffsetDateTime {
    // Every i64 nanosecond count is inside `time`'s range.
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(n)).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Days since the epoch of the UTC date holding `n`.
pub(crate) fn day_of(n: Nanos) -> i32 {
    n.div_euclid(86_400 * NANOS_PER_SEC) as i32
}

/// `YYYY-MM-DD` of a day number.
pub(crate) fn date_text(day: i32) -> String {
    let t = from_nanos(i64::from(day) * 86_400 * NANOS_PER_SEC);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// Formats like Go's `time.RFC3339Nano` in UTC (what Teleport writes in `time`): fractional
/// seconds with trailing zeros trimmed, none at all on a whole second.
pub(crate) fn rfc3339_nano(n: Nanos) -> String {
    let t = from_nanos(n);
    let mut out = String::with_capacity(30);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let mut frac = t.nanosecond();
    if frac != 0 {
        let mut digits = 9;
        while frac.is_multiple_of(10) {
            frac /= 10;
            digits -= 1;
        }
        let _ = write!(out, ".{frac:0digits$}");
    }
    out.push('Z');
    out
}

/// Writes one JSON object, field by field.
#[derive(Debug)]
pub(crate) struct JsonObject {
    buf: String,
    empty: bool,
}

impl JsonObject {
    pub(crate) fn new() -> JsonObject {
        JsonObject::with_capacity(512)
    }

    pub(crate) fn with_capacity(capacity: usize) -> JsonObject {
        let mut buf = String::with_capacity(capacity);
        buf.push('{');
        JsonObject { buf, empty: true }
    }

    fn key(&mut self, key: &str) {
        if !self.empty {
            self.buf.push(',');
        }
        self.empty = false;
        push_json_string(&mut self.buf, key);
        self.buf.push(':');
    }

    /// A string field.
    pub(crate) fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        push_json_string(&mut self.buf, value);
        self
    }

    /// An integer field.
    pub(crate) fn int(&mut self, key: &str, value: i64) -> &mut Self {
        self.key(key);
        let _ = write!(self.buf, "{value}");
        self
    }

    /// A boolean field.
    pub(crate) fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.key(key);
        self.buf.push_str(if value { "true" } else { "false" });
        self
    }

    /// A list of strings.
    pub(crate) fn strs(&mut self, key: &str, values: &[&str]) -> &mut Self {
        self.key(key);
        self.buf.push('[');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.buf.push(',');
            }
            push_json_string(&mut self.buf, v);
        }
        self.buf.push(']');
        self
    }

    /// A nested object, written by `fill`.
    pub(crate) fn object(&mut self, key: &str, fill: impl FnOnce(&mut JsonObject)) -> &mut Self {
        let mut inner = JsonObject::with_capacity(128);
        fill(&mut inner);
        self.key(key);
        self.buf.push_str(&inner.finish());
        self
    }

    /// Closes the object and returns its text.
    pub(crate) fn finish(mut self) -> String {
        self.buf.push('}');
        self.buf
    }
}

/// Appends `value` as a JSON string literal.
pub(crate) fn push_json_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn rfc3339_nano_trims_like_go() {
        let n = |t: OffsetDateTime| to_nanos(t).unwrap();
        assert_eq!(
            rfc3339_nano(n(datetime!(2019-04-22 19:39:26.676 UTC))),
            "2019-04-22T19:39:26.676Z"
        );
        assert_eq!(
            rfc3339_nano(n(datetime!(2025-12-02 07:14:36 UTC))),
            "2025-12-02T07:14:36Z"
        );
        assert_eq!(
            rfc3339_nano(n(datetime!(2024-01-02 03:04:05.000000001 UTC))),
            "2024-01-02T03:04:05.000000001Z"
        );
        assert_eq!(rfc3339_nano(-1), "1969-12-31T23:59:59.999999999Z");
    }

    #[test]
    fn dates_and_days() {
        let t = to_nanos(datetime!(2024-02-29 23:59:59.9 UTC)).unwrap();
        assert_eq!(date_text(day_of(t)), "2024-02-29");
        assert_eq!(day_of(-1), -1);
        assert_eq!(date_text(-1), "1969-12-31");
    }

    #[test]
    fn object_writer_produces_valid_json() {
        let mut o = JsonObject::new();
        o.str("event", "exec")
            .int("ei", -3)
            .bool("success", false)
            .strs("roles", &["a\"b", "c\\d"])
            .object("target", |t| {
                t.str("user", "line\nbreak\u{1}");
            });
        let text = o.finish();
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["event"], "exec");
        assert_eq!(parsed["ei"], -3);
        assert_eq!(parsed["success"], false);
        assert_eq!(parsed["roles"][0], "a\"b");
        assert_eq!(parsed["roles"][1], "c\\d");
        assert_eq!(parsed["target"]["user"], "line\nbreak\u{1}");
        assert_eq!(JsonObject::new().finish(), "{}");
    }
}
