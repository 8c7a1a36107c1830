//! Hostile input: traversal and malformed names, digests, tags, manifests, ranges, pagination,
//! upload ids and methods. Each gets its spec error, nothing lands outside the data dir, nothing
//! panics, and the server still answers afterwards.
//!
//! Paths with `..` or odd escapes go over a raw socket: a URL parser (reqwest's included) would
//! collapse dot segments before the server ever saw them.

use crate::harness::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Every attack string carries this, so a file it managed to create is easy to find.
const MARK: &str = "pwned";

/// A response read off a raw socket.
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    request: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `errors[0].code` of a spec error body.
    fn code(&self) -> String {
        let body: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{}: error body is not JSON ({e}): {:?}",
                self.request,
                String::from_utf8_lossy(&self.body)
            )
        });
        body["errors"][0]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no errors[0].code in {body}", self.request))
            .to_owned()
    }

    /// Assert a spec error: status and `errors[0].code` (HEAD has no body to check).
    fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            self.status,
            status,
            "{}: {}",
            self.request,
            String::from_utf8_lossy(&self.body)
        );
        if !self.request.starts_with("HEAD ") {
            assert_eq!(self.code(), code, "{}", self.request);
        }
    }
}

/// Send one HTTP/1.1 request exactly as given (no normalisation of `target`) and read the
/// whole response.
fn raw(h: &Hoist, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Raw {
    let request = format!("{method} {target}");
    // Bodies only where they mean something (actix lingers over an unread HEAD body).
    let body = if matches!(method, "GET" | "HEAD" | "DELETE") {
        &[][..]
    } else {
        body
    };
    let mut s = TcpStream::connect(&h.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        h.addr,
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    // One write: a second small one would wait out Nagle and a delayed ACK (40 ms).
    s.write_all(&[head.as_bytes(), body].concat())
        .expect("write request");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)
        .unwrap_or_else(|e| panic!("{request}: reading the response: {e}"));
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{request}: no response head in {buf:?}"));
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{request}: bad status line in {head:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = buf[split + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Raw {
        status,
        headers,
        body,
        request,
    }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&rest[..eol]);
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .expect("chunk size");
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&rest[start..start + size]);
        rest = &rest[start + size + 2..];
    }
    out
}

/// A digest that is well formed (of bytes nobody pushed).
fn some_digest() -> String {
    sha256(b"nothing pushed this")
}

/// Every file and directory below `dir`.
fn walk_all(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        out.push(p.clone());
        if p.is_dir() {
            out.extend(walk_all(&p));
        }
    }
    out
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The server survived: it still answers, nothing panicked, and nothing was written outside
/// the data dir or under a name taken from an attack string.
async fn assert_unharmed(h: &Hoist) {
    let r = client().get(h.url("/v2/")).send().await.expect("get /v2/");
    assert_eq!(r.status(), 200, "server still answers");
    let log = h.log();
    assert!(!log.contains("panicked"), "server panicked:\n{log}");

    let root = h.data_dir.parent().expect("temp root");
    assert_eq!(
        names(root),
        ["data", "hoist.log"],
        "temp root holds only these"
    );
    for p in walk_all(root) {
        assert!(
            !p.to_string_lossy().contains(MARK),
            "an attack string named {}",
            p.display()
        );
    }
    // `..` climbing out of data/uploads or data/blobs/<alg>/<xx> lands in an ancestor.
    for ancestor in root.ancestors().skip(1) {
        for e in std::fs::read_dir(ancestor).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(
                !name.contains(MARK),
                "{} appeared outside the data dir",
                e.path().display()
            );
        }
    }
    // Blob files are only ever blobs/<alg>/<2 hex>/<hex>; upload files only <uuid>.
    let blobs = h.data_dir.join("blobs");
    for p in walk_all(&blobs) {
        if p.is_dir() {
            continue;
        }
        let rel: Vec<String> = p
            .strip_prefix(&blobs)
            .expect("under blobs")
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        let ok = rel.len() == 3
            && ["sha256", "sha512"].contains(&rel[0].as_str())
            && rel[2].starts_with(&rel[1])
            && rel[2].bytes().all(|b| b.is_ascii_hexdigit());
        assert!(ok, "unexpected blob file {}", p.display());
    }
    for p in walk_all(&h.data_dir.join("uploads")) {
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        assert!(
            p.is_file() && uuid::Uuid::parse_str(&name).is_ok(),
            "unexpected upload file {}",
            p.display()
        );
    }
}

