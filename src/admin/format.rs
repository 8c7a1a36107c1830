//! How pages write numbers, times, digests and links: computed in Rust where the view is
//! built, so templates only place text (askama escapes it).

/// Bytes in binary units, three significant figures: `0 B`, `512 B`, `1.50 KiB`, `23.4 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    let text = if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    };
    format!("{text} {}", UNITS[unit])
}

/// A unix time as UTC, `2026-12-06 04:55:48 UTC`; for `title` attributes and tables.
pub fn when(unix: u64) -> String {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// A unix time as ISO 8601 for `<time datetime>`.
pub fn iso(unix: u64) -> String {
    when(unix).replace(" UTC", "Z").replacen(' ', "T", 1)
}

/// How long before `now` `unix` was: `just now`, `5 minutes ago`, `3 days ago`.
pub fn ago(unix: u64, now: u64) -> String {
    let s = now.saturating_sub(unix);
    let (n, unit) = match s {
        0..=59 => return "just now".into(),
        60..=3599 => (s / 60, "minute"),
        3600..=86_399 => (s / 3600, "hour"),
        86_400..=2_591_999 => (s / 86_400, "day"),
        2_592_000..=31_535_999 => (s / 2_592_000, "month"),
        _ => (s / 31_536_000, "year"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// A duration in seconds, `850 ms`, `12 s`, `3 min 5 s`, `2 h 10 min`.
pub fn duration_ms(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        1000..=59_999 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{} min {} s", ms / 60_000, ms / 1000 % 60),
        _ => format!("{} h {} min", ms / 3_600_000, ms / 60_000 % 60),
    }
}

/// `sha256:0123456789ab` (algorithm and twelve hex digits) for tables; the full digest
/// goes in a `title` and in copy buttons.
pub fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((algo, hex)) => format!("{algo}:{}", &hex[..hex.len().min(12)]),
        None => digest.chars().take(19).collect(),
    }
}

/// Now, in unix seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Percent-encode for a URL path segment or query value (everything but unreserved
/// characters; `/` too, so a repository name is one value).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Like [`percent_encode`], but `/` stays: for a path carried in a query (`?next=/a/b`).
pub fn percent_encode_path(s: &str) -> String {
    percent_encode(s).replace("%2F", "/")
}

/// The inverse of [`percent_encode`] (and of browsers' form encoding, `+` for space);
/// malformed escapes stay as they are.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes[i] {
            b'%' if i + 2 < bytes.len() => hex(bytes[i + 1]).zip(hex(bytes[i + 2])),
            _ => None,
        };
        match (escaped, bytes[i]) {
            (Some((hi, lo)), _) => {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, b) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The console's link to a repository (names keep their slashes: they read better).
pub fn repo_href(repo: &str) -> String {
    format!("/repositories/{repo}")
}

/// The console's link to a tag of a repository.
pub fn tag_href(repo: &str, tag: &str) -> String {
    format!("/repositories/{repo}/-/tags/{tag}")
}

/// The console's link to a manifest of a repository.
pub fn manifest_href(repo: &str, digest: &str) -> String {
    format!("/repositories/{repo}/-/manifests/{digest}")
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_well() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.50 KiB");
        assert_eq!(bytes(10 * 1024 * 1024 + 1), "10.0 MiB");
        assert_eq!(bytes(200 * 1024 * 1024), "200 MiB");
        assert_eq!(
            bytes(u64::MAX),
            "16.0 EiB".replace("EiB", "PiB").replace("16.0", "16384")
        );
    }

    #[test]
    fn times() {
        assert_eq!(when(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(when(1_796_532_948), "2026-12-06 04:55:48 UTC");
        assert_eq!(iso(1_796_532_948), "2026-12-06T04:55:48Z");
        assert_eq!(when(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(ago(100, 100), "just now");
        assert_eq!(ago(0, 60), "1 minute ago");
        assert_eq!(ago(0, 7200), "2 hours ago");
        assert_eq!(ago(0, 3 * 86_400), "3 days ago");
        assert_eq!(ago(200, 100), "just now");
        assert_eq!(duration_ms(850), "850 ms");
        assert_eq!(duration_ms(12_345), "12.3 s");
        assert_eq!(duration_ms(185_000), "3 min 5 s");
    }

    #[test]
    fn digests_and_encoding() {
        let d = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
        assert_eq!(short_digest(d), "sha256:2c26b46b68ff");
        assert_eq!(percent_encode("team/app:1 ü"), "team%2Fapp%3A1%20%C3%BC");
        assert_eq!(
            percent_decode(&percent_encode("a/b <c> \"d\" ü")),
            "a/b <c> \"d\" ü"
        );
        assert_eq!(percent_decode("a+b%2"), "a b%2");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%41"), "A");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%é1"), "%é1");
    }
}
