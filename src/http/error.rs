//! The one place where errors become HTTP: spec error codes, statuses and JSON bodies
//! (`{"errors":[{"code","message","detail"}]}`). Internal failures are logged here, once,
//! and reach the client only as an opaque message.

use crate::oci::reference::ReferenceError;
use crate::oci::{DigestError, NameError, TagError};
use crate::registry::RegistryError;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde_json::{json, Value};

/// An error on its way to the client.
#[derive(Debug)]
pub enum ApiError {
    Registry(RegistryError),
    /// A `/v2` path that names no endpoint.
    NotFound,
    /// With the methods the endpoint does allow, for the `Allow` header.
    MethodNotAllowed(&'static str),
    PaginationInvalid(String),
    RangeInvalid(String),
    /// The client has as many uploads in flight as it may.
    TooManyUploads {
        client: String,
        in_flight: usize,
    },
    /// A malformed request to hoist's own API.
    BadRequest(String),
    /// No (good) credentials: 401 with the challenge that says how to get some.
    Unauthorized {
        challenge: String,
        message: String,
    },
    /// Signed in, but not allowed.
    Denied(String),
    /// Too many failed logins from this client.
    Locked {
        for_secs: u64,
    },
    /// What access control said about a change (users, tokens, rules).
    Auth(crate::auth::AuthError),
    /// What the sync layer said (its settings, runs, upstreams).
    Sync(crate::sync::SyncError),
    /// An upload error that leaves the upload resumable: sent with where it stands.
    Upload {
        error: RegistryError,
        location: String,
        id: String,
        range: String,
    },
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        ApiError::Registry(e)
    }
}

impl From<crate::sync::SyncError> for ApiError {
    fn from(e: crate::sync::SyncError) -> Self {
        match e {
            crate::sync::SyncError::Registry(r) => ApiError::Registry(r),
            other => ApiError::Sync(other),
        }
    }
}

impl From<crate::auth::AuthError> for ApiError {
    fn from(e: crate::auth::AuthError) -> Self {
        match e {
            crate::auth::AuthError::Locked { for_secs } => ApiError::Locked { for_secs },
            other => ApiError::Auth(other),
        }
    }
}

impl From<NameError> for ApiError {
    fn from(e: NameError) -> Self {
        ApiError::Registry(e.into())
    }
}

impl From<DigestError> for ApiError {
    fn from(e: DigestError) -> Self {
        ApiError::Registry(e.into())
    }
}

impl From<TagError> for ApiError {
    fn from(e: TagError) -> Self {
        ApiError::Registry(e.into())
    }
}

