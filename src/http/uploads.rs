//! Blob uploads: `POST /v2/<name>/blobs/uploads/` (start, monolithic, mount) and
//! `PATCH`, `PUT`, `GET`, `DELETE /v2/<name>/blobs/uploads/<id>`.

use super::limits::UploadSlot;
use super::range::parse_content_range;
use super::{body_stream, header, query_param, ApiError, Edge};
use crate::oci::{Digest, RepoName};
use crate::registry::{ChunkHeaders, ChunkRange, Registry, RegistryError};
use actix_web::http::{header as h, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

/// `may_pull` says whether the caller may read a mount's source; `anywhere`, whether it may
/// mount without naming one (then any repository holding the blob will do).
pub async fn start(
    req: &HttpRequest,
    payload: web::Payload,
    registry: &Registry,
    edge: &Edge,
    repo: &RepoName,
    may_pull: &dyn Fn(&str) -> bool,
    anywhere: bool,
) -> Result<HttpResponse, ApiError> {
    if let Some(mount) = query_param(req, "mount") {
        // A mount hoist cannot do (a `from` that is no repository name or that the caller
        // may not read, a blob it does not have) falls back to an upload session, as the
        // spec asks. A malformed digest is the client's error.
        let digest = Digest::parse(&mount)?;
        let from = match query_param(req, "from") {
            Some(from) => RepoName::parse(&from)
                .ok()
                .filter(|f| may_pull(f.as_str()))
                .map(Some),
            None => anywhere.then_some(None),
        };
        if let Some(from) = from {
            if registry
                .mount_blob(repo, &digest, from.as_ref())
                .await?
                .is_some()
            {
                return Ok(blob_created(edge, repo, &digest));
            }
        }
    } else if let Some(digest) = query_param(req, "digest") {
        let digest = Digest::parse(&digest)?;
        let _slot = upload_slot(req, edge)?;
        registry
            .put_blob(
                repo,
                &digest,
                content_length(req),
                body_stream(payload, edge),
            )
            .await?;
        return Ok(blob_created(edge, repo, &digest));
    }
    let id = registry.start_upload(repo).await?;
    Ok(progress(edge, StatusCode::ACCEPTED, repo, &id, 0))
}

pub async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    registry: &web::Data<Registry>,
    edge: &Edge,
    repo: &RepoName,
    id: &str,
) -> Result<HttpResponse, ApiError> {
    match *req.method() {
        Method::GET => {
            let offset = registry.upload_offset(repo, id).await?;
            Ok(progress(edge, StatusCode::NO_CONTENT, repo, id, offset))
        }
        Method::PATCH => {
            let chunk = chunk_headers(req)?;
            let slot = upload_slot(req, edge)?;
            let body = body_stream(payload, edge);
            let (reg, r, i) = (registry.clone(), repo.clone(), id.to_owned());
            let appended = detached(async move {
                let _slot = slot;
                reg.append_upload(&r, &i, chunk, body).await
            })
            .await?;
            match appended {
                Ok(offset) => Ok(progress(edge, StatusCode::ACCEPTED, repo, id, offset)),
                Err(e) => Err(with_progress(e, registry, edge, repo, id).await),
            }
        }
        Method::PUT => {
            let chunk = chunk_headers(req)?;
            let digest = query_param(req, "digest").ok_or_else(|| {
                ApiError::Registry(RegistryError::DigestInvalid(
                    crate::oci::DigestError::MissingAlgorithm(
                        "the digest query parameter is required".into(),
                    ),
                ))
            })?;
            let digest = Digest::parse(&digest)?;
            let slot = upload_slot(req, edge)?;
            let body = body_stream(payload, edge);
            let (reg, r, i, d) = (
                registry.clone(),
                repo.clone(),
                id.to_owned(),
                digest.clone(),
            );
            let finished = detached(async move {
                let _slot = slot;
                reg.finish_upload(&r, &i, chunk, &d, body).await
            })
            .await?;
            match finished {
                Ok(_) => Ok(blob_created(edge, repo, &digest)),
                Err(e) => Err(with_progress(e, registry, edge, repo, id).await),
            }
        }
        Method::DELETE => {
            registry.cancel_upload(repo, id).await?;
            Ok(HttpResponse::NoContent().finish())
        }
        _ => Err(ApiError::MethodNotAllowed("GET, PATCH, PUT, DELETE")),
    }
}

