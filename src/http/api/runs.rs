//! `GET /api/v1/sync/runs` (newest first; `before`, `n`), `POST /api/v1/sync/runs`
//! (`{"rules": [...]}`, every rule when empty: starts runs, answers their ids), and
//! `GET /api/v1/sync/runs/<id>` (the run and its kept events after `after`).

use super::{body, only};
use crate::http::{query_param, ApiError};
use crate::sync::{Syncer, Trigger};
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

const PAGE: usize = 50;
const EVENTS_PAGE: usize = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Start {
    #[serde(default)]
    rules: Vec<String>,
}

pub async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    syncer: &Syncer,
    id: &str,
) -> Result<HttpResponse, ApiError> {
    let number = |name: &str| -> Result<Option<u64>, ApiError> {
        query_param(req, name)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| ApiError::BadRequest(format!("{name}={v}")))
            })
            .transpose()
    };
    if id.is_empty() {
        only(req, &[Method::GET, Method::POST])?;
        if req.method() == Method::POST {
            let start: Start = body::json(payload).await?;
            let runs = syncer.request_runs(&start.rules, Trigger::Manual).await?;
            return Ok(HttpResponse::Accepted().json(serde_json::json!({ "runs": runs })));
        }
        let n = number("n")?.map_or(PAGE, |n| (n as usize).clamp(1, 1000));
        let runs = syncer.runs(number("before")?, n).await?;
        return Ok(HttpResponse::Ok().json(serde_json::json!({ "runs": runs })));
    }
    only(req, &[Method::GET])?;
    let id: u64 = id.parse().map_err(|_| ApiError::NotFound)?;
    let run = syncer.run_record(id).await?;
    let events = syncer
        .run_events(id, number("after")?.unwrap_or(0), EVENTS_PAGE)
        .await?;
    let events: Vec<serde_json::Value> = events
        .into_iter()
        .map(|(seq, e)| {
            let mut v = serde_json::to_value(e).unwrap_or_default();
            v["seq"] = seq.into();
            v
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "run": run, "events": events })))
}