/// Every endpoint that takes a repository name, with `name` spliced in raw.
fn endpoints_for(name: &str) -> Vec<(&'static str, String)> {
    let d = some_digest();
    let id = uuid::Uuid::new_v4();
    vec![
        ("GET", format!("/v2/{name}/manifests/latest")),
        ("HEAD", format!("/v2/{name}/manifests/latest")),
        ("PUT", format!("/v2/{name}/manifests/latest")),
        ("DELETE", format!("/v2/{name}/manifests/{d}")),
        ("GET", format!("/v2/{name}/blobs/{d}")),
        ("HEAD", format!("/v2/{name}/blobs/{d}")),
        ("DELETE", format!("/v2/{name}/blobs/{d}")),
        ("POST", format!("/v2/{name}/blobs/uploads/")),
        ("POST", format!("/v2/{name}/blobs/uploads/?digest={d}")),
        (
            "POST",
            format!("/v2/{name}/blobs/uploads/?mount={d}&from=a"),
        ),
        ("GET", format!("/v2/{name}/blobs/uploads/{id}")),
        ("PATCH", format!("/v2/{name}/blobs/uploads/{id}")),
        ("PUT", format!("/v2/{name}/blobs/uploads/{id}?digest={d}")),
        ("DELETE", format!("/v2/{name}/blobs/uploads/{id}")),
        ("GET", format!("/v2/{name}/tags/list")),
        ("GET", format!("/v2/{name}/referrers/{d}")),
    ]
}

#[tokio::test]
async fn hostile_repository_names_are_name_invalid_everywhere() {
    let h = Hoist::start();
    let long = "a".repeat(300);
    let long_components = format!("{}/{}", "a".repeat(200), "b".repeat(100));
    let just_over = "a".repeat(256);
    let bad = [
        "..",
        "../pwned",
        "pwned/..",
        "a/../pwned",
        "../../../../pwned",
        "../../../../../../../../tmp/pwned",
        ".",
        "./pwned",
        "%2e%2e",
        "%2E%2E/pwned",
        "%2e%2e/%2e%2e/pwned",
        "a/%2e%2e/%2e%2e/pwned",
        "%2e%2e%2fpwned",
        "a%2Fpwned",
        "pwned%00",
        "/pwned", // the `/v2//pwned/...` shape
        "a//pwned",
        "pwned/",
        "",
        "Pwned",
        "PWNED/lib",
        "pwned/Lib",
        "pwned_-x",
        "-pwned",
        long.as_str(),
        just_over.as_str(),
        long_components.as_str(),
    ];
    let body = br#"{"schemaVersion":2}"#;
    for name in bad {
        for (method, target) in endpoints_for(name) {
            let r = raw(&h, method, &target, &[("Content-Type", OCI_MANIFEST)], body);
            r.assert_error(400, "NAME_INVALID");
        }
    }
    // A valid name with an invalid `from` is a mount hoist cannot do: it falls back to an
    // upload session, as the spec asks (202), and never reaches the file system.
    let d = some_digest();
    for from in [
        "../../pwned",
        "%2e%2e/pwned",
        "/pwned",
        "Pwned",
        long.as_str(),
    ] {
        let r = raw(
            &h,
            "POST",
            &format!("/v2/ok/blobs/uploads/?mount={d}&from={from}"),
            &[],
            b"",
        );
        assert_eq!(r.status, 202, "{}", r.request);
        let location = r.header("location").unwrap_or_default();
        assert!(
            location.starts_with("/v2/ok/blobs/uploads/"),
            "{}: {location}",
            r.request
        );
    }
    assert_unharmed(&h).await;
}

#[tokio::test]
async fn paths_that_route_nowhere_are_404() {
    let h = Hoist::start();
    for (method, target) in [
        ("GET", "/v2/.."),
        ("GET", "/v2/../../../../etc/passwd"),
        ("GET", "/v2/%2e%2e"),
        ("GET", "/v2/pwned"),
        ("GET", "/v2/pwned/unknown/x"),
        ("PUT", "/v2/pwned/unknown/x"),
        // Dot segments after `uploads/` make this no upload URL at all.
        ("PATCH", "/v2/pwned/blobs/uploads/../../pwned"),
        ("PUT", "/v2/pwned/blobs/uploads/../../pwned?digest=x"),
        // A slash in a digest likewise.
        ("GET", "/v2/pwned/blobs/sha256:../../../pwned"),
        ("PUT", "/v2/pwned/manifests/sha256:../../../pwned"),
    ] {
        raw(&h, method, target, &[], b"{}").assert_error(404, "NOT_FOUND");
    }
    // Outside /v2 there is no API at all.
    for target in ["/../../etc/passwd", "/v3/", "/pwned", "/v2%2f..%2fpwned"] {
        let r = raw(&h, "GET", target, &[], b"");
        assert_eq!(r.status, 404, "{target}");
    }
    assert_unharmed(&h).await;
}

