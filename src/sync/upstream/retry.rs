//! When to try a request again and how long to wait first: which statuses are transient,
//! exponential backoff with full jitter, and the upstream's own `Retry-After`.

use std::time::{Duration, SystemTime};

/// Retries after the first try (so at most 5 tries).
pub const MAX_RETRIES: u32 = 4;
/// The first backoff.
pub const BACKOFF_START: Duration = Duration::from_millis(200);
/// No computed backoff is longer.
pub const BACKOFF_CAP: Duration = Duration::from_secs(10);
/// No `Retry-After` is honoured for longer.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(60);

/// Statuses worth another try of an idempotent request.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

/// Statuses whose `Retry-After` is honoured.
pub fn honours_retry_after(status: u16) -> bool {
    matches!(status, 429 | 503)
}

/// The backoff ceiling before retry number `retry` (0 for the first retry):
/// 200 ms doubling, capped at 10 s.
pub fn backoff_ceiling(retry: u32) -> Duration {
    let factor = 1u32.checked_shl(retry.min(16)).unwrap_or(u32::MAX);
    BACKOFF_START.saturating_mul(factor).min(BACKOFF_CAP)
}

/// Full jitter: a uniformly random wait in `0..=ceiling`.
pub fn full_jitter(ceiling: Duration) -> Duration {
    ceiling.mul_f64(random_unit())
}

/// The wait before retry number `retry`: the upstream's `Retry-After` where it counts, else
/// the jittered backoff.
pub fn wait_before_retry(retry: u32, retry_after: Option<Duration>) -> Duration {
    match retry_after {
        Some(d) => d,
        None => full_jitter(backoff_ceiling(retry)),
    }
}

/// A `Retry-After` value: delay seconds or an HTTP date, capped at 60 s. Garbage is `None`;
/// a date already past is zero.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits to be a u64 is still "a long time".
        Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX))
    } else {
        let at = parse_http_date(value)?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(RETRY_AFTER_CAP))
}

/// An HTTP date in any of the three forms RFC 9110 says to accept: IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime
/// (`Sun Nov  6 08:49:37 1994`).
pub fn parse_http_date(value: &str) -> Option<SystemTime> {
    let words: Vec<&str> = value.split_whitespace().collect();
    let (day, month, year, time) = match words.as_slice() {
        [_, day, month, year, time, "GMT"] if words[0].ends_with(',') => {
            (*day, *month, (*year).to_owned(), *time)
        }
        [weekday, date, time, "GMT"] if weekday.ends_with(',') => {
            let mut parts = date.split('-');
            let (day, month, yy) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() || yy.len() != 2 {
                return None;
            }
            // RFC 9110: a two-digit year more than 50 years ahead is in the past century;
            // for the dates a registry sends, 19xx for 70..99 is that rule.
            let century = if yy < "70" { "20" } else { "19" };
            (day, month, format!("{century}{yy}"), *time)
        }
        [_, month, day, time, year] => (*day, *month, (*year).to_owned(), *time),
        _ => return None,
    };
    let month = month_number(month)?;
    let day: u32 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) || time.len() != 8 {
        return None;
    }
    // humantime checks the calendar and the clock.
    humantime::parse_rfc3339(&format!("{year}-{month:02}-{day:02}T{time}Z")).ok()
}

fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let index = MONTHS.iter().position(|m| *m == name)?;
    u32::try_from(index + 1).ok()
}

/// A random number in `0.0..=1.0` from the OS; 1.0 (no jitter) if the OS has none to give.
fn random_unit() -> f64 {
    let mut bytes = [0u8; 8];
    if getrandom::getrandom(&mut bytes).is_err() {
        return 1.0;
    }
    // 53 random bits make every f64 step in [0, 1] reachable.
    let bits = u64::from_le_bytes(bytes) >> 11;
    bits as f64 / ((1u64 << 53) - 1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> SystemTime {
        humantime::parse_rfc3339(rfc3339).unwrap()
    }

    #[test]
    fn retry_after_seconds() {
        let now = SystemTime::now();
        assert_eq!(
            parse_retry_after("0", now),
            Some(Duration::ZERO),
            "zero is a valid answer"
        );
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("3600", now), Some(RETRY_AFTER_CAP));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(RETRY_AFTER_CAP)
        );
    }

    #[test]
    fn retry_after_dates() {
        let now = at("1994-11-06T08:49:00Z");
        let imf = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(parse_retry_after(imf, now), Some(Duration::from_secs(37)));
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now),
            Some(Duration::from_secs(37))
        );
        assert_eq!(
            parse_retry_after("Sun Nov  6 08:49:37 1994", now),
            Some(Duration::from_secs(37))
        );
        // Far ahead: capped. Already past: no wait.
        assert_eq!(
            parse_retry_after("Mon, 07 Nov 1994 08:49:37 GMT", now),
            Some(RETRY_AFTER_CAP)
        );
        assert_eq!(
            parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_http_date("Thu, 01 Jan 2015 00:00:00 GMT"),
            Some(at("2015-01-01T00:00:00Z"))
        );
    }

    #[test]
    fn retry_after_garbage() {
        let now = SystemTime::now();
        for bad in [
            "",
            "soon",
            "-5",
            "1.5",
            "5s",
            "Sun, 06 Nov 1994 08:49:37 CET",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn backoff_doubles_to_its_cap() {
        let ceilings: Vec<u128> = (0..8).map(|r| backoff_ceiling(r).as_millis()).collect();
        assert_eq!(ceilings, [200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]);
        assert_eq!(backoff_ceiling(u32::MAX), BACKOFF_CAP);
    }

    #[test]
    fn jitter_stays_within_its_ceiling_and_varies() {
        let ceiling = Duration::from_millis(800);
        let waits: Vec<Duration> = (0..200).map(|_| full_jitter(ceiling)).collect();
        assert!(waits.iter().all(|w| *w <= ceiling));
        let first = waits[0];
        assert!(waits.iter().any(|w| *w != first), "jitter is random");
        assert_eq!(full_jitter(Duration::ZERO), Duration::ZERO);
        for retry in 0..MAX_RETRIES {
            assert!(wait_before_retry(retry, None) <= backoff_ceiling(retry));
        }
        assert_eq!(
            wait_before_retry(0, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn retryable_statuses() {
        for s in [429, 500, 502, 503, 504] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [200, 206, 400, 401, 403, 404, 416, 501, 505] {
            assert!(!is_retryable_status(s), "{s}");
        }
        assert!(honours_retry_after(429) && honours_retry_after(503));
        assert!(!honours_retry_after(502));
    }
}