impl From<ReferenceError> for ApiError {
    fn from(e: ReferenceError) -> Self {
        match e {
            ReferenceError::Tag(t) => t.into(),
            ReferenceError::Digest(d) => d.into(),
        }
    }
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, String, Value) {
        let msg = self.message();
        match self {
            ApiError::Upload { error, .. } => registry_parts(error, msg),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "BAD_REQUEST", msg, Value::Null),
            ApiError::Unauthorized { .. } => {
                (StatusCode::UNAUTHORIZED, "UNAUTHORIZED", msg, Value::Null)
            }
            ApiError::Denied(_) => (StatusCode::FORBIDDEN, "DENIED", msg, Value::Null),
            ApiError::Locked { for_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                "TOOMANYREQUESTS",
                msg,
                json!({"retry_after": for_secs}),
            ),
            ApiError::Auth(e) => auth_parts(e, msg),
            ApiError::Sync(e) => sync_parts(e, msg),
            ApiError::TooManyUploads { client, in_flight } => (
                StatusCode::TOO_MANY_REQUESTS,
                "TOOMANYREQUESTS",
                msg,
                json!({"client": client, "in_flight": in_flight}),
            ),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "NOT_FOUND", msg, Value::Null),
            ApiError::MethodNotAllowed(_) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "UNSUPPORTED",
                msg,
                Value::Null,
            ),
            ApiError::PaginationInvalid(_) => (
                StatusCode::BAD_REQUEST,
                "PAGINATION_NUMBER_INVALID",
                msg,
                Value::Null,
            ),
            ApiError::RangeInvalid(_) => (
                StatusCode::BAD_REQUEST,
                "BLOB_UPLOAD_INVALID",
                msg,
                Value::Null,
            ),
            ApiError::Registry(e) => registry_parts(e, msg),
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::Registry(e) | ApiError::Upload { error: e, .. } => e.to_string(),
            ApiError::BadRequest(m) | ApiError::Denied(m) => m.clone(),
            ApiError::Unauthorized { message, .. } => message.clone(),
            ApiError::Locked { for_secs } => {
                format!("too many failed logins; try again in {for_secs} s")
            }
            ApiError::Auth(e) => e.to_string(),
            ApiError::Sync(e) => e.to_string(),
            ApiError::TooManyUploads { client, in_flight } => format!(
                "too many uploads in flight from {client} ({in_flight}); retry when one finishes"
            ),
            ApiError::NotFound => "no such endpoint".into(),
            ApiError::MethodNotAllowed(allowed) => {
                format!("method not allowed on this endpoint (allowed: {allowed})")
            }
            ApiError::PaginationInvalid(s) => format!("invalid pagination parameter: {s}"),
            ApiError::RangeInvalid(s) => format!("invalid Content-Range {s:?}"),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.parts().0
    }

    /// The status and the message a client is shown (internal details stay in the log,
    /// where a server error is written here); the console's error pages use it.
    pub fn status_and_message(&self) -> (StatusCode, String) {
        let (status, _, message, _) = self.parts();
        if status.is_server_error() {
            tracing::error!(error = %self.message(), "request failed");
        }
        (status, message)
    }

    /// The response; HEAD requests get the status and no body.
    pub fn into_response(self, head: bool) -> HttpResponse {
        let (status, code, message, detail) = self.parts();
        if status.is_server_error() {
            tracing::error!(error = %self.message(), "request failed");
        }
        let mut response = HttpResponse::build(status);
        match &self {
            ApiError::MethodNotAllowed(allowed) => {
                response.insert_header((actix_web::http::header::ALLOW, *allowed));
            }
            ApiError::TooManyUploads { .. } => {
                response.insert_header((actix_web::http::header::RETRY_AFTER, "1"));
            }
            ApiError::Locked { for_secs } => {
                response
                    .insert_header((actix_web::http::header::RETRY_AFTER, for_secs.to_string()));
            }
            ApiError::Unauthorized { challenge, .. } => {
                response.insert_header((
                    actix_web::http::header::WWW_AUTHENTICATE,
                    challenge.as_str(),
                ));
            }
            ApiError::Upload {
                location,
                id,
                range,
                ..
            } => {
                response
                    .insert_header((actix_web::http::header::LOCATION, location.as_str()))
                    .insert_header(("Docker-Upload-UUID", id.as_str()))
                    .insert_header(("Range", range.as_str()));
            }
            _ => {}
        }
        if head {
            return response.finish();
        }
        let mut entry = json!({"code": code, "message": message});
        if !detail.is_null() {
            entry["detail"] = detail;
        }
        response.json(json!({ "errors": [entry] }))
    }
}

