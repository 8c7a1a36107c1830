//! hoist's own JSON API under `/api/v1` (not part of the distribution spec), which the
//! console and `hoist inspect` / `hoist sync` use:
//!
//! - `GET /api/v1/repositories/<name>/tags/<tag>`: every form of a tag.
//! - `GET /api/v1/uploads`: uploads in progress, the disk they hold and the limits on it.
//! - `/api/v1/upstreams`, `/api/v1/mirrors`, `/api/v1/proxies`: the sync's settings
//!   (GET lists, POST creates; GET, PUT, DELETE `/<name>`).
//! - `/api/v1/sync/runs` (GET lists, POST starts runs), `/api/v1/sync/runs/<id>` (a run
//!   and its events), `/api/v1/sync/events` (live progress as server-sent events).
//! - `/api/v1/users`, `/api/v1/tokens`, `/api/v1/rules`, `/api/v1/audit`: access control.
//!
//! With access control on, a caller signs in with Basic credentials, a bearer token or the
//! console's session cookie (then a state-changing request must carry the session's
//! `X-CSRF-Token`); reading a repository's forms needs pull on it, everything else an
//! admin, but users may change their own password and manage their own tokens.

mod access;

mod body;
mod events;
mod runs;
mod settings;

use super::gate::Gate;
use super::ApiError;
use crate::auth::{Action, Subject};
use crate::oci::{RepoName, Tag};
use crate::registry::Registry;
use crate::sync::Syncer;
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};

/// The resources under `/api/v1/`; anything else is 404. The endpoint table lists each.
pub const API_RESOURCES: &[&str] = &[
    "uploads",
    "repositories",
    "upstreams",
    "mirrors",
    "proxies",
    "sync",
    "users",
    "tokens",
    "rules",
    "audit",
];

pub async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
    registry: web::Data<Registry>,
    syncer: Option<web::Data<Syncer>>,
    gate: web::Data<Gate>,
) -> HttpResponse {
    let syncer = syncer.as_deref().map(|s| &**s);
    match route(&req, payload, &registry, syncer, &gate).await {
        Ok(r) => r,
        Err(e) => e.into_response(req.method() == Method::HEAD),
    }
}

/// Who calls the API. With access control off, anyone is an admin.
async fn api_subject(req: &HttpRequest, gate: &Gate) -> Result<Subject, ApiError> {
    if !gate.enabled() {
        return Ok(Subject::User {
            name: "anonymous".into(),
            groups: Vec::new(),
            admin: true,
        });
    }
    if let Some(session) = session_of(req, gate).await? {
        let changes = !matches!(*req.method(), Method::GET | Method::HEAD);
        let token = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok());
        if changes && token != Some(session.csrf.as_str()) {
            return Err(ApiError::Denied(
                "this change needs the session's X-CSRF-Token".into(),
            ));
        }
        return Ok(session.subject);
    }
    let caller = gate.caller(req).await?;
    if caller.is_anonymous() {
        return Err(gate.unauthorized(req, None, "authentication required"));
    }
    Ok(gate.subject_of(&caller).await)
}

/// The console session a request's cookie names, if it is live.
pub async fn session_of(
    req: &HttpRequest,
    gate: &Gate,
) -> Result<Option<crate::auth::SessionView>, ApiError> {
    let Some(cookie) = req.cookie(crate::http::gate::SESSION_COOKIE) else {
        return Ok(None);
    };
    Ok(gate.auth.session(cookie.value()).await?)
}

async fn route(
    req: &HttpRequest,
    payload: web::Payload,
    registry: &Registry,
    syncer: Option<&Syncer>,
    gate: &Gate,
) -> Result<HttpResponse, ApiError> {
    let path = req
        .path()
        .strip_prefix("/api/v1/")
        .ok_or(ApiError::NotFound)?;
    let (head, rest) = path.split_once('/').unwrap_or((path, ""));
    if !API_RESOURCES.contains(&head) {
        return Err(ApiError::NotFound);
    }
    let subject = api_subject(req, gate).await?;
    let admin = || {
        if subject.is_admin() {
            Ok(())
        } else {
            Err(ApiError::Denied("an admin only".into()))
        }
    };
    match head {
        "uploads" if rest.is_empty() => {
            only(req, &[Method::GET])?;
            admin()?;
            Ok(HttpResponse::Ok().json(registry.uploads_report().await?))
        }
        "repositories" => {
            only(req, &[Method::GET])?;
            let name = rest.rsplit_once("/tags/").map_or(rest, |(n, _)| n);
            if !gate.auth.allowed(&subject, Action::Pull, name) {
                return Err(ApiError::Denied(format!(
                    "{} may not pull {name}",
                    subject.label()
                )));
            }
            tag_forms(registry, rest).await
        }
        "users" | "tokens" | "rules" | "audit" => {
            access::handle(req, payload, gate, &subject, head, rest).await
        }
        "upstreams" | "mirrors" | "proxies" => {
            admin()?;
            let syncer = syncer.ok_or(ApiError::NotFound)?;
            settings::handle(req, payload, syncer, head, rest).await
        }
        "sync" => {
            admin()?;
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
