//! The HTTP client of one upstream registry (Docker Registry HTTP API v2 / OCI distribution):
//! manifests, tags, the catalog and blobs, with Docker's auth flow, TLS options, per-upstream
//! limits and retries of transient failures. The sync worker and pull-through call it.

mod auth;
mod blob;
mod error;
mod headers;
mod limits;
mod paths;
mod retry;
mod spec;
mod transport;

#[cfg(test)]
mod fake_tests;

pub use blob::BlobResponse;
pub use error::UpstreamError;
pub use spec::{Credentials, Secret, UpstreamSpec};

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, RANGE};
use reqwest::{Method, Url};

use auth::TokenCache;
use limits::Limits;
use transport::{Body, BodyMode, Outcome, Req, Transport};

/// Largest manifest read.
pub const MANIFEST_LIMIT: usize = 4 * 1024 * 1024;
/// Largest page of a tag or repository listing read.
const LISTING_PAGE_LIMIT: usize = 32 * 1024 * 1024;
/// Pages of one listing followed at most.
const MAX_PAGES: usize = 100_000;
/// Page size asked of listings.
const PAGE_SIZE: u32 = 1000;

const DOCKER_CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");
const USER_AGENT: &str = concat!("hoist/", env!("CARGO_PKG_VERSION"));

/// What a manifest HEAD told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestHead {
    /// `Docker-Content-Digest`.
    pub digest: Option<String>,
    /// `Content-Type`, without parameters.
    pub media_type: Option<String>,
    /// `Content-Length`.
    pub size: Option<u64>,
}

/// A manifest as the upstream sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedManifest {
    /// `Docker-Content-Digest`, as sent (not checked against the body here).
    pub digest_header: Option<String>,
    /// `Content-Type`, without parameters.
    pub media_type: Option<String>,
    pub body: Bytes,
}

/// The client of one upstream; cheap to clone, and every clone shares the limits and tokens.
#[derive(Debug, Clone)]
pub struct UpstreamClient {
    inner: Arc<Transport>,
}

impl UpstreamClient {
    /// A client for `spec`. Fails with `Invalid` for a bad URL, limit or CA file.
    pub fn new(spec: UpstreamSpec) -> Result<UpstreamClient, UpstreamError> {
        let base = paths::parse_base(&spec.url)?;
        if spec.timeout.is_zero() {
            return Err(UpstreamError::Invalid("timeout must not be zero".into()));
        }
        let limits = Limits::new(spec.max_concurrency, spec.max_requests_per_second)?;
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(spec.timeout)
            .user_agent(USER_AGENT)
            .danger_accept_invalid_certs(!spec.tls_verify);
        if let Some(path) = &spec.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| UpstreamError::Invalid(format!("ca_file {}: {e}", path.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| UpstreamError::Invalid(format!("ca_file {}: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(UpstreamError::Invalid(format!(
                    "ca_file {} holds no PEM certificate",
                    path.display()
                )));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| UpstreamError::Invalid(format!("HTTP client: {e}")))?;
        Ok(UpstreamClient {
            inner: Arc::new(Transport {
                name: spec.name,
                base,
                http,
                timeout: spec.timeout,
                limits,
                credentials: spec.credentials,
                tokens: TokenCache::default(),
                basic_preemptive: AtomicBool::new(false),
            }),
        })
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The upstream's base URL.
    pub fn url(&self) -> &Url {
        &self.inner.base
    }

    /// HEAD /v2/<repo>/manifests/<reference> with `accept`; None on 404.
    ///
    /// An empty `accept` sends no media type of its own (see [`UpstreamClient::get_manifest`]).
    pub async fn head_manifest(
        &self,
        repo: &str,
        reference: &str,
        accept: &[&str],
    ) -> Result<Option<ManifestHead>, UpstreamError> {
        let out = self
            .manifest_request(Method::HEAD, repo, reference, Some(accept))
            .await?;
        if out.status == 404 {
            return Ok(None);
        }
        if !out.is_success() {
            return Err(out.into_error());
        }
        Ok(Some(ManifestHead {
            digest: headers::header_str(&out.headers, DOCKER_CONTENT_DIGEST),
            media_type: media_type(&out.headers),
            size: headers::content_length(&out.headers),
        }))
    }

    /// GET a manifest; None on 404. `accept: Some(list)` sends the types joined by ", ";
    /// `None` asks the way Docker 1.9 did, naming no media type (distribution 2.8 answers a
    /// signed schema1 for a schema2 image). The HTTP stack underneath (reqwest) sends
    /// `Accept: */*` when a request has no Accept header and cannot be told not to, so that is
    /// what goes out: distribution compares media types exactly and treats it like no header.
    /// The body is limited to 4 MiB (`Invalid` beyond).
    pub async fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
        accept: Option<&[&str]>,
    ) -> Result<Option<FetchedManifest>, UpstreamError> {
        let out = self
            .manifest_request(Method::GET, repo, reference, accept)
            .await?;
        if out.status == 404 {
            return Ok(None);
        }
        if !out.is_success() {
            return Err(out.into_error());
        }
        Ok(Some(FetchedManifest {
            digest_header: headers::header_str(&out.headers, DOCKER_CONTENT_DIGEST),
            media_type: media_type(&out.headers),
            body: Bytes::copy_from_slice(out.bytes()),
        }))
    }