/// `/%76%32/` decodes to `/v2/`. The router matches the decoded path but the handler strips
/// `/v2` from the raw one; whichever way the server decides, an escaped prefix must not turn
/// every URL into the base endpoint.
#[tokio::test]
async fn escaped_v2_prefix_is_not_the_base_endpoint() {
    let h = Hoist::start();
    let plain = raw(&h, "GET", "/v2/pwned/manifests/latest", &[], b"");
    plain.assert_error(404, "NAME_UNKNOWN");
    for target in [
        "/%76%32/pwned/manifests/latest",
        "/v%32/pwned/manifests/latest",
    ] {
        let r = raw(&h, "GET", target, &[], b"");
        assert!(
            r.status == 404,
            "GET {target}: expected 404 (no such endpoint, or the manifest unknown as for \
             /v2/pwned/manifests/latest), got {} {:?}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    assert_unharmed(&h).await;
}

#[tokio::test]
async fn invalid_manifests_are_manifest_invalid_and_store_nothing() {
    let h = Hoist::start();
    let c = client();
    let repo = "hostile/manifests";
    let valid = image_manifest(&c, &h, repo, b"layer", None).await;
    let parsed: serde_json::Value = serde_json::from_slice(&valid).expect("json");
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut m = parsed.clone();
        f(&mut m);
        serde_json::to_vec(&m).expect("json")
    };
    let deep = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{}}}"#,
        "[".repeat(100_000)
    );
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("empty body", OCI_MANIFEST, Vec::new()),
        ("not JSON", OCI_MANIFEST, b"pwned".to_vec()),
        ("truncated", OCI_MANIFEST, valid[..valid.len() / 2].to_vec()),
        ("null", OCI_MANIFEST, b"null".to_vec()),
        ("array", OCI_MANIFEST, b"[]".to_vec()),
        ("number", OCI_MANIFEST, b"2".to_vec()),
        ("not UTF-8", OCI_MANIFEST, vec![0xff, 0xfe, 0x7b, 0x00]),
        ("nested 100k deep", OCI_MANIFEST, deep.into_bytes()),
        ("index Content-Type", OCI_INDEX, valid.clone()),
        ("Docker Content-Type", DOCKER_MANIFEST, valid.clone()),
        (
            "missing config",
            OCI_MANIFEST,
            with(&|m| {
                m.as_object_mut().expect("object").remove("config");
            }),
        ),
        (
            "config is a string",
            OCI_MANIFEST,
            with(&|m| m["config"] = "pwned".into()),
        ),
        (
            "config digest md5",
            OCI_MANIFEST,
            with(&|m| m["config"]["digest"] = format!("md5:{}", "0".repeat(32)).into()),
        ),
        (
            "config digest traversal",
            OCI_MANIFEST,
            with(&|m| m["config"]["digest"] = "sha256:../../../pwned".into()),
        ),
        (
            "negative size",
            OCI_MANIFEST,
            with(&|m| m["layers"][0]["size"] = (-1).into()),
        ),
        (
            "layers not a list",
            OCI_MANIFEST,
            with(&|m| m["layers"] = "pwned".into()),
        ),
        (
            "schemaVersion 3",
            OCI_MANIFEST,
            with(&|m| m["schemaVersion"] = 3.into()),
        ),
        (
            "schemaVersion missing",
            OCI_MANIFEST,
            with(&|m| {
                m.as_object_mut().expect("object").remove("schemaVersion");
            }),
        ),
        (
            "unknown mediaType",
            OCI_MANIFEST,
            with(&|m| m["mediaType"] = "application/x-pwned".into()),
        ),
    ];
    for (what, content_type, body) in cases {
        let r = c
            .put(h.url(&format!("/v2/{repo}/manifests/t")))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("put");
        assert_eq!(r.status(), 400, "{what}");
        assert_eq!(error_code(r).await, "MANIFEST_INVALID", "{what}");
    }
    let r = c
        .get(h.url(&format!("/v2/{repo}/manifests/t")))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
    let tags: serde_json::Value = c
        .get(h.url(&format!("/v2/{repo}/tags/list")))
        .send()
        .await
        .expect("tags")
        .json()
        .await
        .expect("json");
    assert_eq!(tags["tags"], serde_json::json!([]), "{tags}");
    // The valid manifest still goes in afterwards.
    put_manifest(&c, &h, repo, "t", OCI_MANIFEST, &valid).await;
    assert_unharmed(&h).await;
}

