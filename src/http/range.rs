//! HTTP byte ranges: `Range` on blob GET, `Content-Range` on upload PATCH.

/// An inclusive byte range within a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }
}

/// What a `Range` header asks of a blob of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No range, or several (which we answer with the whole blob, as RFC 9110 allows).
    Whole,
    Partial(ByteRange),
    /// Malformed or outside the blob: 416.
    Unsatisfiable,
}

pub fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(header) = header else {
        return RangeRequest::Whole;
    };
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeRequest::Unsatisfiable;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Unsatisfiable;
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let range = match (first.trim(), last.trim()) {
        ("", suffix) => match number(suffix) {
            Some(n) if n > 0 && size > 0 => Some(ByteRange {
                start: size.saturating_sub(n),
                end: size - 1,
            }),
            _ => None,
        },
        (start, "") => number(start).filter(|s| *s < size).map(|start| ByteRange {
            start,
            end: size - 1,
        }),
        (start, end) => match (number(start), number(end)) {
            (Some(s), Some(e)) if s <= e && s < size => Some(ByteRange {
                start: s,
                end: e.min(size - 1),
            }),
            _ => None,
        },
    };
    range.map_or(RangeRequest::Unsatisfiable, RangeRequest::Partial)
}

/// Parse an upload chunk's `Content-Range: <start>-<end>` (a `bytes ` prefix and `/total`
/// suffix are tolerated). `None` when malformed.
pub fn parse_content_range(header: &str) -> Option<ByteRange> {
    let s = header.trim();
    let s = s.strip_prefix("bytes ").unwrap_or(s);
    let s = s.split('/').next()?;
    let (start, end) = s.split_once('-')?;
    let start: u64 = start.trim().parse().ok()?;
    let end: u64 = end.trim().parse().ok()?;
    (start <= end).then_some(ByteRange { start, end })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partial(start: u64, end: u64) -> RangeRequest {
        RangeRequest::Partial(ByteRange { start, end })
    }

    #[test]
    fn satisfiable_ranges() {
        assert_eq!(parse_range(None, 10), RangeRequest::Whole);
        assert_eq!(parse_range(Some("bytes=0-3"), 10), partial(0, 3));
        assert_eq!(parse_range(Some("bytes=5-"), 10), partial(5, 9));
        assert_eq!(parse_range(Some("bytes=-4"), 10), partial(6, 9));
        assert_eq!(parse_range(Some("bytes=-40"), 10), partial(0, 9));
        assert_eq!(parse_range(Some("bytes=8-100"), 10), partial(8, 9));
        assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), RangeRequest::Whole);
    }

    #[test]
    fn unsatisfiable_or_malformed_ranges() {
        for h in [
            "bytes=10-",
            "bytes=10-20",
            "bytes=5-2",
            "bytes=-0",
            "bytes=x-1",
            "bytes=1",
            "items=0-1",
            "bytes=--1",
            "bytes=+1-2",
            "bytes=99999999999999999999999-",
        ] {
            assert_eq!(parse_range(Some(h), 10), RangeRequest::Unsatisfiable, "{h}");
        }
        assert_eq!(
            parse_range(Some("bytes=0-0"), 0),
            RangeRequest::Unsatisfiable
        );
    }

    #[test]
    fn content_ranges() {
        assert_eq!(
            parse_content_range("0-99"),
            Some(ByteRange { start: 0, end: 99 })
        );
        assert_eq!(
            parse_content_range("bytes 100-199/300"),
            Some(ByteRange {
                start: 100,
                end: 199
            })
        );
        assert_eq!(parse_content_range("9-1"), None);
        assert_eq!(parse_content_range("abc"), None);
    }
}
