//! `HEAD`, `GET` and `DELETE /v2/<name>/blobs/<digest>`, with byte ranges.

use super::head_body::HeadBody;
use super::range::{parse_range, RangeRequest};
use super::{header, ApiError};
use crate::oci::{Digest, RepoName};
use crate::registry::{BlobBody, Registry};
use actix_web::http::{header as h, Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse};

pub async fn handle(
    req: &HttpRequest,
    registry: &Registry,
    repo: &RepoName,
    digest: &str,
) -> Result<HttpResponse, ApiError> {
    let digest = Digest::parse(digest)?;
    match *req.method() {
        Method::GET | Method::HEAD => get(req, registry, repo, &digest).await,
        Method::DELETE => {
            registry.delete_blob(repo, &digest).await?;
            Ok(HttpResponse::Accepted().finish())
        }
        _ => Err(ApiError::MethodNotAllowed("GET, HEAD, DELETE")),
    }
}

async fn get(
    req: &HttpRequest,
    registry: &Registry,
    repo: &RepoName,
    digest: &Digest,
) -> Result<HttpResponse, ApiError> {
    let head = req.method() == Method::HEAD;
    let (size, body) = if head {
        (registry.blob_size(repo, digest).await?, None)
    } else {
        let blob = registry.open_blob(repo, digest).await?;
        if let BlobBody::Stream { size, body } = blob.body {
            return Ok(fetched(digest, size, body));
        }
        (blob.size, Some(blob.body))
    };
    let (status, start, len) = match parse_range(header(req, "range"), size) {
        RangeRequest::Whole => (StatusCode::OK, 0, size),
        RangeRequest::Partial(r) => (StatusCode::PARTIAL_CONTENT, r.start, r.len()),
        RangeRequest::Unsatisfiable => {
            return Ok(HttpResponse::RangeNotSatisfiable()
                .insert_header((h::CONTENT_RANGE, format!("bytes */{size}")))
                .finish())
        }
    };
    let mut response = HttpResponse::build(status);
    response
        .content_type("application/octet-stream")
        .insert_header(("Docker-Content-Digest", digest.to_string()))
        .insert_header((h::ETAG, format!("\"{digest}\"")))
        .insert_header((h::ACCEPT_RANGES, "bytes"))
        .insert_header((h::CACHE_CONTROL, "max-age=31536000"));
    if status == StatusCode::PARTIAL_CONTENT {
        let end = start + len - 1;
        response.insert_header((h::CONTENT_RANGE, format!("bytes {start}-{end}/{size}")));
    }
    let file = match body {
        None => return Ok(response.body(HeadBody(len))),
        Some(BlobBody::Stream { size, body }) => return Ok(fetched(digest, size, body)),
        Some(BlobBody::Constant(bytes)) => {
            let end = usize::try_from(start + len).unwrap_or(bytes.len());
            let start = usize::try_from(start).unwrap_or(0);
            return Ok(response.body(&bytes[start..end]));
        }
        Some(BlobBody::File(file)) => file,
    };
    let stream = registry.stream_blob(file, start, len);
    Ok(response.no_chunking(len).streaming(Box::pin(stream)))
}

/// A blob fetched from an upstream as it is sent: whole, whatever a Range asked (the client
/// accepts a 200), and cut short if the upstream's bytes fail their digest.
fn fetched(
    digest: &Digest,
    size: Option<u64>,
    body: futures_util::stream::BoxStream<'static, Result<bytes::Bytes, std::io::Error>>,
) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response
        .content_type("application/octet-stream")
        .insert_header(("Docker-Content-Digest", digest.to_string()))
        .insert_header((h::ETAG, format!("\"{digest}\"")));
    if let Some(size) = size {
        response.no_chunking(size);
    }
    response.streaming(body)
}