/// A syntactically fine manifest of `size` bytes, padded in an annotation.
fn padded_manifest(size: usize) -> Vec<u8> {
    let head = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},"layers":[],"annotations":{{"pad":""#,
        sha256(b"{}")
    );
    let tail = r#""}}"#;
    let mut body = head.into_bytes();
    body.resize(size - tail.len(), b'a');
    body.extend_from_slice(tail.as_bytes());
    body
}

#[tokio::test]
async fn five_mib_manifest_is_413_size_invalid_with_or_without_length() {
    let h = Hoist::start();
    let c = client();
    let repo = "hostile/big";
    let body = padded_manifest(5 * 1024 * 1024);
    assert!(serde_json::from_slice::<serde_json::Value>(&body).is_ok());

    // With Content-Length: refused before the body is read.
    let r = c
        .put(h.url(&format!("/v2/{repo}/manifests/t")))
        .header("content-type", OCI_MANIFEST)
        .body(body.clone())
        .send()
        .await
        .expect("put with length");
    assert_eq!(r.status(), 413);
    assert_eq!(error_code(r).await, "SIZE_INVALID");

    // Chunked, without Content-Length: the server only finds out while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    let r = c
        .put(h.url(&format!("/v2/{repo}/manifests/t")))
        .header("content-type", OCI_MANIFEST)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .expect("put chunked");
    assert_eq!(r.status(), 413);
    assert_eq!(error_code(r).await, "SIZE_INVALID");

    // Nothing was stored.
    let r = c
        .get(h.url(&format!("/v2/{repo}/manifests/t")))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);

    // The limit itself (4 MiB) is allowed, one byte more is not.
    push_blob(&c, &h, repo, b"{}").await;
    let limit = 4 * 1024 * 1024;
    let r = c
        .put(h.url(&format!("/v2/{repo}/manifests/over")))
        .header("content-type", OCI_MANIFEST)
        .body(padded_manifest(limit + 1))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 413);
    put_manifest(&c, &h, repo, "t", OCI_MANIFEST, &padded_manifest(limit)).await;
    assert_unharmed(&h).await;
}

