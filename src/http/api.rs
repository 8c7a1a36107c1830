//! hoist's own JSON API under `/api/v1` (not part of the distribution spec).
//! `GET /api/v1/repositories/<name>/tags/<tag>`: every form of a tag.
//! `GET /api/v1/uploads`: uploads in progress, the disk they hold and the limits on it.

use super::ApiError;
use crate::oci::{RepoName, Tag};
use crate::registry::Registry;
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};

pub async fn dispatch(req: HttpRequest, registry: web::Data<Registry>) -> HttpResponse {
    match route(&req, &registry).await {
        Ok(r) => r,
        Err(e) => e.into_response(req.method() == Method::HEAD),
    }
}

async fn route(req: &HttpRequest, registry: &Registry) -> Result<HttpResponse, ApiError> {
    if req.method() != Method::GET {
        return Err(ApiError::MethodNotAllowed("GET"));
    }
    if req.path() == "/api/v1/uploads" {
        return Ok(HttpResponse::Ok().json(registry.uploads_report().await?));
    }
    let rest = req
        .path()
        .strip_prefix("/api/v1/repositories/")
        .ok_or(ApiError::NotFound)?;
    let (name, tag) = rest.rsplit_once("/tags/").ok_or(ApiError::NotFound)?;
    let (repo, tag) = (RepoName::parse(name)?, Tag::parse(tag)?);
    let variants = registry.tag_variants(&repo, &tag).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "repository": repo.as_str(),
        "tag": tag.as_str(),
        "variants": variants,
    })))
}
