//! The `/v2` API edge (actix-web): parse the path, headers and query into `oci` values, call
//! the `registry`, and write headers and bodies. Never touches `store`.

mod api;
mod blobs;
mod error;
mod head_body;
mod limits;
mod listing;
mod manifests;
mod range;
mod routes;
mod uploads;

pub use error::ApiError;
pub use limits::EdgeLimits;

use crate::oci::RepoName;
use crate::registry::Registry;
use actix_web::http::Method;
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, HttpRequest, HttpResponse};
use routes::Route;

/// What the edge keeps between requests: its limits and the uploads in flight per client.
#[derive(Debug, Default)]
pub struct Edge {
    pub limits: EdgeLimits,
    uploads: limits::ClientUploads,
}

impl Edge {
    pub fn new(limits: EdgeLimits) -> Self {
        Edge {
            limits,
            uploads: limits::ClientUploads::default(),
        }
    }
}

/// Mount the `/v2` API on an actix app. The app must carry `web::Data<Registry>` and
/// `web::Data<Edge>`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v2")
            .wrap(DefaultHeaders::new().add(("Docker-Distribution-API-Version", "registry/2.0")))
            .default_service(web::to(dispatch)),
    );
    cfg.service(web::scope("/api/v1").default_service(web::to(api::dispatch)));
}

async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
    registry: web::Data<Registry>,
    edge: web::Data<Edge>,
) -> HttpResponse {
    let head = req.method() == Method::HEAD;
    match route(&req, payload, &registry, &edge).await {
        Ok(response) => response,
        Err(e) => e.into_response(head),
    }
}

async fn route(
    req: &HttpRequest,
    payload: web::Payload,
    registry: &web::Data<Registry>,
    edge: &Edge,
) -> Result<HttpResponse, ApiError> {
    // The raw path: percent-escapes stay escaped, so `%2e%2e` fails name validation.
    // actix matched the scope on the decoded path; `/%76%32/...` is not `/v2/...`.
    let path = req.path().strip_prefix("/v2").ok_or(ApiError::NotFound)?;
    let rest = path.strip_prefix('/').unwrap_or(path);
    let route = routes::parse(rest).ok_or(ApiError::NotFound)?;
    let method = req.method();
    let read = method == Method::GET || method == Method::HEAD;
    match route {
        Route::Base if read => Ok(HttpResponse::Ok().json(serde_json::json!({}))),
        Route::Catalog if read => listing::catalog(req, registry).await,
        Route::Tags { name } if read => listing::tags(req, registry, &RepoName::parse(name)?).await,
        Route::Referrers { name, digest } if read => {
            listing::referrers(req, registry, &RepoName::parse(name)?, digest).await
        }
        Route::Manifest { name, reference } => {
            let repo = pulled_repo(req, registry, name, read).await?;
            let body = body_stream(payload, edge);
            manifests::handle(req, body, registry, &repo, reference).await
        }
        Route::Blob { name, digest } => {
            let repo = pulled_repo(req, registry, name, read).await?;
            blobs::handle(req, registry, &repo, digest).await
        }
        Route::UploadStart { name } if method == Method::POST => {
            uploads::start(req, payload, registry, edge, &RepoName::parse(name)?).await
        }
        Route::Upload { name, id } => {
            uploads::handle(req, payload, registry, edge, &RepoName::parse(name)?, id).await
        }
        Route::UploadStart { .. } => Err(ApiError::MethodNotAllowed("POST")),
        _ => Err(ApiError::MethodNotAllowed("GET, HEAD")),
    }
}

/// The repository a request names; for a pull, the one that answers it: containerd names
/// the registry it mirrors in `?ns=`, and Docker's registry-mirrors send pulls of Docker
/// Hub's repositories as they are named there (see `Registry::route`).
async fn pulled_repo(
    req: &HttpRequest,
    registry: &Registry,
    name: &str,
    read: bool,
) -> Result<RepoName, ApiError> {
    let repo = RepoName::parse(name)?;
    if !read {
        return Ok(repo);
    }
    Ok(registry
        .route(repo, query_param(req, "ns").as_deref())
        .await?)
}

/// A request header as text, if present and valid.
fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The request body as the registry wants it: a stream of bytes with I/O errors, which
/// fails with `TimedOut` when the client stalls.
fn body_stream(payload: web::Payload, edge: &Edge) -> impl crate::registry::ByteStream {
    use futures_util::StreamExt;
    let bytes = payload.map(|chunk| chunk.map_err(|e| std::io::Error::other(e.to_string())));
    crate::registry::IdleTimeout::new(bytes, edge.limits.body_idle_timeout)
}

/// The first value of query parameter `name`, percent-decoded. Repeats are ignored (old
/// clients send `digest` twice), as are parameters we do not know.
fn query_param(req: &HttpRequest, name: &str) -> Option<String> {
    query_params(req, name).into_iter().next()
}

/// Every value of query parameter `name`, percent-decoded, in order.
fn query_params(req: &HttpRequest, name: &str) -> Vec<String> {
    web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v)
        .collect()
}