#[tokio::test]
async fn malformed_digests_are_digest_invalid() {
    let h = Hoist::start();
    let c = client();
    let repo = "hostile/digests";
    push_blob(&c, &h, repo, b"something").await;
    let r = c
        .post(h.url(&format!("/v2/{repo}/blobs/uploads/")))
        .send()
        .await
        .expect("post");
    let location = r.headers()["location"].to_str().expect("loc").to_owned();

    let hex = "a".repeat(64);
    let bad: Vec<String> = vec![
        format!("md5:{}", "a".repeat(32)),
        format!("sha1:{}", "a".repeat(40)),
        format!("pwned:{hex}"),
        format!("sha256:{}", "a".repeat(63)),
        format!("sha256:{}", "a".repeat(65)),
        format!("sha256:{}", "A".repeat(64)),
        format!("sha256:{}", "g".repeat(64)),
        format!("sha512:{hex}"), // sha256 length under sha512
        format!("SHA256:{hex}"),
        format!("sha256:{}", "a".repeat(10_000)),
        "sha256:".to_owned(),
        format!(":{hex}"),
        "sha256:%2e%2e%2fpwned".to_owned(),
        "sha256:..".to_owned(),
    ];
    for d in &bad {
        // In the path (a reference with a colon is a digest, never a tag).
        for (method, target) in [
            ("GET", format!("/v2/{repo}/blobs/{d}")),
            ("HEAD", format!("/v2/{repo}/blobs/{d}")),
            ("DELETE", format!("/v2/{repo}/blobs/{d}")),
            ("GET", format!("/v2/{repo}/manifests/{d}")),
            ("HEAD", format!("/v2/{repo}/manifests/{d}")),
            ("PUT", format!("/v2/{repo}/manifests/{d}")),
            ("DELETE", format!("/v2/{repo}/manifests/{d}")),
            ("GET", format!("/v2/{repo}/referrers/{d}")),
        ] {
            let r = raw(
                &h,
                method,
                &target,
                &[("Content-Type", OCI_MANIFEST)],
                b"{}",
            );
            r.assert_error(400, "DIGEST_INVALID");
        }
        // In the query: finishing an upload, a monolithic upload, a mount.
        for (method, target) in [
            ("PUT", format!("{location}?digest={d}")),
            ("POST", format!("/v2/{repo}/blobs/uploads/?digest={d}")),
            (
                "POST",
                format!("/v2/{repo}/blobs/uploads/?mount={d}&from={repo}"),
            ),
            ("POST", format!("/v2/{repo}/blobs/uploads/?mount={d}")),
        ] {
            raw(&h, method, &target, &[], b"data").assert_error(400, "DIGEST_INVALID");
        }
    }
    // No algorithm at all: a blob digest, never a tag.
    for d in ["pwned", "..", "%2e%2e"] {
        raw(&h, "GET", &format!("/v2/{repo}/blobs/{d}"), &[], b"")
            .assert_error(400, "DIGEST_INVALID");
        raw(&h, "PUT", &format!("{location}?digest={d}"), &[], b"")
            .assert_error(400, "DIGEST_INVALID");
    }
    // Finishing without any digest.
    raw(&h, "PUT", &location, &[], b"").assert_error(400, "DIGEST_INVALID");
    assert_unharmed(&h).await;
}

/// Two `digest` parameters when completing an upload: the spec's Docker-era text allows
/// several ("The server MAY verify none or all of them but MUST notify the client if the
/// content is rejected"). Whatever hoist decides, the answer is about the digest, not about
/// pagination.
#[tokio::test]
async fn repeated_digest_parameter_is_not_a_pagination_error() {
    let h = Hoist::start();
    let c = client();
    let data = b"twice";
    let d = sha256(data);
    let r = c
        .post(h.url("/v2/hostile/twice/blobs/uploads/"))
        .send()
        .await
        .expect("post");
    let location = r.headers()["location"].to_str().expect("loc").to_owned();
    for (method, target) in [
        (
            "POST",
            format!("/v2/hostile/twice/blobs/uploads/?digest={d}&digest={d}"),
        ),
        ("PUT", format!("{location}?digest={d}&digest={d}")),
    ] {
        let r = raw(&h, method, &target, &[], data);
        assert!(
            r.status == 201 || (r.status == 400 && r.code() == "DIGEST_INVALID"),
            "{method} {target}: expected 201 (or 400 DIGEST_INVALID), got {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    assert_unharmed(&h).await;
}

/// A push names the invalid tag (400 TAG_INVALID); reads and deletes find no manifest by
/// that name (404 MANIFEST_UNKNOWN), as the spec and its conformance suite require.
#[tokio::test]
async fn invalid_tags_are_tag_invalid_on_push_and_unknown_otherwise() {
    let h = Hoist::start();
    let c = client();
    let repo = "hostile/tags";
    let body = image_manifest(&c, &h, repo, b"tagged", None).await;
    let long = "a".repeat(129);
    for tag in [
        "-pwned",
        ".pwned",
        "..",
        "%2e%2e",
        "pwned%2F..",
        "pwned!",
        "pw+ned",
        "pw%20ned",
        long.as_str(),
    ] {
        for method in ["GET", "HEAD", "PUT", "DELETE"] {
            let r = raw(
                &h,
                method,
                &format!("/v2/{repo}/manifests/{tag}"),
                &[("Content-Type", OCI_MANIFEST)],
                &body,
            );
            if method == "PUT" {
                r.assert_error(400, "TAG_INVALID");
            } else if method == "HEAD" {
                assert_eq!(r.status, 404, "HEAD {tag}");
            } else {
                r.assert_error(404, "MANIFEST_UNKNOWN");
            }
        }
    }
    // Nothing was tagged. (A fresh client: the pooled connection may have idled out while
    // the raw requests ran.)
    let tags: serde_json::Value = client()
        .get(h.url(&format!("/v2/{repo}/tags/list")))
        .send()
        .await
        .expect("tags")
        .json()
        .await
        .expect("json");
    assert_eq!(tags["tags"], serde_json::json!([]), "{tags}");
    assert_unharmed(&h).await;
}

#[tokio::test]
async fn range_beyond_the_end_is_416_with_the_size() {
    let h = Hoist::start();
    let c = client();
    let digest = push_blob(&c, &h, "hostile/range", b"0123456789").await;
    let url = h.url(&format!("/v2/hostile/range/blobs/{digest}"));
    for range in [
        "bytes=10-",
        "bytes=10-10",
        "bytes=11-20",
        "bytes=18446744073709551615-",
        "bytes=99999999999999999999999-",
        "bytes=-0",
    ] {
        let r = c
            .get(&url)
            .header("range", range)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 416, "{range}");
        assert_eq!(r.headers()["content-range"], "bytes */10", "{range}");
    }
    // The last byte is still fine, and an end past the size is clamped.
    let r = c
        .get(&url)
        .header("range", "bytes=9-100000")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 9-9/10");
    assert_eq!(r.bytes().await.expect("body").as_ref(), b"9");
    assert_unharmed(&h).await;
}

#[tokio::test]
async fn bad_pagination_is_400() {
    let h = Hoist::start();
    let c = client();
    push_image(&c, &h, "hostile/pages", "v1").await;
    for path in ["/v2/hostile/pages/tags/list", "/v2/_catalog"] {
        for q in [
            "n=abc",
            "n=-1",
            "n=1.5",
            "n=",
            "n=0x10",
            "n=99999999999999999999999",
        ] {
            let r = c
                .get(h.url(&format!("{path}?{q}")))
                .send()
                .await
                .expect("get");
            assert_eq!(r.status(), 400, "{path}?{q}");
            assert_eq!(
                error_code(r).await,
                "PAGINATION_NUMBER_INVALID",
                "{path}?{q}"
            );
        }
        // A repeated parameter counts once, by its first value, like every query parameter.
        let r = c
            .get(h.url(&format!("{path}?n=1&n=abc")))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200, "{path}?n=1&n=abc");
        // A hostile `last` is only a string to compare against.
        let r = c
            .get(h.url(&format!("{path}?n=5&last=../../pwned")))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200, "{path} last=../../pwned");
    }
    assert_unharmed(&h).await;
}

