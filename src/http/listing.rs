//! `GET /v2/<name>/tags/list`, `GET /v2/_catalog` (both paginated with `n`, `last` and a
//! `Link` header) and `GET /v2/<name>/referrers/<digest>`.

use super::{query_param, ApiError};
use crate::oci::media_types::OCI_INDEX;
use crate::oci::{Digest, RepoName};
use crate::registry::Page;
use crate::registry::Registry;
use actix_web::http::header as h;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

/// Page size when the client names none, and the most it may ask for.
const DEFAULT_PAGE: usize = 1000;
const MAX_PAGE: usize = 10_000;

/// `n` (page size) and `last` (resume after) of a listing request.
fn page_query(req: &HttpRequest) -> Result<(usize, Option<String>), ApiError> {
    let n = match query_param(req, "n") {
        None => DEFAULT_PAGE,
        Some(n) => n
            .parse::<usize>()
            .map(|n| n.min(MAX_PAGE))
            .map_err(|_| ApiError::PaginationInvalid(format!("n={n}")))?,
    };
    Ok((n, query_param(req, "last")))
}

/// The `Link` header that points at the next page, when there is one.
fn with_next(
    mut response: actix_web::HttpResponseBuilder,
    path: &str,
    page: &Page,
    n: usize,
) -> actix_web::HttpResponseBuilder {
    if let (true, Some(last)) = (page.more, page.items.last()) {
        response.insert_header((h::LINK, format!("<{path}?n={n}&last={last}>; rel=\"next\"")));
    }
    response
}

pub async fn tags(
    req: &HttpRequest,
    registry: &Registry,
    repo: &RepoName,
) -> Result<HttpResponse, ApiError> {
    let (n, last) = page_query(req)?;
    let page = registry.list_tags(repo, last, n).await?;
    let path = format!("/v2/{repo}/tags/list");
    let body = json!({"name": repo.as_str(), "tags": page.items});
    Ok(with_next(HttpResponse::Ok(), &path, &page, n).json(body))
}

/// Pages of the store scanned for one filtered catalog page at most.
const CATALOG_SCAN_PAGES: usize = 100;

/// The catalog, showing only repositories `visible` says the caller may pull. A filtered
/// page may take several pages of the store; the next page starts after the last one seen.
pub async fn catalog(
    req: &HttpRequest,
    registry: &Registry,
    visible: impl Fn(&str) -> bool,
) -> Result<HttpResponse, ApiError> {
    let (n, mut last) = page_query(req)?;
    let mut shown = Page {
        items: Vec::new(),
        more: false,
    };
    for _ in 0..CATALOG_SCAN_PAGES {
        let page = registry.catalog(last.clone(), n).await?;
        let seen_last = page.items.last().cloned();
        for name in page.items {
            if shown.items.len() == n {
                shown.more = true;
                break;
            }
            if visible(&name) {
                shown.items.push(name.clone());
            }
            last = Some(name);
        }
        if shown.items.len() == n || !page.more || seen_last.is_none() {
            shown.more |= page.more && shown.items.len() == n;
            break;
        }
    }
    let body = json!({"repositories": shown.items});
    Ok(with_next(HttpResponse::Ok(), "/v2/_catalog", &shown, n).json(body))
}

pub async fn referrers(
    req: &HttpRequest,
    registry: &Registry,
    repo: &RepoName,
    digest: &str,
) -> Result<HttpResponse, ApiError> {
    let subject = Digest::parse(digest)?;
    let artifact_type = query_param(req, "artifactType");
    let filter = artifact_type.as_deref().filter(|t| !t.is_empty());
    let manifests = registry.referrers(repo, &subject, filter).await?;
    let body = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests,
    });
    let mut response = HttpResponse::Ok();
    response.insert_header((h::CONTENT_TYPE, OCI_INDEX));
    if filter.is_some() {
        response.insert_header(("OCI-Filters-Applied", "artifactType"));
    }
    Ok(response.body(body.to_string()))
}
