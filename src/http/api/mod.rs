//! hoist's own JSON API under `/api/v1` (not part of the distribution spec), which the
//! console and `hoist inspect` / `hoist sync` use:
//!
//! - `GET /api/v1/repositories/<name>/tags/<tag>`: every form of a tag.
//! - `GET /api/v1/uploads`: uploads in progress, the disk they hold and the limits on it.
//! - `/api/v1/upstreams`, `/api/v1/mirrors`, `/api/v1/proxies`: the sync's settings
//!   (GET lists, POST creates; GET, PUT, DELETE `/<name>`).
//! - `/api/v1/sync/runs` (GET lists, POST starts runs), `/api/v1/sync/runs/<id>` (a run
//!   and its events), `/api/v1/sync/events` (live progress as server-sent events).

mod body;
mod events;
mod runs;
mod settings;

use super::ApiError;
use crate::oci::{RepoName, Tag};
use crate::registry::Registry;
use crate::sync::Syncer;
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};

pub async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
    registry: web::Data<Registry>,
    syncer: Option<web::Data<Syncer>>,
) -> HttpResponse {
    match route(&req, payload, &registry, syncer.as_deref().map(|s| &**s)).await {
        Ok(r) => r,
        Err(e) => e.into_response(req.method() == Method::HEAD),
    }
}

async fn route(
    req: &HttpRequest,
    payload: web::Payload,
    registry: &Registry,
    syncer: Option<&Syncer>,
) -> Result<HttpResponse, ApiError> {
    let path = req
        .path()
        .strip_prefix("/api/v1/")
        .ok_or(ApiError::NotFound)?;
    let (head, rest) = path.split_once('/').unwrap_or((path, ""));
    match head {
        "uploads" if rest.is_empty() => {
            only(req, &[Method::GET])?;
            Ok(HttpResponse::Ok().json(registry.uploads_report().await?))
        }
        "repositories" => {
            only(req, &[Method::GET])?;
            tag_forms(registry, rest).await
        }
        "upstreams" | "mirrors" | "proxies" => {
            let syncer = syncer.ok_or(ApiError::NotFound)?;
            settings::handle(req, payload, syncer, head, rest).await
        }
        "sync" => {
            let syncer = syncer.ok_or(ApiError::NotFound)?;
            match rest.split_once('/').unwrap_or((rest, "")) {
                ("runs", id) => runs::handle(req, payload, syncer, id).await,
                ("events", "") => {
                    only(req, &[Method::GET])?;
                    events::stream(req, syncer)
                }
                _ => Err(ApiError::NotFound),
            }
        }
        _ => Err(ApiError::NotFound),
    }
}

/// 405 unless the request's method is one of `allowed`.
fn only(req: &HttpRequest, allowed: &[Method]) -> Result<(), ApiError> {
    if allowed.contains(req.method()) {
        return Ok(());
    }
    Err(ApiError::MethodNotAllowed(match allowed {
        [Method::GET] => "GET",
        [Method::GET, Method::POST] => "GET, POST",
        _ => "GET, PUT, DELETE",
    }))
}

/// `GET /api/v1/repositories/<name>/tags/<tag>`.
async fn tag_forms(registry: &Registry, rest: &str) -> Result<HttpResponse, ApiError> {
    let (name, tag) = rest.rsplit_once("/tags/").ok_or(ApiError::NotFound)?;
    let (repo, tag) = (RepoName::parse(name)?, Tag::parse(tag)?);
    let variants = registry.tag_variants(&repo, &tag).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "repository": repo.as_str(),
        "tag": tag.as_str(),
        "variants": variants,
    })))
}