/// Status, code, message and detail of a domain error.
fn registry_parts(e: &RegistryError, msg: String) -> (StatusCode, &'static str, String, Value) {
    use RegistryError as R;
    match e {
        R::NameInvalid(_) => (StatusCode::BAD_REQUEST, "NAME_INVALID", msg, Value::Null),
        R::NameUnknown(n) => (
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            msg,
            json!({"name": n}),
        ),
        R::TagInvalid(_) => (StatusCode::BAD_REQUEST, "TAG_INVALID", msg, Value::Null),
        R::DigestInvalid(_) => (StatusCode::BAD_REQUEST, "DIGEST_INVALID", msg, Value::Null),
        R::DigestMismatch { expected, actual } => (
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            msg,
            json!({"expected": expected, "actual": actual}),
        ),
        R::BlobUnknown(d) => (
            StatusCode::NOT_FOUND,
            "BLOB_UNKNOWN",
            msg,
            json!({"digest": d}),
        ),
        R::BlobUploadUnknown(_) => (
            StatusCode::NOT_FOUND,
            "BLOB_UPLOAD_UNKNOWN",
            msg,
            Value::Null,
        ),
        R::BlobUploadInvalid(_) => (
            StatusCode::BAD_REQUEST,
            "BLOB_UPLOAD_INVALID",
            msg,
            Value::Null,
        ),
        R::ChunkLengthMismatch { declared, received } => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            "BLOB_UPLOAD_INVALID",
            msg,
            json!({"declared": declared, "received": received}),
        ),
        R::BodyStalled(_) => (
            StatusCode::REQUEST_TIMEOUT,
            "BLOB_UPLOAD_INVALID",
            msg,
            Value::Null,
        ),
        // No spec code fits; DENIED is one clients print plainly with the message
        // ("denied: insufficient storage: ...") and do not retry.
        R::InsufficientStorage(_) => (StatusCode::INSUFFICIENT_STORAGE, "DENIED", msg, Value::Null),
        R::Unconvertible(_) => (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN", msg, Value::Null),
        // The client may try again; the message names the upstream and what it answered.
        R::UpstreamUnavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            msg,
            Value::Null,
        ),
        R::ChunkOutOfOrder { offset, .. } => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            "BLOB_UPLOAD_INVALID",
            msg,
            json!({"offset": offset}),
        ),
        R::ManifestInvalid(_) => (
            StatusCode::BAD_REQUEST,
            "MANIFEST_INVALID",
            msg,
            Value::Null,
        ),
        R::ManifestUnverified(_) => (
            StatusCode::BAD_REQUEST,
            "MANIFEST_UNVERIFIED",
            msg,
            Value::Null,
        ),
        R::ManifestBlobUnknown(d) => (
            StatusCode::BAD_REQUEST,
            "MANIFEST_BLOB_UNKNOWN",
            msg,
            json!({"digest": d}),
        ),
        R::ManifestUnknown(_) => (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN", msg, Value::Null),
        R::ManifestTooLarge { limit } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "SIZE_INVALID",
            msg,
            json!({"limit": limit}),
        ),
        R::Unsupported(_) => (StatusCode::BAD_REQUEST, "UNSUPPORTED", msg, Value::Null),
        R::Store(_) | R::Internal(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN",
            "internal server error".into(),
            Value::Null,
        ),
    }
}

/// Status, code, message and detail of a sync error (hoist's own API, not the spec's).
fn sync_parts(
    e: &crate::sync::SyncError,
    msg: String,
) -> (StatusCode, &'static str, String, Value) {
    use crate::sync::SyncError as S;
    match e {
        S::Settings(_) => (
            StatusCode::BAD_REQUEST,
            "INVALID_SETTINGS",
            msg,
            Value::Null,
        ),
        S::NotFound(_) => (StatusCode::NOT_FOUND, "NOT_FOUND", msg, Value::Null),
        S::Conflict(_) => (StatusCode::CONFLICT, "CONFLICT", msg, Value::Null),
        S::Upstream(_) | S::Content(_) => (StatusCode::BAD_GATEWAY, "UPSTREAM", msg, Value::Null),
        S::Stopped => (
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            msg,
            Value::Null,
        ),
        S::Registry(r) => registry_parts(r, msg),
        S::Store(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN",
            "internal server error".into(),
            Value::Null,
        ),
    }
}

/// Status, code, message and detail of an access-control error (hoist's own API).
fn auth_parts(
    e: &crate::auth::AuthError,
    msg: String,
) -> (StatusCode, &'static str, String, Value) {
    use crate::auth::AuthError as A;
    match e {
        A::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED", msg, Value::Null),
        A::Locked { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "TOOMANYREQUESTS",
            msg,
            Value::Null,
        ),
        A::Forbidden(_) => (StatusCode::FORBIDDEN, "DENIED", msg, Value::Null),
        A::NotFound(_) => (StatusCode::NOT_FOUND, "NOT_FOUND", msg, Value::Null),
        A::Conflict(_) => (StatusCode::CONFLICT, "CONFLICT", msg, Value::Null),
        A::Invalid(_) => (StatusCode::BAD_REQUEST, "BAD_REQUEST", msg, Value::Null),
        A::Store(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN",
            "internal server error".into(),
            Value::Null,
        ),
    }
}