    /// Every tag of `repo`, following `Link: <...>; rel="next"` pages. 404 is `NotFound`.
    pub async fn list_tags(&self, repo: &str) -> Result<Vec<String>, UpstreamError> {
        let repo = paths::check_repo(repo)?;
        let url = paths::v2(&self.inner.base, &format!("{repo}/tags/list"))?;
        #[derive(serde::Deserialize)]
        struct Page {
            tags: Option<Vec<String>>,
        }
        let scope = repo_scope(repo);
        self.listing(url, &scope, |body| {
            serde_json::from_slice::<Page>(body).map(|p| p.tags.unwrap_or_default())
        })
        .await
    }

    /// Every repository name from /v2/_catalog, following pages. An upstream without a
    /// catalog (Docker Hub) gives its error as it is.
    pub async fn catalog(&self) -> Result<Vec<String>, UpstreamError> {
        let url = paths::v2(&self.inner.base, "_catalog")?;
        #[derive(serde::Deserialize)]
        struct Page {
            repositories: Option<Vec<String>>,
        }
        self.listing(url, "registry:catalog:*", |body| {
            serde_json::from_slice::<Page>(body).map(|p| p.repositories.unwrap_or_default())
        })
        .await
    }

    /// GET /v2/<repo>/blobs/<digest> from byte `from` (a `Range: bytes=<from>-` when
    /// `from > 0`), following redirects (the upstream's credentials never go to another
    /// host). None on 404. `start` says where the body really starts.
    pub async fn get_blob(
        &self,
        repo: &str,
        digest: &str,
        from: u64,
    ) -> Result<Option<BlobResponse>, UpstreamError> {
        let repo = paths::check_repo(repo)?;
        let digest = paths::check_digest(digest)?;
        let url = paths::v2(&self.inner.base, &format!("{repo}/blobs/{digest}"))?;
        let mut headers = HeaderMap::new();
        if from > 0 {
            headers.insert(RANGE, header_value(&format!("bytes={from}-"))?);
        }
        let scope = repo_scope(repo);
        let out = self
            .inner
            .send(&Req {
                method: Method::GET,
                url,
                headers,
                scope: &scope,
                auth_to: &self.inner.base,
                body: BodyMode::Stream,
            })
            .await?;
        if out.status == 404 {
            return Ok(None);
        }
        if !out.is_success() {
            return Err(out.into_error());
        }
        let (start, total) = blob::blob_extent(out.status, &out.headers, from)?;
        match out.body {
            Body::Stream(response, permit) => Ok(Some(BlobResponse {
                start,
                total,
                body: blob::permitted_body(response, permit),
            })),
            Body::Bytes(_) => Err(UpstreamError::Invalid(
                "blob body was read instead of streamed".into(),
            )),
        }
    }

