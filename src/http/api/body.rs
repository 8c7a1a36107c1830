//! JSON request bodies of the API: read whole up to a small limit, then parsed.

use crate::http::ApiError;
use actix_web::web;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

/// Settings and run requests are small.
const LIMIT: usize = 256 * 1024;

pub async fn json<T: DeserializeOwned>(mut payload: web::Payload) -> Result<T, ApiError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("reading the body: {e}")))?;
        if body.len() + chunk.len() > LIMIT {
            return Err(ApiError::BadRequest(format!(
                "the body is over {LIMIT} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    if body.is_empty() {
        body.extend_from_slice(b"{}");
    }
    serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("the JSON body: {e}")))
}
