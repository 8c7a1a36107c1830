//! The URLs of the `/v2` API on an upstream, built only from names checked to be safe in a
//! path, and URLs as they may appear in logs and errors (no query: a redirect target's query
//! may be a signature).

use reqwest::Url;

use super::UpstreamError;
use crate::oci::RepoName;

/// The upstream's base URL: http or https, no credentials, query or fragment; kept without a
/// trailing slash.
pub fn parse_base(url: &str) -> Result<Url, UpstreamError> {
    let parsed = Url::parse(url.trim())
        .map_err(|e| UpstreamError::Invalid(format!("upstream URL {url:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(UpstreamError::Invalid(format!(
            "upstream URL {url:?}: the scheme must be http or https"
        )));
    }
    if parsed.host_str().is_none() {
        return Err(UpstreamError::Invalid(format!(
            "upstream URL {url:?} has no host"
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // Not echoed: it holds credentials.
        return Err(UpstreamError::Invalid(
            "upstream URL must not hold credentials; set them in the upstream's credentials".into(),
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(UpstreamError::Invalid(format!(
            "upstream URL {url:?} must not have a query or fragment"
        )));
    }
    Ok(parsed)
}

/// `<base>/v2/<rest>`; `rest` is built from checked parts.
pub fn v2(base: &Url, rest: &str) -> Result<Url, UpstreamError> {
    let text = format!("{}/v2/{rest}", base.as_str().trim_end_matches('/'));
    Url::parse(&text).map_err(|e| UpstreamError::Invalid(format!("URL {text:?}: {e}")))
}

/// A repository name by the distribution grammar.
pub fn check_repo(repo: &str) -> Result<&str, UpstreamError> {
    RepoName::parse(repo)
        .map(|_| repo)
        .map_err(|e| UpstreamError::Invalid(e.to_string()))
}

/// A tag or a digest: characters safe in a path segment only.
pub fn check_reference(reference: &str) -> Result<&str, UpstreamError> {
    let ok = !reference.is_empty()
        && reference.len() <= 512
        && !reference.starts_with(['.', '-'])
        && reference
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:+=-".contains(c));
    if ok {
        Ok(reference)
    } else {
        Err(UpstreamError::Invalid(format!(
            "{reference:?} is not a tag or digest"
        )))
    }
}

/// A digest (`algorithm:encoded`), checked as a reference.
pub fn check_digest(digest: &str) -> Result<&str, UpstreamError> {
    match digest.split_once(':') {
        Some((alg, enc)) if !alg.is_empty() && !enc.is_empty() => check_reference(digest),
        _ => Err(UpstreamError::Invalid(format!(
            "{digest:?} is not a digest"
        ))),
    }
}

/// A URL for logs and messages: scheme, host, port and path only.
pub fn redact(url: &Url) -> String {
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    shown.push_str(url.path());
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases() {
        let b = parse_base("https://registry-1.docker.io").unwrap();
        assert_eq!(
            v2(&b, "library/alpine/tags/list?n=1000").unwrap().as_str(),
            "https://registry-1.docker.io/v2/library/alpine/tags/list?n=1000"
        );
        let b = parse_base("http://127.0.0.1:5000/").unwrap();
        assert_eq!(
            v2(&b, "_catalog").unwrap().as_str(),
            "http://127.0.0.1:5000/v2/_catalog"
        );
        let b = parse_base("https://mirror.example/prefix/").unwrap();
        assert_eq!(
            v2(&b, "a/manifests/1").unwrap().as_str(),
            "https://mirror.example/prefix/v2/a/manifests/1"
        );
        for bad in [
            "registry-1.docker.io",
            "ftp://x",
            "https://u:p@x",
            "https://x/?a=b",
            "https://x/#f",
            "",
        ] {
            assert!(parse_base(bad).is_err(), "{bad}");
        }
        let e = parse_base("https://user:hunter2@x")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn names_and_references() {
        assert!(check_repo("library/alpine").is_ok());
        assert!(check_repo("a/../b").is_err());
        assert!(check_repo("A").is_err());
        for ok in ["latest", "v1.2.3-rc_1", "sha256:abcd", "sha256+b64u:ab=="] {
            assert!(check_reference(ok).is_ok(), "{ok}");
        }
        for bad in ["", "..", ".x", "-x", "a/b", "a b", "a?b", "a#b", "a%2F"] {
            assert!(check_reference(bad).is_err(), "{bad}");
        }
        assert!(check_digest("sha256:ab").is_ok());
        for bad in ["latest", ":ab", "sha256:", "sha256:a/b"] {
            assert!(check_digest(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redaction_drops_queries() {
        let u = Url::parse("https://s3.example:8443/bucket/blob?X-Amz-Signature=secret").unwrap();
        assert_eq!(redact(&u), "https://s3.example:8443/bucket/blob");
    }
}
