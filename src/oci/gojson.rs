//! Go `encoding/json` output rules that schema1 digests depend on: HTML-escaping string
//! writer, `json.Compact` with HTML escaping for raw values, and RFC 3339 time normalisation
//! as Go's `time.Time` marshals it. serde_json escapes differently, so these are our own.

use std::fmt::Write as _;

/// Append `s` as a JSON string the way Go's encoder writes it (HTML escaping on).
pub fn write_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let b = c as u8;
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 0xf) as usize] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A Go-encoded JSON string.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_string(&mut out, s);
    out
}

/// Go's `json.Compact` with HTML escaping, as applied to a `json.RawMessage` when it is
/// marshalled: whitespace outside strings removed, `<`, `>`, `&`, U+2028 and U+2029 escaped,
/// everything else (key order, number spelling, existing escapes) kept. `raw` must be valid JSON.
pub fn compact_raw(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in raw.chars() {
        if in_string {
            match c {
                '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                _ => out.push(c),
            }
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            ' ' | '\t' | '\n' | '\r' => {}
            '"' => {
                in_string = true;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Go's `json.Marshal` of a `map[string]json.RawMessage`: keys sorted by bytes, each value
/// compacted and HTML-escaped as it stands.
pub fn encode_raw_map(
    map: &std::collections::BTreeMap<String, Box<serde_json::value::RawValue>>,
) -> String {
    let mut out = String::from("{");
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(&mut out, key);
        out.push(':');
        out.push_str(&compact_raw(value.get()));
    }
    out.push('}');
    out
}

/// A timestamp as Go decodes (RFC 3339) and re-encodes (RFC3339Nano) it: fraction without
/// trailing zeros, numeric offsets kept, a zero offset written `Z`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoTime(String);

/// Go's zero `time.Time`, what a missing `created` becomes.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl GoTime {
    pub fn zero() -> Self {
        GoTime(ZERO_TIME.to_owned())
    }

    /// Parse RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`) with Go's range checks.
    pub fn parse(s: &str) -> Option<GoTime> {
        let b = s.as_bytes();
        if b.len() < 20 {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            let part = s.get(r)?;
            part.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| part.parse().ok())
                .flatten()
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        let seps = b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':' && b[16] == b':';
        if !seps || !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        if day < 1 || day > days_in_month(year, month) {
            return None;
        }
        let mut rest = &s[19..];
        let mut fraction = String::new();
        if let Some(f) = rest.strip_prefix('.') {
            let digits = f.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            fraction = f[..digits.min(9)].trim_end_matches('0').to_owned();
            rest = &f[digits..];
        }
        let zone = match rest {
            "Z" => "Z".to_owned(),
            z if z.len() == 6 && (z.starts_with('+') || z.starts_with('-')) && &z[3..4] == ":" => {
                let hh = num(s.len() - 5..s.len() - 3)?;
                let mm = num(s.len() - 2..s.len())?;
                if hh > 23 || mm > 59 {
                    return None;
                }
                if hh == 0 && mm == 0 {
                    "Z".to_owned()
                } else {
                    z.to_owned()
                }
            }
            _ => return None,
        };
        let mut out = s[..19].to_owned();
        if !fraction.is_empty() {
            out.push('.');
            out.push_str(&fraction);
        }
        out.push_str(&zone);
        Some(GoTime(out))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Go's `json.Indent(src, prefix, indent)` over compact JSON: what `MarshalIndent` writes.
/// Empty objects and arrays stay `{}` and `[]`.
pub fn indent(src: &str, prefix: &str, indent: &str) -> String {
    let mut out = String::with_capacity(src.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = src.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(prefix);
        for _ in 0..depth {
            out.push_str(indent);
        }
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                let close = if c == '{' { '}' } else { ']' };
                if chars.peek() == Some(&close) {
                    out.push(close);
                    chars.next();
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            ' ' | '\t' | '\n' | '\r' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_like_go() {
        assert_eq!(
            string("echo 'a' > /etc/motd && echo \"<b>\""),
            r#""echo 'a' \u003e /etc/motd \u0026\u0026 echo \"\u003cb\u003e\"""#
        );
        assert_eq!(
            string("café\u{1}\u{8}\u{2028}\\"),
            "\"café\\u0001\\u0008\\u2028\\\\\""
        );
    }

    #[test]
    fn raw_values_are_compacted_and_html_escaped() {
        let raw =
            "{ \"Labels\" : {\"b\": \"x & <y>\", \"a\" :1.50 },\n \"E\": \"\\u0026 \\\" <\" }";
        assert_eq!(
            compact_raw(raw),
            r#"{"Labels":{"b":"x \u0026 \u003cy\u003e","a":1.50},"E":"\u0026 \" \u003c"}"#
        );
    }

    #[test]
    fn indent_matches_marshal_indent() {
        assert_eq!(
            indent(r#"[{"a":{"b":[]},"c":"x,{"}]"#, "   ", "   "),
            "[\n      {\n         \"a\": {\n            \"b\": []\n         },\n         \"c\": \"x,{\"\n      }\n   ]"
        );
    }

    #[test]
    fn times_normalise_like_go() {
        let t = |s: &str| GoTime::parse(s).map(|t| t.0);
        assert_eq!(
            t("2024-01-01T00:00:01.500000000Z").as_deref(),
            Some("2024-01-01T00:00:01.5Z")
        );
        assert_eq!(
            t("2024-01-02T03:04:05+02:00").as_deref(),
            Some("2024-01-02T03:04:05+02:00")
        );
        assert_eq!(
            t("2024-01-02T03:04:05+00:00").as_deref(),
            Some("2024-01-02T03:04:05Z")
        );
        assert_eq!(
            t("2024-01-02T03:04:05.000Z").as_deref(),
            Some("2024-01-02T03:04:05Z")
        );
        assert_eq!(
            t("2024-01-02T03:04:05.1234567891234Z").as_deref(),
            Some("2024-01-02T03:04:05.123456789Z")
        );
        for bad in [
            "",
            "2024-01-02",
            "2024-02-30T00:00:00Z",
            "2024-01-02 03:04:05Z",
            "2024-01-02T03:04:05",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }
}
