//! What configures one upstream: where it is, how to log in, how to trust its TLS, and how
//! hard hoist may press it. Secrets print as `***` wherever they are formatted.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// One upstream registry as the configuration describes it.
#[derive(Debug, Clone)]
pub struct UpstreamSpec {
    /// Hoist's name for the upstream (logs, errors, the console).
    pub name: String,
    /// Base URL, e.g. `https://registry-1.docker.io` or `http://127.0.0.1:5000`.
    pub url: String,
    pub credentials: Credentials,
    /// `false`: accept any certificate.
    pub tls_verify: bool,
    /// Extra PEM CA certificate(s) to trust.
    pub ca_file: Option<PathBuf>,
    /// Requests in flight at once; a blob body being streamed counts until it is dropped.
    pub max_concurrency: usize,
    /// Requests started per second (a token bucket), if limited.
    pub max_requests_per_second: Option<f64>,
    /// Connecting plus waiting for the response headers; bodies are the caller's business.
    pub timeout: Duration,
}

impl UpstreamSpec {
    /// Concurrency used by [`UpstreamSpec::new`].
    pub const DEFAULT_MAX_CONCURRENCY: usize = 8;
    /// Timeout used by [`UpstreamSpec::new`].
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// An anonymous upstream with verified TLS, 8 requests at once, no rate limit and a 30 s
    /// timeout; set the fields to change any of it.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> UpstreamSpec {
        UpstreamSpec {
            name: name.into(),
            url: url.into(),
            credentials: Credentials::Anonymous,
            tls_verify: true,
            ca_file: None,
            max_concurrency: Self::DEFAULT_MAX_CONCURRENCY,
            max_requests_per_second: None,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }
}

/// How hoist identifies itself to the upstream (and to its token service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    Anonymous,
    Basic { username: String, password: Secret },
}

impl Credentials {
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials::Basic {
            username: username.into(),
            password: Secret::new(password),
        }
    }
}

/// A password or token. Formatting never shows it; only [`Secret::expose`] does.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_format() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(s.expose(), "hunter2");
        let creds = Credentials::basic("alice", "hunter2");
        let shown = format!("{creds:?}");
        assert!(
            shown.contains("alice") && !shown.contains("hunter2"),
            "{shown}"
        );
        let mut spec = UpstreamSpec::new("hub", "https://registry-1.docker.io");
        spec.credentials = creds;
        assert!(!format!("{spec:?}").contains("hunter2"));
    }
}
