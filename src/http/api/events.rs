//! `GET /api/v1/sync/events`: live sync progress as server-sent events, one JSON object per
//! event (`event:` is its type); `?run=<id>` keeps one run's. A subscriber that falls
//! behind is told how many events it missed; a comment every 15 s keeps proxies from
//! closing an idle stream.

use crate::http::{query_param, ApiError};
use crate::sync::{Event, Syncer};
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub fn stream(req: &HttpRequest, syncer: &Syncer) -> Result<HttpResponse, ApiError> {
    let run = match query_param(req, "run") {
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| ApiError::BadRequest(format!("run={v}")))?,
        ),
        None => None,
    };
    let rx = syncer.subscribe();
    let events = futures_util::stream::unfold(rx, move |mut rx| async move {
        loop {
            let next = tokio::time::timeout(KEEP_ALIVE, rx.recv()).await;
            let frame = match next {
                Err(_) => Some(": keep-alive\n\n".to_owned()),
                Ok(Ok(event)) if run.is_none_or(|r| r == event.run()) => Some(frame(&event)),
                Ok(Ok(_)) => None,
                Ok(Err(RecvError::Lagged(missed))) => {
                    Some(format!("event: lagged\ndata: {{\"missed\":{missed}}}\n\n"))
                }
                Ok(Err(RecvError::Closed)) => return None,
            };
            if let Some(frame) = frame {
                return Some((Ok::<_, std::io::Error>(Bytes::from(frame)), rx));
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(events))
}

fn frame(event: &Event) -> String {
    let json = serde_json::to_value(event).unwrap_or_default();
    let kind = json["type"].as_str().unwrap_or("event").to_owned();
    format!("event: {kind}\ndata: {json}\n\n")
}