#[tokio::test]
async fn manifest_put_by_digest_must_match_the_body() {
    let h = Hoist::start();
    let c = client();
    let repo = "hostile/bydigest";
    let body = image_manifest(&c, &h, repo, b"content", None).await;
    let other = sha256(b"some other manifest");
    let r = c
        .put(h.url(&format!("/v2/{repo}/manifests/{other}")))
        .header("content-type", OCI_MANIFEST)
        .body(body.clone())
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    // Same for a sha512 reference over a body with another sha512.
    let other512 =
        hoist::oci::Digest::of(hoist::oci::Algorithm::Sha512, b"some other manifest").to_string();
    let r = c
        .put(h.url(&format!("/v2/{repo}/manifests/{other512}")))
        .header("content-type", OCI_MANIFEST)
        .body(body.clone())
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    for d in [other, sha256(&body)] {
        let r = c
            .get(h.url(&format!("/v2/{repo}/manifests/{d}")))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 404, "{d}");
        assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
    }
    assert_unharmed(&h).await;
}

#[tokio::test]
async fn unknown_and_garbage_upload_ids_are_blob_upload_unknown() {
    let h = Hoist::start();
    let c = client();
    let repo = "hostile/uploads";
    // A real upload, so that near misses of its id can be tried.
    let r = c
        .post(h.url(&format!("/v2/{repo}/blobs/uploads/")))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 202);
    let real = r.headers()["docker-upload-uuid"]
        .to_str()
        .expect("id")
        .to_owned();
    let fresh = uuid::Uuid::new_v4().to_string();
    let simple = real.replace('-', "");
    let upper = real.to_uppercase();
    let urn = format!("urn:uuid:{real}");
    let braced = format!("%7B{real}%7D");
    let long = "a".repeat(10_000);
    let ids = [
        fresh.as_str(),
        simple.as_str(),
        upper.as_str(),
        urn.as_str(),
        braced.as_str(),
        "pwned",
        "..",
        ".",
        "%2e%2e",
        "..%2F..%2Fpwned",
        "%2e%2e%2f%2e%2e%2fpwned",
        "..%5C..%5Cpwned",
        "pwned%00",
        long.as_str(),
    ];
    let d = sha256(b"x");
    for id in ids {
        for (method, target) in [
            ("PATCH", format!("/v2/{repo}/blobs/uploads/{id}")),
            ("GET", format!("/v2/{repo}/blobs/uploads/{id}")),
            ("PUT", format!("/v2/{repo}/blobs/uploads/{id}?digest={d}")),
            ("DELETE", format!("/v2/{repo}/blobs/uploads/{id}")),
        ] {
            raw(
                &h,
                method,
                &target,
                &[
                    ("Content-Range", "0-0"),
                    ("Content-Type", "application/octet-stream"),
                ],
                b"x",
            )
            .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
        }
    }
    // The real upload is untouched by all of that.
    let c = client();
    let r = c
        .get(h.url(&format!("/v2/{repo}/blobs/uploads/{real}")))
        .send()
        .await
        .expect("status");
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["range"], "0-0");
    assert_unharmed(&h).await;
}

