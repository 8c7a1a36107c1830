//! The client against small fake registries on loopback: the Bearer and Basic flows, what goes
//! where on a redirect, retries, limits, timeouts, pagination and the body limit.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn path(&self) -> &str {
        self.target.split('?').next().unwrap()
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Never answer (to test timeouts).
    hang: bool,
}

fn reply(status: u16) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: Vec::new(),
        hang: false,
    }
}

impl Reply {
    fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.to_owned(), v.to_owned()));
        self
    }
    fn body(mut self, b: impl Into<Vec<u8>>) -> Reply {
        self.body = b.into();
        self
    }
}

type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

struct Fake {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Fake {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A fake server; `make` gets its base URL and returns the handler.
async fn fake(make: impl FnOnce(String) -> Handler) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let url = format!("http://{addr}");
    let handler = make(url.clone());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let handler = Arc::clone(&handler);
            let seen = Arc::clone(&seen2);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).into_owned();
                let mut lines = head.split("\r\n");
                let mut first = lines.next().unwrap().split(' ');
                let method = first.next().unwrap().to_owned();
                let target = first.next().unwrap().to_owned();
                let headers = lines
                    .take_while(|l| !l.is_empty())
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                    .collect();
                let request = Seen {
                    method,
                    target,
                    headers,
                };
                seen.lock().unwrap().push(request.clone());
                let r = handler(&request);
                if r.hang {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                }
                let mut out = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", r.status);
                if !r
                    .headers
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                {
                    out.push_str(&format!("Content-Length: {}\r\n", r.body.len()));
                }
                for (k, v) in &r.headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                let mut bytes = out.into_bytes();
                if request.method != "HEAD" {
                    bytes.extend_from_slice(&r.body);
                }
                let _ = conn.write_all(&bytes).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    Fake { url, seen, task }
}

fn client(url: &str, credentials: Credentials) -> UpstreamClient {
    let mut spec = UpstreamSpec::new("fake", url);
    spec.credentials = credentials;
    spec.timeout = Duration::from_secs(5);
    UpstreamClient::new(spec).unwrap()
}

