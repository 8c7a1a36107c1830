//! `/api/v1/upstreams`, `/api/v1/mirrors` and `/api/v1/proxies`: list and create (the
//! collection), show, replace and delete (`/<name>`; a proxy's name is its prefix).

use super::{body, only};
use crate::http::ApiError;
use crate::sync::settings::{MirrorSettings, ProxySettings, UpstreamSettings};
use crate::sync::Syncer;
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};

pub async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    syncer: &Syncer,
    kind: &str,
    name: &str,
) -> Result<HttpResponse, ApiError> {
    let name = name.trim_end_matches('/');
    if name.is_empty() {
        only(req, &[Method::GET, Method::POST])?;
        if req.method() == Method::GET {
            return Ok(list(syncer, kind));
        }
        put(payload, syncer, kind, None).await?;
        return Ok(HttpResponse::Created().finish());
    }
    only(req, &[Method::GET, Method::PUT, Method::DELETE])?;
    match *req.method() {
        Method::GET => one(syncer, kind, name),
        Method::PUT => {
            put(payload, syncer, kind, Some(name)).await?;
            Ok(HttpResponse::NoContent().finish())
        }
        _ => {
            match kind {
                "upstreams" => syncer.delete_upstream(name).await?,
                "mirrors" => syncer.delete_mirror(name).await?,
                _ => syncer.delete_proxy(name).await?,
            }
            Ok(HttpResponse::NoContent().finish())
        }
    }
}

fn list(syncer: &Syncer, kind: &str) -> HttpResponse {
    match kind {
        "upstreams" => {
            HttpResponse::Ok().json(serde_json::json!({"upstreams": syncer.upstreams()}))
        }
        "mirrors" => HttpResponse::Ok().json(serde_json::json!({"mirrors": syncer.mirrors()})),
        _ => HttpResponse::Ok().json(serde_json::json!({"proxies": syncer.proxies()})),
    }
}

fn one(syncer: &Syncer, kind: &str, name: &str) -> Result<HttpResponse, ApiError> {
    let found = match kind {
        "upstreams" => syncer
            .upstreams()
            .into_iter()
            .find(|u| u.settings.name == name)
            .map(serde_json::to_value),
        "mirrors" => syncer
            .mirrors()
            .into_iter()
            .find(|m| m.settings.name == name)
            .map(serde_json::to_value),
        _ => syncer
            .proxies()
            .into_iter()
            .find(|p| p.settings.prefix.trim_matches('/') == name)
            .map(serde_json::to_value),
    };
    match found {
        Some(Ok(value)) => Ok(HttpResponse::Ok().json(value)),
        Some(Err(e)) => Err(ApiError::BadRequest(e.to_string())),
        None => Err(ApiError::NotFound),
    }
}

/// Create (`name` is `None`) or replace the setting the body describes.
async fn put(
    payload: web::Payload,
    syncer: &Syncer,
    kind: &str,
    name: Option<&str>,
) -> Result<(), ApiError> {
    let mismatch = |named: &str| {
        name.filter(|n| *n != named)
            .map(|n| ApiError::BadRequest(format!("the body names {named:?}, the path {n:?}")))
    };
    let replace = name.is_some();
    match kind {
        "upstreams" => {
            let s: UpstreamSettings = body::json(payload).await?;
            if let Some(e) = mismatch(&s.name) {
                return Err(e);
            }
            syncer.put_upstream(s, replace).await?;
        }
        "mirrors" => {
            let s: MirrorSettings = body::json(payload).await?;
            if let Some(e) = mismatch(&s.name) {
                return Err(e);
            }
            syncer.put_mirror(s, replace).await?;
        }
        _ => {
            let s: ProxySettings = body::json(payload).await?;
            if let Some(e) = mismatch(s.prefix.trim_matches('/')) {
                return Err(e);
            }
            syncer.put_proxy(s, replace).await?;
        }
    }
    Ok(())
}