#[tokio::test]
async fn unsupported_methods_are_405() {
    let h = Hoist::start();
    let c = client();
    let repo = "hostile/methods";
    let digest = push_blob(&c, &h, repo, b"blob").await;
    let r = c
        .post(h.url(&format!("/v2/{repo}/blobs/uploads/")))
        .send()
        .await
        .expect("post");
    let location = r.headers()["location"].to_str().expect("loc").to_owned();
    for (method, target) in [
        ("POST", "/v2/".to_owned()),
        ("PUT", "/v2/".to_owned()),
        ("DELETE", "/v2/".to_owned()),
        ("OPTIONS", "/v2/".to_owned()),
        ("POST", "/v2/_catalog".to_owned()),
        ("DELETE", "/v2/_catalog".to_owned()),
        ("PUT", format!("/v2/{repo}/tags/list")),
        ("DELETE", format!("/v2/{repo}/tags/list")),
        ("POST", format!("/v2/{repo}/manifests/latest")),
        ("PATCH", format!("/v2/{repo}/manifests/latest")),
        ("TRACE", format!("/v2/{repo}/manifests/latest")),
        ("PUT", format!("/v2/{repo}/blobs/{digest}")),
        ("POST", format!("/v2/{repo}/blobs/{digest}")),
        ("PATCH", format!("/v2/{repo}/blobs/{digest}")),
        ("GET", format!("/v2/{repo}/blobs/uploads/")),
        ("PUT", format!("/v2/{repo}/blobs/uploads/")),
        ("DELETE", format!("/v2/{repo}/blobs/uploads/")),
        ("POST", location.clone()),
        ("PWNED", location.clone()),
        ("PUT", format!("/v2/{repo}/referrers/{digest}")),
        ("DELETE", format!("/v2/{repo}/referrers/{digest}")),
    ] {
        raw(&h, method, &target, &[], b"").assert_error(405, "UNSUPPORTED");
    }
    // The blob and the upload are still there.
    let c = client();
    let r = c
        .head(h.url(&format!("/v2/{repo}/blobs/{digest}")))
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), 200);
    let r = c.get(h.url(&location)).send().await.expect("status");
    assert_eq!(r.status(), 204);
    assert_unharmed(&h).await;
}

/// RFC 9110 §15.5.6: "The origin server MUST generate an Allow header field in a 405 response
/// containing a list of the target resource's currently supported methods."
#[tokio::test]
async fn method_not_allowed_says_what_is_allowed() {
    let h = Hoist::start();
    let d = some_digest();
    for (method, target) in [
        ("POST", "/v2/".to_owned()),
        ("DELETE", "/v2/_catalog".to_owned()),
        ("PATCH", "/v2/hostile/allow/manifests/latest".to_owned()),
        ("PUT", format!("/v2/hostile/allow/blobs/{d}")),
    ] {
        let r = raw(&h, method, &target, &[], b"");
        assert_eq!(r.status, 405, "{method} {target}");
        let allow = r
            .header("allow")
            .unwrap_or_else(|| panic!("{method} {target}: 405 without an Allow header"));
        assert!(
            !allow.split(',').any(|m| m.trim() == method),
            "{method} {target}: Allow {allow:?} lists the refused method"
        );
    }
    assert_unharmed(&h).await;
}
