//! What can go wrong talking to an upstream, and which of it is worth trying again later.
//! Messages never carry credentials, tokens or signed URLs.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Connect, DNS, TLS, a timeout, or the connection failing mid-answer.
    #[error("upstream unreachable: {0}")]
    Unreachable(String),
    /// A non-2xx answer not covered by another variant, with the spec error body if any.
    #[error("upstream answered {status}{}: {message}", code.as_deref().map(|c| format!(" {c}")).unwrap_or_default())]
    Status {
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// 429 still, after the retries.
    #[error("upstream is rate limiting{}", retry_after.map(|d| format!(" (retry after {} s)", d.as_secs())).unwrap_or_default())]
    RateLimited { retry_after: Option<Duration> },
    /// The upstream or its token service refused the credentials, or gave no usable token.
    #[error("upstream refused the credentials (unauthorized)")]
    Unauthorized,
    #[error("not found upstream")]
    NotFound,
    /// A bad URL or name, a malformed answer, or a body over its limit.
    #[error("invalid: {0}")]
    Invalid(String),
}

impl UpstreamError {
    /// Unreachable, timeouts, 429 and 5xx: the caller may serve its own copy or try later.
    pub fn is_transient(&self) -> bool {
        match self {
            UpstreamError::Unreachable(_) | UpstreamError::RateLimited { .. } => true,
            UpstreamError::Status { status, .. } => (500..600).contains(status),
            UpstreamError::Unauthorized | UpstreamError::NotFound | UpstreamError::Invalid(_) => {
                false
            }
        }
    }

    /// The HTTP status behind the error, where there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            UpstreamError::Status { status, .. } => Some(*status),
            UpstreamError::RateLimited { .. } => Some(429),
            UpstreamError::Unauthorized => Some(401),
            UpstreamError::NotFound => Some(404),
            UpstreamError::Unreachable(_) | UpstreamError::Invalid(_) => None,
        }
    }

    /// A `Status` error from a status and its body: the first entry of a spec error body
    /// (`{"errors":[{"code","message"}]}`), else the start of the body as text.
    pub(crate) fn from_status(status: u16, body: &[u8]) -> UpstreamError {
        let (code, message) = match parse_error_body(body) {
            Some((code, message)) => (Some(code), message),
            None => (None, body_excerpt(body)),
        };
        UpstreamError::Status {
            status,
            code,
            message,
        }
    }

    /// A transport failure from reqwest, without the URL (a redirect target may be signed).
    pub(crate) fn from_reqwest(e: reqwest::Error) -> UpstreamError {
        let timeout = e.is_timeout();
        let e = e.without_url();
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        if timeout {
            text = format!("timed out: {text}");
        }
        UpstreamError::Unreachable(text)
    }
}

/// Longest excerpt of a non-spec error body kept in a message.
const EXCERPT_CHARS: usize = 200;

fn parse_error_body(body: &[u8]) -> Option<(String, String)> {
    #[derive(serde::Deserialize)]
    struct Body {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        code: String,
        #[serde(default)]
        message: String,
    }
    let parsed: Body = serde_json::from_slice(body).ok()?;
    let first = parsed.errors.into_iter().next()?;
    Some((first.code, first.message))
}

fn body_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(EXCERPT_CHARS)
        .collect();
    let text = text.trim();
    if text.is_empty() {
        "(no body)".to_owned()
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_error_body_gives_code_and_message() {
        let e = UpstreamError::from_status(
            400,
            br#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid","detail":{}}]}"#,
        );
        match &e {
            UpstreamError::Status {
                status,
                code,
                message,
            } => {
                assert_eq!(*status, 400);
                assert_eq!(code.as_deref(), Some("MANIFEST_INVALID"));
                assert_eq!(message, "manifest invalid");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            e.to_string(),
            "upstream answered 400 MANIFEST_INVALID: manifest invalid"
        );
        assert!(!e.is_transient());
    }

    #[test]
    fn other_bodies_become_a_short_message() {
        let e = UpstreamError::from_status(502, b"<html>\r\nBad Gateway</html>");
        assert!(e.is_transient());
        match e {
            UpstreamError::Status { code, message, .. } => {
                assert_eq!(code, None);
                assert_eq!(message, "<html>  Bad Gateway</html>");
            }
            other => panic!("{other:?}"),
        }
        let long = vec![b'x'; 10_000];
        match UpstreamError::from_status(500, &long) {
            UpstreamError::Status { message, .. } => assert_eq!(message.len(), EXCERPT_CHARS),
            other => panic!("{other:?}"),
        }
        match UpstreamError::from_status(503, b"") {
            UpstreamError::Status { message, .. } => assert_eq!(message, "(no body)"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn transience() {
        assert!(UpstreamError::Unreachable("x".into()).is_transient());
        assert!(UpstreamError::RateLimited { retry_after: None }.is_transient());
        assert!(!UpstreamError::Unauthorized.is_transient());
        assert!(!UpstreamError::NotFound.is_transient());
        assert!(!UpstreamError::Invalid("x".into()).is_transient());
        assert!(!UpstreamError::from_status(403, b"").is_transient());
        assert_eq!(
            UpstreamError::RateLimited {
                retry_after: Some(Duration::from_secs(7))
            }
            .to_string(),
            "upstream is rate limiting (retry after 7 s)"
        );
    }
}
