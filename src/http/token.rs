//! `/token`: the token service of Docker's auth, as clients use Docker Hub's. `GET` with
//! Basic credentials (or none, for what anyone may do) and `scope=` parameters; `POST` with
//! a form (`grant_type=password` or `refresh_token`), as containerd and docker send it.
//! `offline_token=true` / `access_type=offline` adds a refresh token.

use super::gate::{basic, Gate};
use super::ApiError;
use crate::auth::{RequestedScope, Subject};
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use std::net::IpAddr;

/// A token form is small.
const FORM_LIMIT: usize = 64 * 1024;

pub async fn handle(
    req: HttpRequest,
    payload: web::Payload,
    gate: web::Data<Gate>,
) -> HttpResponse {
    let head = req.method() == Method::HEAD;
    match answer(&req, payload, &gate).await {
        Ok(r) => r,
        Err(e) => e.into_response(head),
    }
}

async fn answer(
    req: &HttpRequest,
    payload: web::Payload,
    gate: &Gate,
) -> Result<HttpResponse, ApiError> {
    let address = Gate::address(req).unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let params: Vec<(String, String)> = match *req.method() {
        Method::GET => web::Query::<Vec<(String, String)>>::from_query(req.query_string())
            .map(|q| q.into_inner())
            .map_err(|e| ApiError::BadRequest(format!("the query: {e}")))?,
        Method::POST => form(payload).await?,
        _ => return Err(ApiError::MethodNotAllowed("GET, POST")),
    };
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let scopes: Vec<RequestedScope> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| RequestedScope::parse_all(v))
        .collect();
    let offline = param("offline_token") == Some("true") || param("access_type") == Some("offline");
    let subject = match param("grant_type") {
        Some("refresh_token") => {
            let token = param("refresh_token")
                .ok_or_else(|| ApiError::BadRequest("refresh_token is missing".into()))?;
            gate.auth.refresh_subject(token).await?
        }
        Some("password") => {
            let (user, password) = (
                param("username").unwrap_or(""),
                param("password").unwrap_or(""),
            );
            gate.auth.login(user, password, address).await?
        }
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "grant_type {other:?} is not supported"
            )))
        }
        None => match req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
        {
            Some(value) => {
                let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
                if !scheme.eq_ignore_ascii_case("basic") {
                    return Err(gate.unauthorized(req, None, "/token takes Basic credentials"));
                }
                let (user, password) = basic(rest.trim())
                    .ok_or_else(|| gate.unauthorized(req, None, "malformed Basic credentials"))?;
                gate.auth.login(&user, &password, address).await?
            }
            None => Subject::Anonymous,
        },
    };
    let answer = gate.auth.issue(&subject, &scopes, offline).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(answer))
}

async fn form(mut payload: web::Payload) -> Result<Vec<(String, String)>, ApiError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("reading the form: {e}")))?;
        if body.len() + chunk.len() > FORM_LIMIT {
            return Err(ApiError::BadRequest("the form is too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(body)
        .map_err(|_| ApiError::BadRequest("the form is not UTF-8".into()))?;
    web::Query::<Vec<(String, String)>>::from_query(&text)
        .map(|q| q.into_inner())
        .map_err(|e| ApiError::BadRequest(format!("the form: {e}")))
}
