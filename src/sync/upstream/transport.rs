//! One request to the upstream, all the way: a place under the limits, the send with its
//! timeout, redirects (the upstream's `Authorization` goes to its own origin only), retries of
//! transient failures, and answering auth challenges with a token or Basic credentials.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, AUTHORIZATION, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, Response, Url};
use tokio::sync::OwnedSemaphorePermit;

use super::auth::{
    parse_challenges, parse_token_response, Authorization, TokenCache, TokenRequest,
};
use super::headers::{content_length, header_str};
use super::limits::Limits;
use super::paths::redact;
use super::retry::{honours_retry_after, is_retryable_status, parse_retry_after, MAX_RETRIES};
use super::{retry, Credentials, Secret, UpstreamError};

/// Redirects followed for one request.
const MAX_REDIRECTS: usize = 10;
/// Most of an error body kept for its message.
const ERROR_BODY_LIMIT: usize = 64 * 1024;
/// Largest token service answer read.
const TOKEN_BODY_LIMIT: usize = 1024 * 1024;

/// Everything one upstream's requests share.
#[derive(Debug)]
pub struct Transport {
    pub name: String,
    pub base: Url,
    pub http: reqwest::Client,
    pub timeout: Duration,
    pub limits: Limits,
    pub credentials: Credentials,
    pub tokens: TokenCache,
    /// Set once the upstream asked for Basic auth and took the credentials.
    pub basic_preemptive: AtomicBool,
}

/// What to do with the body of a 2xx answer.
#[derive(Debug, Clone, Copy)]
pub enum BodyMode {
    /// Read it all, failing with `Invalid` past this many bytes.
    Read { limit: usize },
    /// Hand it over unread, with the request's place under the limits.
    Stream,
}

/// A request: idempotent (GET or HEAD), so it may be sent again.
#[derive(Debug)]
pub struct Req<'a> {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    /// The scope a Bearer challenge without one gets (`repository:<repo>:pull`).
    pub scope: &'a str,
    /// `Authorization` goes only to this URL's origin (the upstream's, or the token
    /// service's), never to where a redirect or a page link leads elsewhere.
    pub auth_to: &'a Url,
    pub body: BodyMode,
}

/// An answer: status, headers, the URL that gave it (after redirects) and its body.
#[derive(Debug)]
pub struct Outcome {
    pub status: u16,
    pub headers: HeaderMap,
    pub url: Url,
    pub body: Body,
}

#[derive(Debug)]
pub enum Body {
    /// The whole body (of an error answer: its first 64 KiB).
    Bytes(Bytes),
    /// A 2xx body not yet read, and the place it holds under the limits.
    Stream(Response, OwnedSemaphorePermit),
}

impl Outcome {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn bytes(&self) -> &[u8] {
        match &self.body {
            Body::Bytes(b) => b,
            Body::Stream(..) => &[],
        }
    }

    /// The error a non-2xx answer means (404 `NotFound`, 401 `Unauthorized`, 429
    /// `RateLimited`, else `Status` with the spec error body).
    pub fn into_error(self) -> UpstreamError {
        match self.status {
            401 => UpstreamError::Unauthorized,
            404 => UpstreamError::NotFound,
            429 => UpstreamError::RateLimited {
                retry_after: header_str(&self.headers, RETRY_AFTER)
                    .and_then(|v| parse_retry_after(&v, SystemTime::now())),
            },
            status => UpstreamError::from_status(status, self.bytes()),
        }
    }
}

impl Transport {
    /// Send `req` with auth: anonymously or with what is cached for its scope, then, on a 401
    /// from the upstream, once more with what the challenge asks for.
    pub async fn send(&self, req: &Req<'_>) -> Result<Outcome, UpstreamError> {
        let mut auth = self.preemptive(req.scope);
        let mut answered_challenge = false;
        loop {
            let out = self.send_retrying(req, auth.as_ref()).await?;
            let from_upstream = out.url.origin() == self.base.origin();
            if out.status != 401 || !from_upstream {
                if answered_challenge && matches!(auth, Some(Authorization::Basic { .. })) {
                    self.basic_preemptive.store(true, Ordering::Relaxed);
                }
                return Ok(out);
            }
            if let Some(Authorization::Bearer(token)) = &auth {
                self.tokens.forget_for_request(req.scope, token);
            }
            if answered_challenge {
                tracing::debug!(
                    upstream = %self.name,
                    url = %redact(&req.url),
                    auth = auth.as_ref().map(Authorization::kind),
                    "upstream refused the authorization it asked for"
                );
                return Err(UpstreamError::Unauthorized);
            }
            auth = Some(
                self.answer_challenge(&out.headers, req.scope, auth.as_ref())
                    .await?,
            );
            answered_challenge = true;
        }
    }