const SCHEMA2: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// A registry behind a token service, Docker Hub style: `/token` hands out "tok-N" (checking
/// Basic `user:pass` when `needs_login`), and the registry wants the latest token.
fn bearer_registry(needs_login: bool, with_scope: bool) -> impl FnOnce(String) -> Handler {
    move |url| {
        let issued = Arc::new(AtomicUsize::new(0));
        Arc::new(move |r: &Seen| {
            if r.path() == "/token" {
                if needs_login && r.header("authorization") != Some("Basic dXNlcjpwYXNz") {
                    return reply(401).body(r#"{"details":"incorrect username or password"}"#);
                }
                let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
                return reply(200).body(format!(r#"{{"token":"tok-{n}","expires_in":300}}"#));
            }
            let current = format!("Bearer tok-{}", issued.load(Ordering::SeqCst));
            if r.header("authorization") != Some(current.as_str()) {
                let scope = if with_scope {
                    ",scope=\"repository:library/alpine:pull\"".to_owned()
                } else {
                    String::new()
                };
                return reply(401)
                    .header(
                        "WWW-Authenticate",
                        &format!(r#"Bearer realm="{url}/token",service="fake, the registry"{scope}"#),
                    )
                    .body(r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#);
            }
            reply(200)
                .header("Content-Type", &format!("{SCHEMA2}; charset=x"))
                .header("Docker-Content-Digest", "sha256:abc")
                .body("{\"schemaVersion\":2}")
        })
    }
}

#[tokio::test]
async fn bearer_flow_fetches_one_token_and_reuses_it() {
    let server = fake(bearer_registry(true, true)).await;
    let c = client(&server.url, Credentials::basic("user", "pass"));
    let m = c
        .get_manifest("library/alpine", "latest", Some(&[SCHEMA2, "x/y"]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.media_type.as_deref(), Some(SCHEMA2));
    assert_eq!(m.digest_header.as_deref(), Some("sha256:abc"));
    assert_eq!(&m.body[..], b"{\"schemaVersion\":2}");
    // A second request (and a clone's) goes with the cached token at once.
    let head = c
        .clone()
        .head_manifest("library/alpine", "latest", &[SCHEMA2])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head.digest.as_deref(), Some("sha256:abc"));
    assert_eq!(head.size, Some(19));

    let seen = server.seen();
    let summary: Vec<(&str, &str, Option<&str>)> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.path(), s.header("authorization")))
        .collect();
    assert_eq!(
        summary,
        [
            ("GET", "/v2/library/alpine/manifests/latest", None),
            ("GET", "/token", Some("Basic dXNlcjpwYXNz")),
            (
                "GET",
                "/v2/library/alpine/manifests/latest",
                Some("Bearer tok-1")
            ),
            (
                "HEAD",
                "/v2/library/alpine/manifests/latest",
                Some("Bearer tok-1")
            ),
        ]
    );
    assert_eq!(
        seen[1].target,
        "/token?service=fake%2C+the+registry&scope=repository%3Alibrary%2Falpine%3Apull"
    );
    assert_eq!(seen[0].header("accept"), Some(&*format!("{SCHEMA2}, x/y")));
}

#[tokio::test]
async fn bearer_without_scope_asks_for_pull_of_the_repository() {
    let server = fake(bearer_registry(false, false)).await;
    let c = client(&server.url, Credentials::Anonymous);
    let tags_like = c.head_manifest("a/b", "v1", &[]).await.unwrap();
    assert!(tags_like.is_some());
    let token = server
        .seen()
        .into_iter()
        .find(|s| s.path() == "/token")
        .unwrap();
    assert!(
        token.target.ends_with("&scope=repository%3Aa%2Fb%3Apull"),
        "{}",
        token.target
    );
    assert_eq!(token.header("authorization"), None, "anonymous token");
}

#[tokio::test]
async fn wrong_credentials_for_the_token_are_unauthorized() {
    let server = fake(bearer_registry(true, true)).await;
    let c = client(&server.url, Credentials::basic("user", "wrong"));
    let e = c
        .get_manifest("library/alpine", "latest", None)
        .await
        .unwrap_err();
    assert!(matches!(e, UpstreamError::Unauthorized), "{e:?}");
    assert!(!e.to_string().contains("wrong"));
}

#[tokio::test]
async fn a_refused_token_is_dropped_and_unauthorized() {
    let tokens = Arc::new(AtomicUsize::new(0));
    let t2 = Arc::clone(&tokens);
    let server = fake(move |url| {
        Arc::new(move |r: &Seen| {
            if r.path() == "/token" {
                let n = t2.fetch_add(1, Ordering::SeqCst);
                return reply(200).body(format!(r#"{{"access_token":"t{n}"}}"#));
            }
            reply(401).header(
                "Www-Authenticate",
                &format!(r#"Bearer realm="{url}/token""#),
            )
        })
    })
    .await;
    let c = client(&server.url, Credentials::Anonymous);
    for _ in 0..2 {
        let e = c.list_tags("x").await.unwrap_err();
        assert!(matches!(e, UpstreamError::Unauthorized), "{e:?}");
    }
    // Each call: anonymous, token, with the token; nothing cached survives a refusal.
    assert_eq!(tokens.load(Ordering::SeqCst), 2);
    let auths: Vec<Option<String>> = server
        .seen()
        .iter()
        .filter(|s| s.path() != "/token")
        .map(|s| s.header("authorization").map(str::to_owned))
        .collect();
    assert_eq!(
        auths,
        [
            None,
            Some("Bearer t0".into()),
            None,
            Some("Bearer t1".into())
        ]
    );
}

#[tokio::test]
async fn basic_challenge_then_basic_preemptively() {
    let server = fake(|_| {
        Arc::new(|r: &Seen| {
            if r.header("authorization") == Some("Basic dXNlcjpwYXNz") {
                reply(200).body(r#"{"name":"x","tags":["a"]}"#)
            } else {
                reply(401).header("WWW-Authenticate", r#"Basic realm="Registry Realm""#)
            }
        })
    })
    .await;
    let c = client(&server.url, Credentials::basic("user", "pass"));
    assert_eq!(c.list_tags("x").await.unwrap(), ["a"]);
    assert_eq!(c.list_tags("x").await.unwrap(), ["a"]);
    let auths: Vec<Option<&str>> = server
        .seen()
        .iter()
        .map(|s| s.header("authorization").map(|_| "basic"))
        .collect::<Vec<_>>()
        .into_iter()
        .collect();
    assert_eq!(auths, [None, Some("basic"), Some("basic")]);

    let anonymous = client(&server.url, Credentials::Anonymous);
    let e = anonymous.list_tags("x").await.unwrap_err();
    assert!(matches!(e, UpstreamError::Unauthorized), "{e:?}");
    let wrong = client(&server.url, Credentials::basic("user", "nope"));
    let e = wrong.list_tags("x").await.unwrap_err();
    assert!(matches!(e, UpstreamError::Unauthorized), "{e:?}");
}

#[tokio::test]
async fn blob_redirect_keeps_range_and_drops_authorization() {
    let storage = fake(|_| {
        Arc::new(|r: &Seen| {
            assert_eq!(r.header("range"), Some("bytes=3-"));
            reply(206)
                .header("Content-Range", "bytes 3-9/10")
                .body("3456789")
        })
    })
    .await;
    let storage_url = storage.url.clone();
    let registry = fake(move |_| {
        Arc::new(move |r: &Seen| {
            if r.header("authorization").is_none() {
                return reply(401).header("WWW-Authenticate", r#"Basic realm="r""#);
            }
            reply(307).header(
                "Location",
                &format!("{storage_url}/blob?X-Amz-Signature=s3cret"),
            )
        })
    })
    .await;
    let c = client(&registry.url, Credentials::basic("user", "pass"));
    let blob = c.get_blob("x", "sha256:abcd", 3).await.unwrap().unwrap();
    assert_eq!((blob.start, blob.total), (3, Some(10)));
    let bytes: Vec<u8> = blob.body.map(|c| c.unwrap().to_vec()).concat().await;
    assert_eq!(bytes, b"3456789");
    let to_storage = storage.seen();
    assert_eq!(to_storage.len(), 1);
    assert_eq!(to_storage[0].header("authorization"), None);
    assert_eq!(to_storage[0].target, "/blob?X-Amz-Signature=s3cret");
    assert!(registry.seen()[1].header("authorization").is_some());
}

#[tokio::test]
async fn blob_without_range_support_starts_at_zero() {
    let server = fake(|_| Arc::new(|_: &Seen| reply(200).body("0123456789"))).await;
    let c = client(&server.url, Credentials::Anonymous);
    let blob = c.get_blob("x", "sha256:abcd", 5).await.unwrap().unwrap();
    assert_eq!((blob.start, blob.total), (0, Some(10)));
    assert!(c.get_blob("x", "latest", 0).await.is_err(), "not a digest");
    assert_eq!(server.seen()[0].header("range"), Some("bytes=5-"));
}

#[tokio::test]
async fn not_found_is_none_or_not_found() {
    let server = fake(|_| {
        Arc::new(|_: &Seen| {
            reply(404).body(r#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#)
        })
    })
    .await;
    let c = client(&server.url, Credentials::Anonymous);
    assert!(c.head_manifest("x", "v1", &[]).await.unwrap().is_none());
    assert!(c.get_manifest("x", "v1", None).await.unwrap().is_none());
    assert!(c.get_blob("x", "sha256:ab", 0).await.unwrap().is_none());
    assert!(matches!(
        c.list_tags("x").await,
        Err(UpstreamError::NotFound)
    ));
    assert!(matches!(c.catalog().await, Err(UpstreamError::NotFound)));
}

#[tokio::test]
async fn other_statuses_carry_the_spec_error() {
    let server = fake(|_| {
        Arc::new(|_: &Seen| {
            reply(403).body(r#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#)
        })
    })
    .await;
    let c = client(&server.url, Credentials::Anonymous);
    match c.catalog().await.unwrap_err() {
        UpstreamError::Status {
            status,
            code,
            message,
        } => {
            assert_eq!(status, 403);
            assert_eq!(code.as_deref(), Some("DENIED"));
            assert_eq!(message, "requested access to the resource is denied");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.seen().len(), 1, "403 is not retried");
}

#[tokio::test]
async fn transient_statuses_are_retried_honouring_retry_after() {
    let count = Arc::new(AtomicUsize::new(0));
    let c2 = Arc::clone(&count);
    let server = fake(move |_| {
        Arc::new(move |_: &Seen| match c2.fetch_add(1, Ordering::SeqCst) {
            0 => reply(503).header("Retry-After", "1"),
            1 => reply(429).header("Retry-After", "0"),
            2 => reply(502),
            _ => reply(200).body(r#"{"repositories":["a","b"]}"#),
        })
    })
    .await;
    let c = client(&server.url, Credentials::Anonymous);
    let started = Instant::now();
    assert_eq!(c.catalog().await.unwrap(), ["a", "b"]);
    let elapsed = started.elapsed();
    assert_eq!(count.load(Ordering::SeqCst), 4);
    // 1 s from Retry-After, 0 s, then at most 800 ms of jittered backoff.
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn persistent_429_is_rate_limited_after_four_retries() {
    let server = fake(|_| Arc::new(|_: &Seen| reply(429).header("Retry-After", "0"))).await;
    let c = client(&server.url, Credentials::Anonymous);
    let e = c.list_tags("x").await.unwrap_err();
    assert!(
        matches!(e, UpstreamError::RateLimited { retry_after: Some(d) } if d.is_zero()),
        "{e:?}"
    );
    assert!(e.is_transient());
    assert_eq!(server.seen().len(), 5);
}

#[tokio::test]
async fn unreachable_and_timeouts() {
    // A port nothing listens on.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let c = client(&format!("http://{addr}"), Credentials::Anonymous);
    let e = c.list_tags("x").await.unwrap_err();
    assert!(matches!(e, UpstreamError::Unreachable(_)), "{e:?}");
    assert!(e.is_transient());

    let hanging = fake(|_| {
        Arc::new(|_: &Seen| Reply {
            hang: true,
            ..reply(200)
        })
    })
    .await;
    let mut spec = UpstreamSpec::new("slow", hanging.url.as_str());
    spec.timeout = Duration::from_millis(100);
    let c = UpstreamClient::new(spec).unwrap();
    let started = Instant::now();
    let e = c.head_manifest("x", "v1", &[]).await.unwrap_err();
    assert!(
        matches!(&e, UpstreamError::Unreachable(m) if m.contains("no answer")),
        "{e:?}"
    );
    assert_eq!(hanging.seen().len(), 5, "timeouts are retried");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_blob_stream_holds_its_permit() {
    let server = fake(|_| {
        Arc::new(|r: &Seen| {
            if r.path().contains("/blobs/") {
                reply(200).body(vec![7u8; 100_000])
            } else {
                reply(200).header("Docker-Content-Digest", "sha256:1")
            }
        })
    })
    .await;
    let mut spec = UpstreamSpec::new("one", server.url.as_str());
    spec.max_concurrency = 1;
    let c = UpstreamClient::new(spec).unwrap();
    let blob = c.get_blob("x", "sha256:ab", 0).await.unwrap().unwrap();
    let c2 = c.clone();
    let head = tokio::spawn(async move { c2.head_manifest("x", "v1", &[]).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!head.is_finished(), "the stream still holds the only slot");
    assert_eq!(server.seen().len(), 1);
    drop(blob);
    let head = tokio::time::timeout(Duration::from_secs(5), head)
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(head.digest.as_deref(), Some("sha256:1"));
}

#[tokio::test]
async fn listings_follow_links() {
    let server = fake(|url| {
        Arc::new(move |r: &Seen| match r.target.as_str() {
            "/v2/x/tags/list?n=1000" => reply(200)
                .header("Link", r#"</v2/x/tags/list?last=b&n=1000>; rel="next""#)
                .body(r#"{"name":"x","tags":["a","b"]}"#),
            "/v2/x/tags/list?last=b&n=1000" => reply(200)
                .header(
                    "Link",
                    &format!(r#"<{url}/v2/x/tags/list?last=c>; rel="next""#),
                )
                .body(r#"{"name":"x","tags":["c"]}"#),
            "/v2/x/tags/list?last=c" => reply(200).body(r#"{"name":"x","tags":null}"#),
            "/v2/_catalog?n=1000" => reply(200)
                .header("Link", r#"</v2/_catalog?n=1000>; rel="next""#)
                .body(r#"{"repositories":["x"]}"#),
            other => panic!("unexpected {other}"),
        })
    })
    .await;
    let c = client(&server.url, Credentials::Anonymous);
    assert_eq!(c.list_tags("x").await.unwrap(), ["a", "b", "c"]);
    // A listing whose next page is itself stops with an error instead of looping.
    assert!(matches!(c.catalog().await, Err(UpstreamError::Invalid(_))));
}

#[tokio::test]
async fn manifests_over_the_limit_are_invalid() {
    let server =
        fake(|_| Arc::new(|_: &Seen| reply(200).body(vec![b' '; MANIFEST_LIMIT + 1]))).await;
    let c = client(&server.url, Credentials::Anonymous);
    let e = c.get_manifest("x", "v1", None).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Invalid(_)), "{e:?}");
    assert_eq!(server.seen().len(), 1, "not retried");
}

#[tokio::test]
async fn accept_headers_as_asked() {
    let server = fake(|_| Arc::new(|_: &Seen| reply(200).body("{}"))).await;
    let c = client(&server.url, Credentials::Anonymous);
    c.get_manifest("x", "v1", Some(&["a/b", "c/d"]))
        .await
        .unwrap();
    c.get_manifest("x", "v1", None).await.unwrap();
    let seen = server.seen();
    assert_eq!(seen[0].header("accept"), Some("a/b, c/d"));
    // reqwest's default; see get_manifest's documentation.
    assert_eq!(seen[1].header("accept"), Some("*/*"));
    assert!(seen[0].header("user-agent").unwrap().starts_with("hoist/"));
}

#[test]
fn bad_specs_are_invalid() {
    let mut spec = UpstreamSpec::new("x", "http://127.0.0.1:1");
    spec.max_concurrency = 0;
    assert!(matches!(
        UpstreamClient::new(spec),
        Err(UpstreamError::Invalid(_))
    ));
    let mut spec = UpstreamSpec::new("x", "http://127.0.0.1:1");
    spec.ca_file = Some("/nonexistent/ca.pem".into());
    assert!(UpstreamClient::new(spec).is_err());
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate").unwrap();
    let mut spec = UpstreamSpec::new("x", "http://127.0.0.1:1");
    spec.ca_file = Some(empty);
    assert!(UpstreamClient::new(spec).is_err());
    let mut spec = UpstreamSpec::new("x", "https://127.0.0.1:1");
    spec.tls_verify = false;
    assert_eq!(UpstreamClient::new(spec).unwrap().name(), "x");
}

#[tokio::test]
async fn a_refused_page_size_falls_back_to_the_registrys_own() {
    let server = fake(|_| {
        Arc::new(|r: &Seen| match r.target.as_str() {
            "/v2/_catalog?n=1000" => reply(400).body(
                r#"{"errors":[{"code":"PAGINATION_NUMBER_INVALID","message":"invalid number of results requested","detail":{"n":1000}}]}"#,
            ),
            "/v2/_catalog" => reply(200)
                .header("Link", r#"</v2/_catalog?last=b&n=2>; rel="next""#)
                .body(r#"{"repositories":["a","b"]}"#),
            "/v2/_catalog?last=b&n=2" => reply(200).body(r#"{"repositories":["c"]}"#),
            other => panic!("unexpected {other}"),
        })
    })
    .await;
    let c = client(&server.url, Credentials::Anonymous);
    assert_eq!(c.catalog().await.unwrap(), ["a", "b", "c"]);
}

#[test]
fn the_client_and_its_futures_cross_threads() {
    fn send_sync<T: Send + Sync + Clone + 'static>(_: &T) {}
    fn send<T: Send>(_: T) {}
    let c = client("http://127.0.0.1:1", Credentials::Anonymous);
    send_sync(&c);
    send(c.head_manifest("x", "v1", &[]));
    send(c.get_manifest("x", "v1", None));
    send(c.list_tags("x"));
    send(c.catalog());
    send(c.get_blob("x", "sha256:ab", 0));
    send(c.head_blob("x", "sha256:ab"));
}
