//! Blob uploads: `POST /v2/<name>/blobs/uploads/` (start, monolithic, mount) and
//! `PATCH`, `PUT`, `GET`, `DELETE /v2/<name>/blobs/uploads/<id>`.

use super::range::parse_content_range;
use super::{body_stream, header, query_param, ApiError};
use crate::oci::{Digest, RepoName};
use crate::registry::Registry;
use actix_web::http::{header as h, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

pub async fn start(
    req: &HttpRequest,
    payload: web::Payload,
    registry: &Registry,
    repo: &RepoName,
) -> Result<HttpResponse, ApiError> {
    if let Some(mount) = query_param(req, "mount") {
        let digest = Digest::parse(&mount)?;
        // Without `from` there is nothing to mount from: fall back to an upload, as the spec allows.
        if let Some(from) = query_param(req, "from") {
            let from = RepoName::parse(&from)?;
            if registry.mount_blob(repo, &digest, &from).await?.is_some() {
                return Ok(blob_created(repo, &digest));
            }
        }
    } else if let Some(digest) = query_param(req, "digest") {
        let digest = Digest::parse(&digest)?;
        registry
            .put_blob(repo, &digest, body_stream(payload))
            .await?;
        return Ok(blob_created(repo, &digest));
    }
    let id = registry.start_upload(repo).await?;
    Ok(progress(StatusCode::ACCEPTED, repo, &id, 0))
}

pub async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    registry: &Registry,
    repo: &RepoName,
    id: &str,
) -> Result<HttpResponse, ApiError> {
    match *req.method() {
        Method::GET => {
            let offset = registry.upload_offset(repo, id).await?;
            Ok(progress(StatusCode::NO_CONTENT, repo, id, offset))
        }
        Method::PATCH => {
            let start = chunk_start(req)?;
            let offset = registry
                .append_upload(repo, id, start, body_stream(payload))
                .await?;
            Ok(progress(StatusCode::ACCEPTED, repo, id, offset))
        }
        Method::PUT => {
            let start = chunk_start(req)?;
            let digest = query_param(req, "digest").ok_or_else(|| {
                ApiError::Registry(crate::registry::RegistryError::DigestInvalid(
                    crate::oci::DigestError::MissingAlgorithm(
                        "the digest query parameter is required".into(),
                    ),
                ))
            })?;
            let digest = Digest::parse(&digest)?;
            registry
                .finish_upload(repo, id, start, &digest, body_stream(payload))
                .await?;
            Ok(blob_created(repo, &digest))
        }
        Method::DELETE => {
            registry.cancel_upload(repo, id).await?;
            Ok(HttpResponse::NoContent().finish())
        }
        _ => Err(ApiError::MethodNotAllowed("GET, PATCH, PUT, DELETE")),
    }
}

/// Where a chunk says it starts (`Content-Range`), if it says.
fn chunk_start(req: &HttpRequest) -> Result<Option<u64>, ApiError> {
    match header(req, "content-range") {
        Some(value) => Ok(Some(
            parse_content_range(value)
                .ok_or_else(|| ApiError::RangeInvalid(value.to_owned()))?
                .start,
        )),
        None => Ok(None),
    }
}

/// 201 for a blob that is now in the repository.
fn blob_created(repo: &RepoName, digest: &Digest) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((h::LOCATION, format!("/v2/{repo}/blobs/{digest}")))
        .insert_header(("Docker-Content-Digest", digest.to_string()))
        .finish()
}

/// Where an upload stands: its URL and the range received so far.
fn progress(status: StatusCode, repo: &RepoName, id: &str, offset: u64) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((h::LOCATION, format!("/v2/{repo}/blobs/uploads/{id}")))
        .insert_header(("Docker-Upload-UUID", id))
        .insert_header(("Range", format!("0-{}", offset.saturating_sub(1))))
        .finish()
}