    /// HEAD /v2/<repo>/blobs/<digest>: the blob's size; None on 404. A 2xx without a
    /// `Content-Length` is `Invalid`.
    pub async fn head_blob(&self, repo: &str, digest: &str) -> Result<Option<u64>, UpstreamError> {
        let repo = paths::check_repo(repo)?;
        let digest = paths::check_digest(digest)?;
        let url = paths::v2(&self.inner.base, &format!("{repo}/blobs/{digest}"))?;
        let scope = repo_scope(repo);
        let out = self
            .inner
            .send(&Req {
                method: Method::HEAD,
                url,
                headers: HeaderMap::new(),
                scope: &scope,
                auth_to: &self.inner.base,
                body: BodyMode::Read {
                    limit: MANIFEST_LIMIT,
                },
            })
            .await?;
        if out.status == 404 {
            return Ok(None);
        }
        if !out.is_success() {
            return Err(out.into_error());
        }
        headers::content_length(&out.headers)
            .map(Some)
            .ok_or_else(|| UpstreamError::Invalid("blob HEAD answer without Content-Length".into()))
    }

    async fn manifest_request(
        &self,
        method: Method,
        repo: &str,
        reference: &str,
        accept: Option<&[&str]>,
    ) -> Result<Outcome, UpstreamError> {
        let repo = paths::check_repo(repo)?;
        let reference = paths::check_reference(reference)?;
        let url = paths::v2(&self.inner.base, &format!("{repo}/manifests/{reference}"))?;
        let mut headers = HeaderMap::new();
        if let Some(types) = accept.filter(|t| !t.is_empty()) {
            headers.insert(ACCEPT, header_value(&types.join(", "))?);
        }
        let scope = repo_scope(repo);
        self.inner
            .send(&Req {
                method,
                url,
                headers,
                scope: &scope,
                auth_to: &self.inner.base,
                body: BodyMode::Read {
                    limit: MANIFEST_LIMIT,
                },
            })
            .await
    }

    /// All entries of the paginated listing at `base`, asking for pages of 1000. A registry
    /// whose page limit is lower (distribution's `catalog.maxentries`) refuses that with 400
    /// `PAGINATION_NUMBER_INVALID`; then the first page is asked for again without a size, and
    /// the registry's own page size applies.
    async fn listing(
        &self,
        base: Url,
        scope: &str,
        parse: impl Fn(&[u8]) -> serde_json::Result<Vec<String>>,
    ) -> Result<Vec<String>, UpstreamError> {
        let mut url = base.clone();
        url.query_pairs_mut()
            .append_pair("n", &PAGE_SIZE.to_string());
        let mut all = Vec::new();
        let mut seen = HashSet::new();
        let mut page_size_refused = false;
        for _ in 0..MAX_PAGES {
            let out = self
                .inner
                .send(&Req {
                    method: Method::GET,
                    url: url.clone(),
                    headers: HeaderMap::new(),
                    scope,
                    auth_to: &self.inner.base,
                    body: BodyMode::Read {
                        limit: LISTING_PAGE_LIMIT,
                    },
                })
                .await?;
            if !out.is_success() {
                let error = out.into_error();
                if all.is_empty() && !page_size_refused && refuses_page_size(&error) {
                    page_size_refused = true;
                    url = base.clone();
                    continue;
                }
                return Err(error);
            }
            let page = parse(out.bytes()).map_err(|e| {
                UpstreamError::Invalid(format!(
                    "listing page {} is not the expected JSON: {e}",
                    paths::redact(&url)
                ))
            })?;
            all.extend(page);
            seen.insert(url.clone());
            let links = out
                .headers
                .get_all(reqwest::header::LINK)
                .iter()
                .filter_map(|v| v.to_str().ok());
            match headers::next_link(links, &out.url) {
                None => return Ok(all),
                Some(next) if seen.contains(&next) => {
                    return Err(UpstreamError::Invalid(format!(
                        "listing pages loop back to {}",
                        paths::redact(&next)
                    )))
                }
                Some(next) => url = next,
            }
        }
        Err(UpstreamError::Invalid(format!(
            "listing has more than {MAX_PAGES} pages"
        )))
    }
}

fn refuses_page_size(error: &UpstreamError) -> bool {
    matches!(error, UpstreamError::Status { status: 400, code: Some(code), .. } if code == "PAGINATION_NUMBER_INVALID")
}

/// The scope a request on `repo` needs when a challenge names none.
fn repo_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

fn header_value(value: &str) -> Result<HeaderValue, UpstreamError> {
    HeaderValue::from_str(value)
        .map_err(|_| UpstreamError::Invalid(format!("{value:?} cannot be a header value")))
}

fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers::header_str(headers, CONTENT_TYPE)?;
    let essence = value.split(';').next().unwrap_or_default().trim();
    (!essence.is_empty()).then(|| essence.to_owned())
}