    /// The `Authorization` to send before any challenge: Basic once the upstream asked for
    /// it, else a cached token for the scope.
    fn preemptive(&self, scope: &str) -> Option<Authorization> {
        if let Credentials::Basic { username, password } = &self.credentials {
            if self.basic_preemptive.load(Ordering::Relaxed) {
                return Some(Authorization::Basic {
                    username: username.clone(),
                    password: password.clone(),
                });
            }
        }
        self.tokens.for_request(scope).map(Authorization::Bearer)
    }

    async fn answer_challenge(
        &self,
        headers: &HeaderMap,
        scope: &str,
        sent: Option<&Authorization>,
    ) -> Result<Authorization, UpstreamError> {
        let lines = headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok());
        let challenges = parse_challenges(lines);
        if let Some(bearer) = challenges.iter().find(|c| c.is("bearer")) {
            let request = TokenRequest::from_challenge(bearer, scope)?;
            return self.token(&request, scope).await.map(Authorization::Bearer);
        }
        if challenges.iter().any(|c| c.is("basic")) {
            if let Credentials::Basic { username, password } = &self.credentials {
                if !matches!(sent, Some(Authorization::Basic { .. })) {
                    return Ok(Authorization::Basic {
                        username: username.clone(),
                        password: password.clone(),
                    });
                }
            }
            tracing::debug!(upstream = %self.name, "upstream wants Basic credentials that were refused or are not configured");
            return Err(UpstreamError::Unauthorized);
        }
        tracing::debug!(
            upstream = %self.name,
            schemes = ?challenges.iter().map(|c| c.scheme.as_str()).collect::<Vec<_>>(),
            "401 without a Bearer or Basic challenge"
        );
        Err(UpstreamError::Unauthorized)
    }

    /// A token for `request`: cached, or fetched once however many requests want it.
    async fn token(&self, request: &TokenRequest, scope: &str) -> Result<Secret, UpstreamError> {
        let key = request.cache_key();
        let fetching = self.tokens.fetch_lock(&key);
        let _one_fetch = fetching.lock().await;
        if let Some(token) = self.tokens.get(&key) {
            self.tokens.link(scope, &key);
            return Ok(token);
        }
        let basic = match &self.credentials {
            Credentials::Basic { username, password } => Some(Authorization::Basic {
                username: username.clone(),
                password: password.clone(),
            }),
            Credentials::Anonymous => None,
        };
        let req = Req {
            method: Method::GET,
            url: request.url(),
            headers: HeaderMap::new(),
            scope,
            auth_to: &request.realm,
            body: BodyMode::Read {
                limit: TOKEN_BODY_LIMIT,
            },
        };
        tracing::debug!(
            upstream = %self.name,
            realm = %redact(&request.realm),
            scopes = %request.scopes.join(" "),
            with_credentials = basic.is_some(),
            "fetching a registry token"
        );
        let out = self.send_retrying(&req, basic.as_ref()).await?;
        if matches!(out.status, 401 | 403) {
            tracing::debug!(upstream = %self.name, status = out.status, "token service refused");
            return Err(UpstreamError::Unauthorized);
        }
        if !out.is_success() {
            return Err(out.into_error());
        }
        let (token, lifetime) = parse_token_response(out.bytes())?;
        self.tokens.put(scope, &key, token.clone(), lifetime);
        Ok(token)
    }

    /// [`Transport::send_once`], again after transient failures (connect errors, timeouts,
    /// 429, 500, 502, 503, 504), with backoff or the upstream's `Retry-After`.
    pub async fn send_retrying(
        &self,
        req: &Req<'_>,
        auth: Option<&Authorization>,
    ) -> Result<Outcome, UpstreamError> {
        let mut retry = 0;
        loop {
            let (wait, why) = match self.send_once(req, auth).await {
                Ok(out) if is_retryable_status(out.status) && retry < MAX_RETRIES => {
                    let retry_after = if honours_retry_after(out.status) {
                        header_str(&out.headers, RETRY_AFTER)
                            .and_then(|v| parse_retry_after(&v, SystemTime::now()))
                    } else {
                        None
                    };
                    (
                        retry::wait_before_retry(retry, retry_after),
                        format!("status {}", out.status),
                    )
                }
                Err(UpstreamError::Unreachable(e)) if retry < MAX_RETRIES => {
                    (retry::wait_before_retry(retry, None), e)
                }
                other => return other,
            };
            retry += 1;
            tracing::debug!(
                upstream = %self.name,
                url = %redact(&req.url),
                retry,
                wait_ms = wait.as_millis() as u64,
                why = %why,
                "retrying an upstream request"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// One try: a place under the limits, the send (following redirects), and the body read
    /// or handed over.
    async fn send_once(
        &self,
        req: &Req<'_>,
        auth: Option<&Authorization>,
    ) -> Result<Outcome, UpstreamError> {
        let permit = self.limits.acquire().await?;
        let (response, url) = self.send_following_redirects(req, auth).await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        tracing::trace!(upstream = %self.name, method = %req.method, url = %redact(&url), status, "upstream answered");
        let body = match req.body {
            // No body, whatever Content-Length says.
            _ if req.method == Method::HEAD => Body::Bytes(Bytes::new()),
            _ if !(200..300).contains(&status) => {
                // Best effort: the status says what matters.
                Body::Bytes(
                    read_body(response, ERROR_BODY_LIMIT, self.timeout, false)
                        .await
                        .unwrap_or_default(),
                )
            }
            BodyMode::Read { limit } => {
                Body::Bytes(read_body(response, limit, self.timeout, true).await?)
            }
            BodyMode::Stream => Body::Stream(response, permit),
        };
        Ok(Outcome {
            status,
            headers,
            url,
            body,
        })
    }

    async fn send_following_redirects(
        &self,
        req: &Req<'_>,
        auth: Option<&Authorization>,
    ) -> Result<(Response, Url), UpstreamError> {
        let origin = req.auth_to.origin();
        let mut url = req.url.clone();
        let mut redirects = 0;
        loop {
            let mut builder = self
                .http
                .request(req.method.clone(), url.clone())
                .headers(req.headers.clone());
            if let Some(auth) = auth {
                if url.origin() == origin {
                    builder = builder.header(AUTHORIZATION, auth.header_value()?);
                }
            }
            let response = match tokio::time::timeout(self.timeout, builder.send()).await {
                Err(_) => {
                    return Err(UpstreamError::Unreachable(format!(
                        "{} gave no answer within {}",
                        redact(&url),
                        humantime::format_duration(self.timeout)
                    )))
                }
                Ok(Err(e)) => {
                    return Err(match UpstreamError::from_reqwest(e) {
                        UpstreamError::Unreachable(m) => {
                            UpstreamError::Unreachable(format!("{}: {m}", redact(&url)))
                        }
                        other => other,
                    })
                }
                Ok(Ok(response)) => response,
            };
            if !matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
                return Ok((response, url));
            }
            let Some(location) = header_str(response.headers(), LOCATION) else {
                return Ok((response, url));
            };
            redirects += 1;
            if redirects > MAX_REDIRECTS {
                return Err(UpstreamError::Invalid(format!(
                    "{} redirected more than {MAX_REDIRECTS} times",
                    redact(&req.url)
                )));
            }
            let next = url.join(&location).map_err(|e| {
                UpstreamError::Invalid(format!("{} redirected to a bad URL: {e}", redact(&url)))
            })?;
            if !matches!(next.scheme(), "http" | "https") {
                return Err(UpstreamError::Invalid(format!(
                    "{} redirected to a {} URL",
                    redact(&url),
                    next.scheme()
                )));
            }
            tracing::trace!(upstream = %self.name, from = %redact(&url), to = %redact(&next), "following a redirect");
            url = next;
        }
    }
}

/// A body, at most `limit` bytes; each chunk must come within `idle`. Past the limit:
/// `Invalid` if `strict`, else the first `limit` bytes.
async fn read_body(
    mut response: Response,
    limit: usize,
    idle: Duration,
    strict: bool,
) -> Result<Bytes, UpstreamError> {
    let too_large = || UpstreamError::Invalid(format!("body is larger than {limit} bytes"));
    if strict && content_length(response.headers()).is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = BytesMut::new();
    loop {
        let chunk = match tokio::time::timeout(idle, response.chunk()).await {
            Err(_) => {
                return Err(UpstreamError::Unreachable(format!(
                    "the body stalled for {}",
                    humantime::format_duration(idle)
                )))
            }
            Ok(Err(e)) => return Err(UpstreamError::from_reqwest(e)),
            Ok(Ok(None)) => return Ok(body.freeze()),
            Ok(Ok(Some(chunk))) => chunk,
        };
        if body.len() + chunk.len() > limit {
            if strict {
                return Err(too_large());
            }
            let room = limit - body.len();
            body.extend_from_slice(&chunk[..room]);
            return Ok(body.freeze());
        }
        body.extend_from_slice(&chunk);
    }
}