/// Run a chunk's request to its end even if its client goes away meanwhile (actix drops a
/// request's future when its connection dies): the registry then takes a failed chunk back
/// whole, where a dropped future would leave the part written so far.
async fn detached<T: 'static>(
    work: impl std::future::Future<Output = T> + 'static,
) -> Result<T, ApiError> {
    actix_web::rt::spawn(work).await.map_err(|e| {
        ApiError::Registry(RegistryError::Internal(format!("upload task failed: {e}")))
    })
}

/// A place among the uploads this client may have in flight, or 429.
fn upload_slot(req: &HttpRequest, edge: &Edge) -> Result<Option<UploadSlot>, ApiError> {
    let Some(peer) = req.peer_addr() else {
        return Ok(None);
    };
    let limit = edge.limits.uploads_per_client;
    edge.uploads
        .try_acquire(peer.ip(), limit)
        .map(Some)
        .map_err(|in_flight| ApiError::TooManyUploads {
            client: peer.ip().to_string(),
            in_flight,
        })
}

/// What a chunk's headers say about it: `Content-Range` and `Content-Length`.
fn chunk_headers(req: &HttpRequest) -> Result<ChunkHeaders, ApiError> {
    let range = match header(req, "content-range") {
        Some(value) => {
            let r = parse_content_range(value)
                .ok_or_else(|| ApiError::RangeInvalid(value.to_owned()))?;
            Some(ChunkRange {
                start: r.start,
                end: r.end,
            })
        }
        None => None,
    };
    Ok(ChunkHeaders {
        range,
        length: content_length(req),
    })
}

fn content_length(req: &HttpRequest) -> Option<u64> {
    header(req, "content-length").and_then(|v| v.trim().parse().ok())
}

/// An upload that failed but goes on: the error carries where it stands, so the client
/// can resume from exactly what was kept.
async fn with_progress(
    e: RegistryError,
    registry: &Registry,
    edge: &Edge,
    repo: &RepoName,
    id: &str,
) -> ApiError {
    let resumable = matches!(
        e,
        RegistryError::BodyStalled(_)
            | RegistryError::BlobUploadInvalid(_)
            | RegistryError::ChunkOutOfOrder { .. }
            | RegistryError::ChunkLengthMismatch { .. }
            | RegistryError::InsufficientStorage(_)
    );
    if !resumable {
        return e.into();
    }
    match registry.upload_offset(repo, id).await {
        Ok(offset) => ApiError::Upload {
            error: e,
            location: edge.location(upload_location(repo, id)),
            id: id.to_owned(),
            range: range_value(offset),
        },
        Err(_) => e.into(),
    }
}

/// 201 for a blob that is now in the repository.
fn blob_created(edge: &Edge, repo: &RepoName, digest: &Digest) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((
            h::LOCATION,
            edge.location(format!("/v2/{repo}/blobs/{digest}")),
        ))
        .insert_header(("Docker-Content-Digest", digest.to_string()))
        .finish()
}

fn upload_location(repo: &RepoName, id: &str) -> String {
    format!("/v2/{repo}/blobs/uploads/{id}")
}

/// The `Range` of an upload holding `offset` bytes.
fn range_value(offset: u64) -> String {
    format!("0-{}", offset.saturating_sub(1))
}

/// Where an upload stands: its URL and the range received so far.
fn progress(
    edge: &Edge,
    status: StatusCode,
    repo: &RepoName,
    id: &str,
    offset: u64,
) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((h::LOCATION, edge.location(upload_location(repo, id))))
        .insert_header(("Docker-Upload-UUID", id))
        .insert_header(("Range", range_value(offset)))
        .finish()
}
