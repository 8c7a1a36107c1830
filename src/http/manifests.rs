//! `GET`, `HEAD`, `PUT` and `DELETE /v2/<name>/manifests/<reference>`.

use super::head_body::HeadBody;
use super::{header, query_params, ApiError};
use crate::oci::accept::Accept;
use crate::oci::reference::ReferenceError;
use crate::oci::{Reference, RepoName, Tag};
use crate::registry::{ByteStream, Registry, RegistryError};
use actix_web::http::{header as h, Method};
use actix_web::{HttpRequest, HttpResponse};
use bytes::BytesMut;
use futures_util::StreamExt;

pub async fn handle(
    req: &HttpRequest,
    payload: impl ByteStream,
    registry: &Registry,
    edge: &super::Edge,
    repo: &RepoName,
    reference: &str,
) -> Result<HttpResponse, ApiError> {
    let reference = match Reference::parse(reference) {
        Ok(r) => r,
        // No manifest can have an invalid tag: reads and deletes find nothing (404, as the
        // spec and its conformance suite require); only a push is told the tag is invalid.
        Err(ReferenceError::Tag(_)) if req.method() != Method::PUT => {
            return Err(RegistryError::ManifestUnknown(reference.to_owned()).into())
        }
        Err(e) => return Err(e.into()),
    };
    match *req.method() {
        Method::GET | Method::HEAD => get(req, registry, repo, &reference).await,
        Method::PUT => put(req, payload, registry, edge, repo, &reference).await,
        Method::DELETE => {
            registry.delete_manifest(repo, &reference).await?;
            Ok(HttpResponse::Accepted().finish())
        }
        _ => Err(ApiError::MethodNotAllowed("GET, HEAD, PUT, DELETE")),
    }
}

async fn get(
    req: &HttpRequest,
    registry: &Registry,
    repo: &RepoName,
    reference: &Reference,
) -> Result<HttpResponse, ApiError> {
    let accept = Accept::parse(
        req.headers()
            .get_all(h::ACCEPT)
            .filter_map(|v| v.to_str().ok()),
    );
    let manifest = registry.resolve_manifest(repo, reference, &accept).await?;
    let digest = manifest.digest.to_string();
    let etag = format!("\"{digest}\"");
    let not_modified = header(req, "if-none-match").is_some_and(|v| {
        v.split(',')
            .any(|t| t.trim() == etag || t.trim() == digest || t.trim() == "*")
    });
    let mut response = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((h::CONTENT_TYPE, manifest.media_type))
        .insert_header(("Docker-Content-Digest", digest))
        .insert_header((h::ETAG, etag));
    if not_modified {
        return Ok(response.finish());
    }
    if req.method() == Method::HEAD {
        return Ok(response.body(HeadBody(manifest.body.len() as u64)));
    }
    Ok(response.body(manifest.body))
}

async fn put(
    req: &HttpRequest,
    mut payload: impl ByteStream,
    registry: &Registry,
    edge: &super::Edge,
    repo: &RepoName,
    reference: &Reference,
) -> Result<HttpResponse, ApiError> {
    let limit = registry.config().manifest_max_bytes;
    let too_large = || ApiError::Registry(RegistryError::ManifestTooLarge { limit });
    let declared = header(req, "content-length").and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| match e.kind() {
            std::io::ErrorKind::TimedOut => {
                RegistryError::BodyStalled(format!("the manifest body stalled ({e})"))
            }
            _ => RegistryError::ManifestInvalid(format!("reading the request body failed: {e}")),
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    // `?tag=` (repeatable): more tags for a push by digest, each echoed in `OCI-Tag`.
    let tags = query_params(req, "tag")
        .iter()
        .map(|t| Tag::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    let pushed = registry
        .put_manifest(
            repo,
            reference,
            &tags,
            header(req, "content-type"),
            body.freeze(),
        )
        .await?;
    let mut response = HttpResponse::Created();
    response
        .insert_header((
            h::LOCATION,
            edge.location(format!("/v2/{repo}/manifests/{}", pushed.digest)),
        ))
        .insert_header(("Docker-Content-Digest", pushed.digest.to_string()));
    if let Some(subject) = pushed.subject {
        response.insert_header(("OCI-Subject", subject.to_string()));
    }
    for tag in &tags {
        response.append_header(("OCI-Tag", tag.as_str()));
    }
    Ok(response.finish())
}
