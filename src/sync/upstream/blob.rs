//! A blob answer for the caller: where its body starts, the blob's whole size, and the body
//! as a stream that keeps the request's place under the upstream's limits until dropped.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::stream::{BoxStream, Stream, StreamExt};
use reqwest::header::CONTENT_RANGE;
use reqwest::Response;
use tokio::sync::OwnedSemaphorePermit;

use super::headers::{content_length, header_str, parse_content_range};
use super::UpstreamError;

/// A blob body from the upstream.
pub struct BlobResponse {
    /// Where the body starts in the blob: `from` if the upstream honoured the Range, else 0.
    pub start: u64,
    /// The blob's whole size, if the upstream said.
    pub total: Option<u64>,
    /// The bytes from `start` on; holds its concurrency permit until dropped. Never retried
    /// here: after a failure, ask again with `from`.
    pub body: BoxStream<'static, Result<Bytes, std::io::Error>>,
}

impl std::fmt::Debug for BlobResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobResponse")
            .field("start", &self.start)
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

/// Where a 2xx blob answer starts and the blob's size: a 200 is the whole blob; a 206 must
/// say, in `Content-Range`, that it starts where it was asked to (or at 0).
pub fn blob_extent(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    from: u64,
) -> Result<(u64, Option<u64>), UpstreamError> {
    if status != 206 {
        return Ok((0, content_length(headers)));
    }
    let value = header_str(headers, CONTENT_RANGE).unwrap_or_default();
    let range = parse_content_range(&value).ok_or_else(|| {
        UpstreamError::Invalid(format!(
            "206 answer with an unusable Content-Range {value:?}"
        ))
    })?;
    if range.first != from && range.first != 0 {
        return Err(UpstreamError::Invalid(format!(
            "asked for bytes from {from}, the upstream sent from {}",
            range.first
        )));
    }
    Ok((range.first, range.total))
}

/// The body of `response` as a stream that drops `permit` with itself.
pub fn permitted_body(
    response: Response,
    permit: OwnedSemaphorePermit,
) -> BoxStream<'static, Result<Bytes, std::io::Error>> {
    let inner = response
        .bytes_stream()
        .map(|chunk| {
            chunk.map_err(|e| std::io::Error::other(UpstreamError::from_reqwest(e).to_string()))
        })
        .boxed();
    Permitted {
        inner,
        _permit: permit,
    }
    .boxed()
}

struct Permitted {
    inner: BoxStream<'static, Result<Bytes, std::io::Error>>,
    _permit: OwnedSemaphorePermit,
}

impl Stream for Permitted {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, CONTENT_LENGTH};

    fn headers(pairs: &[(reqwest::header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn whole_blob() {
        let h = headers(&[(CONTENT_LENGTH, "1000")]);
        assert_eq!(blob_extent(200, &h, 0).unwrap(), (0, Some(1000)));
        // Range ignored: the body starts at 0 whatever was asked.
        assert_eq!(blob_extent(200, &h, 500).unwrap(), (0, Some(1000)));
        assert_eq!(blob_extent(200, &HeaderMap::new(), 0).unwrap(), (0, None));
    }

    #[test]
    fn resumed_blob() {
        let h = headers(&[
            (CONTENT_RANGE, "bytes 500-999/1000"),
            (CONTENT_LENGTH, "500"),
        ]);
        assert_eq!(blob_extent(206, &h, 500).unwrap(), (500, Some(1000)));
        let h = headers(&[(CONTENT_RANGE, "bytes 500-999/*")]);
        assert_eq!(blob_extent(206, &h, 500).unwrap(), (500, None));
        let h = headers(&[(CONTENT_RANGE, "bytes 0-999/1000")]);
        assert_eq!(blob_extent(206, &h, 500).unwrap(), (0, Some(1000)));
        let h = headers(&[(CONTENT_RANGE, "bytes 400-999/1000")]);
        assert!(blob_extent(206, &h, 500).is_err());
        assert!(blob_extent(206, &HeaderMap::new(), 500).is_err());
    }
}
