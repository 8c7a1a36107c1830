//! The `/v2` API edge (actix-web): parse the path, headers and query into `oci` values, call
//! the `registry`, and write headers and bodies. Never touches `store`.

mod api;
mod blobs;
pub mod endpoints;
mod error;
pub mod gate;
mod head_body;
mod limits;
mod listing;
mod manifests;
mod range;
mod routes;
pub mod tls;
mod token;
mod uploads;

pub use error::ApiError;
pub use limits::EdgeLimits;

use crate::auth::Action;
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
    /// Where clients reach hoist (behind a reverse proxy): `Location` headers use it.
    public_url: Option<String>,
}

impl Edge {
    pub fn new(limits: EdgeLimits, public_url: Option<String>) -> Self {
        Edge {
            limits,
            uploads: limits::ClientUploads::default(),
            public_url,
        }
    }

    /// A `Location` for `path`: absolute under the public URL when there is one.
    pub fn location(&self, path: String) -> String {
        match &self.public_url {
            Some(base) => format!("{base}{path}"),
            None => path,
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
    cfg.route("/token", web::route().to(token::handle));
}

async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
    registry: web::Data<Registry>,
    edge: web::Data<Edge>,
    gate: Option<web::Data<gate::Gate>>,
) -> HttpResponse {
    let head = req.method() == Method::HEAD;
    let gate = gate.as_deref().map(|g| &**g).filter(|g| g.enabled());
    match route(&req, payload, &registry, &edge, gate).await {
        Ok(response) => response,
        Err(e) => e.into_response(head),
    }
}

/// The permission a route needs, on which repository (by the name the client used).
fn needs<'a>(route: &Route<'a>, method: &Method) -> Option<(&'a str, Action)> {
    let write = |get: Action| match *method {
        Method::GET | Method::HEAD => get,
        Method::DELETE => Action::Delete,
        _ => Action::Push,
    };
    match *route {
        Route::Base | Route::Catalog => None,
        Route::Tags { name } | Route::Referrers { name, .. } => Some((name, Action::Pull)),
        Route::Manifest { name, .. } | Route::Blob { name, .. } => {
            Some((name, write(Action::Pull)))
        }
        Route::UploadStart { name } | Route::Upload { name, .. } => Some((name, Action::Push)),
    }
}

async fn route(
    req: &HttpRequest,
    payload: web::Payload,
    registry: &web::Data<Registry>,
    edge: &Edge,
    gate: Option<&gate::Gate>,
) -> Result<HttpResponse, ApiError> {
    // The raw path: percent-escapes stay escaped, so `%2e%2e` fails name validation.
    // actix matched the scope on the decoded path; `/%76%32/...` is not `/v2/...`.
    let path = req.path().strip_prefix("/v2").ok_or(ApiError::NotFound)?;
    let rest = path.strip_prefix('/').unwrap_or(path);
    let route = routes::parse(rest).ok_or(ApiError::NotFound)?;
    let method = req.method();
    let caller = match gate {
        Some(g) => {
            let caller = g.caller(req).await?;
            if let Some((name, action)) = needs(&route, method) {
                RepoName::parse(name)?;
                g.require(req, &caller, action, name)?;
            } else if matches!(route, Route::Base) && caller.is_anonymous() {
                return Err(g.unauthorized(req, None, "authentication required"));
            }
            Some(caller)
        }
        None => None,
    };
    let answer = dispatch_route(req, payload, registry, edge, gate, caller.as_ref(), &route).await;
    if let (Some(g), Some(c), Ok(response)) = (gate, &caller, &answer) {
        audit_write(g, req, c, &route, response).await;
    }
    answer
}

/// Pushes and deletes go to the audit log.
async fn audit_write(
    gate: &gate::Gate,
    req: &HttpRequest,
    caller: &gate::Caller,
    route: &Route<'_>,
    response: &HttpResponse,
) {
    let action = match (route, req.method()) {
        (Route::Manifest { .. }, &Method::PUT) => "push",
        (Route::Manifest { .. } | Route::Blob { .. }, &Method::DELETE) => "delete",
        _ => return,
    };
    let target = match route {
        Route::Manifest { name, reference } => format!("{name}:{reference}"),
        Route::Blob { name, digest } => format!("{name}@{digest}"),
        _ => String::new(),
    };
    let digest = response
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    gate.auth
        .audit(
            &caller.label(),
            gate::Gate::address(req),
            action,
            &target,
            "ok",
            digest,
        )
        .await;
}

async fn dispatch_route(
    req: &HttpRequest,
    payload: web::Payload,
    registry: &web::Data<Registry>,
    edge: &Edge,
    gate: Option<&gate::Gate>,
    caller: Option<&gate::Caller>,
    route: &Route<'_>,
) -> Result<HttpResponse, ApiError> {
    let method = req.method();
    let read = method == Method::GET || method == Method::HEAD;
    match *route {
        Route::Base if read => Ok(HttpResponse::Ok().json(serde_json::json!({}))),
        Route::Catalog if read => {
            let Some((g, c)) = gate.zip(caller) else {
                return listing::catalog(req, registry, |_| true).await;
            };
            // Anonymous callers are asked to sign in, unless rules give them something to
            // see (then they get the part of the catalog they may pull).
            if c.is_anonymous() && g.enabled() && !g.auth.anonymous_has_rights() {
                return Err(g.unauthorized(
                    req,
                    Some("registry:catalog:*"),
                    "authentication required",
                ));
            }
            if let gate::Caller::Bearer(claims) = c {
                if !crate::auth::bearer_catalog(claims) {
                    return Err(g.unauthorized(
                        req,
                        Some("registry:catalog:*"),
                        "the token does not allow the catalog",
                    ));
                }
            }
            let subject = g.subject_of(c).await;
            let auth = &g.auth;
            listing::catalog(req, registry, |name| {
                auth.allowed(&subject, Action::Pull, name)
            })
            .await
        }
        Route::Tags { name } if read => listing::tags(req, registry, &RepoName::parse(name)?).await,
        Route::Referrers { name, digest } if read => {
            listing::referrers(req, registry, &RepoName::parse(name)?, digest).await
        }
        Route::Manifest { name, reference } => {
            let repo = pulled_repo(req, registry, name, read).await?;
            let body = body_stream(payload, edge);
            manifests::handle(req, body, registry, edge, &repo, reference).await
        }
        Route::Blob { name, digest } => {
            let repo = pulled_repo(req, registry, name, read).await?;
            blobs::handle(req, registry, &repo, digest).await
        }
        Route::UploadStart { name } if method == Method::POST => {
            let may_pull = |from: &str| match gate.zip(caller) {
                Some((g, c)) => g.may(c, Action::Pull, from),
                None => true,
            };
            // Mounting without `from` links a blob from anywhere: only where anything goes.
            let anywhere = gate
                .zip(caller)
                .is_none_or(|(g, c)| g.may(c, Action::Admin, "**"));
            uploads::start(
                req,
                payload,
                registry,
                edge,
                &RepoName::parse(name)?,
                &may_pull,
                anywhere,
            )
            .await
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
