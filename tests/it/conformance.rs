//! OCI Distribution Spec v1.1 conformance, in the four workflow categories of the official
//! suite (opencontainers/distribution-spec, `conformance/`): pull, push, content discovery and
//! content management. Each test checks one group of the suite's requirements against a fresh
//! hoist, in the order the suite performs the steps, with the statuses, headers and bodies the
//! suite and the spec demand. Test data is shaped like the suite's: tab-indented manifests,
//! descriptors with `data` and an unspecified field, sha256 and sha512 digests, Docker schema 2
//! and OCI media types, artifacts with `subject`.

use crate::harness::*;
use hoist::oci::{Algorithm, Digest};
use reqwest::{Client, Response};
use serde::Serialize;
use serde_json::{json, Value};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER_GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const OCI_LAYER_ND: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar";
const OCI_LAYER_ND_GZ: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const OCTET: &str = "application/octet-stream";
/// What a client that takes every manifest format sends.
const ACCEPT_ALL: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.docker.distribution.manifest.v2+json";
/// The suite checks this value before using the empty JSON blob.
const EMPTY_JSON_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
/// Every error code the spec defines.
const SPEC_ERROR_CODES: &[&str] = &[
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "TOOMANYREQUESTS",
];

// ---------------------------------------------------------------------------------------------
// Helpers: data
// ---------------------------------------------------------------------------------------------

fn dig(alg: Algorithm, data: &[u8]) -> String {
    Digest::of(alg, data).to_string()
}

/// Reproducible pseudo-random bytes, different for every seed.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn base64(data: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// JSON indented with tabs, as the suite marshals its manifests.
fn tab_json(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    v.serialize(&mut ser).expect("serialise");
    out
}

fn empty_json_descriptor() -> Value {
    json!({"mediaType": OCI_EMPTY, "digest": EMPTY_JSON_DIGEST, "size": 2})
}

/// An OCI image shaped like the suite's: a config naming a unique author, one layer, and a
/// tab-indented manifest whose config descriptor carries `data` and a field no spec defines
/// (registries must store and serve such manifests unchanged).
struct Image {
    config: Vec<u8>,
    layer: Vec<u8>,
    manifest: Vec<u8>,
    alg: Algorithm,
}

impl Image {
    fn new(seed: u64, alg: Algorithm) -> Image {
        Self::with_platform(seed, alg, "amd64")
    }

    fn with_platform(seed: u64, alg: Algorithm, arch: &str) -> Image {
        let config = tab_json(&json!({
            "author": format!("conformance-{seed}"),
            "architecture": arch,
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
        }));
        let layer = bytes(seed, 700 + (seed % 97) as usize);
        let manifest = tab_json(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": dig(alg, &config),
                "size": config.len(),
                "data": base64(&config),
                "newUnspecifiedField": base64(b"hello world"),
            },
            "layers": [{"mediaType": OCI_LAYER_GZ, "digest": dig(alg, &layer), "size": layer.len()}],
        }));
        Image {
            config,
            layer,
            manifest,
            alg,
        }
    }

    fn digest(&self) -> String {
        dig(self.alg, &self.manifest)
    }

    fn config_digest(&self) -> String {
        dig(self.alg, &self.config)
    }

    fn layer_digest(&self) -> String {
        dig(self.alg, &self.layer)
    }

    fn descriptor(&self) -> Value {
        json!({"mediaType": OCI_MANIFEST, "digest": self.digest(), "size": self.manifest.len()})
    }

    fn blobs(&self) -> [(String, &[u8]); 2] {
        [
            (self.config_digest(), &self.config),
            (self.layer_digest(), &self.layer),
        ]
    }

    async fn push_blobs(&self, c: &Client, h: &Hoist, repo: &str) {
        for (_, data) in self.blobs() {
            push_post_put(c, h, repo, data, self.alg).await;
        }
    }

    /// Push the blobs, then the manifest under `reference`; asserts 201.
    async fn push(&self, c: &Client, h: &Hoist, repo: &str, reference: &str) {
        self.push_blobs(c, h, repo).await;
        let r = put_manifest_raw(c, h, repo, reference, OCI_MANIFEST, &self.manifest).await;
        assert_created_manifest(r, repo, reference).await;
    }
}

/// An OCI index of `children`, each with its platform.
fn index_of(children: &[(&Image, &str)], alg: Algorithm) -> (Vec<u8>, String) {
    let manifests: Vec<Value> = children
        .iter()
        .map(|(img, arch)| {
            let mut d = img.descriptor();
            d["platform"] = json!({"architecture": arch, "os": "linux"});
            d
        })
        .collect();
    let body = tab_json(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests,
    }));
    let digest = dig(alg, &body);
    (body, digest)
}

// ---------------------------------------------------------------------------------------------
// Helpers: HTTP
// ---------------------------------------------------------------------------------------------

/// Percent-encode a query value the way Go's `url.Values.Encode` does for these characters.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn with_param(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={}", enc(value))
}

fn hdr(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().expect("header is text").to_owned())
}

/// The Location header, which must be present and non-empty.
fn location(r: &Response) -> String {
    let loc = hdr(r, "location").unwrap_or_default();
    assert!(
        !loc.is_empty(),
        "{} {} answered {} without a Location",
        r.url().path(),
        r.url().query().unwrap_or_default(),
        r.status()
    );
    loc
}

/// A Location, absolute or relative, as a URL on this server.
fn absolute(h: &Hoist, loc: &str) -> String {
    if loc.starts_with("http://") || loc.starts_with("https://") {
        loc.to_owned()
    } else {
        h.url(loc)
    }
}

/// The path of a Location, absolute or relative.
fn relative(loc: &str) -> String {
    match loc.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/".into(), |i| rest[i..].to_owned()),
        None => loc.to_owned(),
    }
}

async fn text(r: Response) -> String {
    r.text().await.expect("body")
}

// ---------------------------------------------------------------------------------------------
// Helpers: blobs
// ---------------------------------------------------------------------------------------------

/// `POST /v2/<repo>/blobs/uploads/` with `Content-Length: 0`: must open a session (202 with a
/// Location naming a UUID). Returns the Location and the advertised minimum chunk length.
async fn open_upload(c: &Client, h: &Hoist, repo: &str) -> (String, Option<usize>) {
    let r = c
        .post(h.url(&format!("/v2/{repo}/blobs/uploads/")))
        .body(Vec::<u8>::new())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 202, "POST /v2/{repo}/blobs/uploads/");
    let loc = location(&r);
    assert!(
        relative(&loc)
            .split(['/', '?', '&', '='])
            .any(|part| uuid::Uuid::parse_str(part).is_ok()),
        "the upload Location must contain a UUID: {loc}"
    );
    let min = hdr(&r, "oci-chunk-min-length")
        .map(|v| v.parse().expect("OCI-Chunk-Min-Length is a number"));
    (loc, min)
}

/// `PUT <location>?digest=<digest>` with `data` as the body.
async fn put_upload(c: &Client, h: &Hoist, loc: &str, digest: &str, data: &[u8]) -> Response {
    c.put(absolute(h, &with_param(loc, "digest", digest)))
        .header("content-type", OCTET)
        .body(data.to_vec())
        .send()
        .await
        .expect("put upload")
}

/// `PATCH <location>` with a chunk and its `Content-Range` (and, from reqwest, `Content-Length`).
async fn patch_chunk(c: &Client, h: &Hoist, loc: &str, start: usize, chunk: &[u8]) -> Response {
    c.patch(absolute(h, loc))
        .header("content-type", OCTET)
        .header(
            "content-range",
            format!("{}-{}", start, start + chunk.len() - 1),
        )
        .body(chunk.to_vec())
        .send()
        .await
        .expect("patch")
}

/// Where an upload stands: must be 204 with a Location and `Range: 0-<end>`.
async fn upload_status(c: &Client, h: &Hoist, loc: &str) -> (String, String) {
    let r = c.get(absolute(h, loc)).send().await.expect("upload status");
    assert_eq!(r.status(), 204, "GET {loc}");
    let range = hdr(&r, "range").expect("upload status has a Range header");
    (location(&r), range)
}

/// The suite's ways of uploading a blob.
#[derive(Debug, Clone, Copy)]
enum Upload {
    /// `POST ?digest=` with the whole blob.
    PostOnly,
    /// `POST`, then `PUT ?digest=` with the whole blob.
    PostPut,
    /// `POST`, three `PATCH`es with `Content-Range`, then an empty `PUT ?digest=`.
    Chunked,
    /// `POST`, `PATCH`es with `Content-Range`, the last chunk in the `PUT ?digest=`.
    ChunkedPutLast,
    /// `POST`, one `PATCH` streaming the blob with no `Content-Range` or length, empty `PUT`.
    Stream,
}

const ALL_UPLOADS: [Upload; 5] = [
    Upload::PostOnly,
    Upload::PostPut,
    Upload::Chunked,
    Upload::ChunkedPutLast,
    Upload::Stream,
];

/// Upload `data` to `repo` claiming `digest`, checking every intermediate response as the suite
/// does; returns the final response (201 when the digest is right).
async fn upload(
    c: &Client,
    h: &Hoist,
    repo: &str,
    how: Upload,
    data: &[u8],
    digest: &str,
) -> Response {
    match how {
        Upload::PostOnly => {
            let url = with_param(&format!("/v2/{repo}/blobs/uploads/"), "digest", digest);
            c.post(h.url(&url))
                .header("content-type", OCTET)
                .body(data.to_vec())
                .send()
                .await
                .expect("post")
        }
        Upload::PostPut => {
            let (loc, _) = open_upload(c, h, repo).await;
            put_upload(c, h, &loc, digest, data).await
        }
        Upload::Chunked | Upload::ChunkedPutLast => {
            let (mut loc, min) = open_upload(c, h, repo).await;
            let size = (data.len() / 3 + 1).max(min.unwrap_or(0)).min(data.len());
            let chunks: Vec<&[u8]> = data.chunks(size).collect();
            let put_last = matches!(how, Upload::ChunkedPutLast);
            let patched = if put_last {
                chunks.len() - 1
            } else {
                chunks.len()
            };
            let mut start = 0;
            for chunk in &chunks[..patched] {
                let r = patch_chunk(c, h, &loc, start, chunk).await;
                assert_eq!(r.status(), 202, "PATCH chunk at {start}");
                let end = start + chunk.len() - 1;
                assert_eq!(
                    hdr(&r, "range").as_deref(),
                    Some(format!("0-{end}").as_str())
                );
                loc = location(&r);
                start += chunk.len();
            }
            if !put_last {
                return put_upload(c, h, &loc, digest, &[]).await;
            }
            let last = chunks[patched];
            c.put(absolute(h, &with_param(&loc, "digest", digest)))
                .header("content-type", OCTET)
                .header(
                    "content-range",
                    format!("{}-{}", start, start + last.len() - 1),
                )
                .body(last.to_vec())
                .send()
                .await
                .expect("put last chunk")
        }
        Upload::Stream => {
            let (loc, _) = open_upload(c, h, repo).await;
            let pieces: Vec<Vec<u8>> = data.chunks(100).map(<[u8]>::to_vec).collect();
            let stream =
                futures_util::stream::iter(pieces.into_iter().map(Ok::<_, std::io::Error>));
            let r = c
                .patch(absolute(h, &loc))
                .header("content-type", OCTET)
                .body(reqwest::Body::wrap_stream(stream))
                .send()
                .await
                .expect("patch stream");
            assert_eq!(r.status(), 202, "streamed PATCH");
            let want = format!("0-{}", data.len() - 1);
            assert_eq!(hdr(&r, "range").as_deref(), Some(want.as_str()));
            let loc = location(&r);
            put_upload(c, h, &loc, digest, &[]).await
        }
    }
}

/// A finished upload: 201, a Location that serves the blob, and the right digest header.
async fn assert_blob_created(c: &Client, h: &Hoist, r: Response, digest: &str, data: &[u8]) {
    let status = r.status();
    let loc = hdr(&r, "location").unwrap_or_default();
    let digest_header = hdr(&r, "docker-content-digest");
    assert_eq!(status, 201, "upload of {digest}: {}", text(r).await);
    assert!(!loc.is_empty(), "201 without a Location");
    if let Some(d) = digest_header {
        assert_eq!(d, digest, "Docker-Content-Digest of the created blob");
    }
    let got = c.get(absolute(h, &loc)).send().await.expect("get Location");
    assert_eq!(got.status(), 200, "GET the blob Location {loc}");
    assert_eq!(got.bytes().await.expect("body").as_ref(), data);
}

/// Push a blob with POST then PUT; asserts 201 and returns its digest.
async fn push_post_put(c: &Client, h: &Hoist, repo: &str, data: &[u8], alg: Algorithm) -> String {
    let digest = dig(alg, data);
    let r = upload(c, h, repo, Upload::PostPut, data, &digest).await;
    assert_eq!(
        r.status(),
        201,
        "push {digest} to {repo}: {}",
        text(r).await
    );
    digest
}

/// HEAD and GET of a blob that exists: 200, its digest, its length, its bytes.
async fn assert_blob(c: &Client, h: &Hoist, repo: &str, digest: &str, data: &[u8]) {
    let url = h.url(&format!("/v2/{repo}/blobs/{digest}"));
    let r = c.head(&url).send().await.expect("head blob");
    assert_eq!(r.status(), 200, "HEAD {url}");
    assert_eq!(hdr(&r, "docker-content-digest").as_deref(), Some(digest));
    let len = data.len().to_string();
    assert_eq!(hdr(&r, "content-length").as_deref(), Some(len.as_str()));
    assert!(
        r.bytes().await.expect("body").is_empty(),
        "HEAD has no body"
    );
    let r = c.get(&url).send().await.expect("get blob");
    assert_eq!(r.status(), 200, "GET {url}");
    assert_eq!(hdr(&r, "docker-content-digest").as_deref(), Some(digest));
    assert_eq!(hdr(&r, "content-length").as_deref(), Some(len.as_str()));
    assert_eq!(r.bytes().await.expect("body").as_ref(), data);
}

/// HEAD and GET of a blob that does not exist: 404, and BLOB_UNKNOWN in the GET body.
async fn assert_blob_missing(c: &Client, h: &Hoist, repo: &str, digest: &str) {
    let url = h.url(&format!("/v2/{repo}/blobs/{digest}"));
    let r = c.head(&url).send().await.expect("head blob");
    assert_eq!(r.status(), 404, "HEAD {url}");
    let r = c.get(&url).send().await.expect("get blob");
    assert_eq!(r.status(), 404, "GET {url}");
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
}

// ---------------------------------------------------------------------------------------------
// Helpers: manifests
// ---------------------------------------------------------------------------------------------

async fn put_manifest_raw(
    c: &Client,
    h: &Hoist,
    repo: &str,
    reference: &str,
    media_type: &str,
    body: &[u8],
) -> Response {
    c.put(h.url(&format!("/v2/{repo}/manifests/{reference}")))
        .header("content-type", media_type)
        .body(body.to_vec())
        .send()
        .await
        .expect("put manifest")
}

/// A pushed manifest: 201 with a Location that names the manifest by digest.
async fn assert_created_manifest(r: Response, repo: &str, reference: &str) {
    let status = r.status();
    let loc = hdr(&r, "location").unwrap_or_default();
    assert_eq!(status, 201, "PUT {repo}:{reference}: {}", text(r).await);
    assert!(
        !loc.is_empty(),
        "PUT {repo}:{reference}: 201 without a Location"
    );
}

async fn manifest_request(
    c: &Client,
    h: &Hoist,
    method: reqwest::Method,
    repo: &str,
    reference: &str,
) -> Response {
    c.request(method, h.url(&format!("/v2/{repo}/manifests/{reference}")))
        .header("accept", ACCEPT_ALL)
        .send()
        .await
        .expect("manifest request")
}

/// HEAD and GET of a manifest that exists: 200, its media type, digest and length, and on
/// GET exactly the bytes pushed.
async fn assert_manifest(
    c: &Client,
    h: &Hoist,
    repo: &str,
    reference: &str,
    media_type: &str,
    body: &[u8],
    digest: &str,
) {
    let len = body.len().to_string();
    let r = manifest_request(c, h, reqwest::Method::HEAD, repo, reference).await;
    assert_eq!(r.status(), 200, "HEAD {repo}:{reference}");
    assert_eq!(hdr(&r, "content-type").as_deref(), Some(media_type));
    assert_eq!(hdr(&r, "docker-content-digest").as_deref(), Some(digest));
    assert_eq!(hdr(&r, "content-length").as_deref(), Some(len.as_str()));
    assert!(
        r.bytes().await.expect("body").is_empty(),
        "HEAD has no body"
    );
    let r = manifest_request(c, h, reqwest::Method::GET, repo, reference).await;
    assert_eq!(r.status(), 200, "GET {repo}:{reference}");
    assert_eq!(hdr(&r, "content-type").as_deref(), Some(media_type));
    assert_eq!(hdr(&r, "docker-content-digest").as_deref(), Some(digest));
    assert_eq!(hdr(&r, "content-length").as_deref(), Some(len.as_str()));
    let got = r.bytes().await.expect("body");
    assert!(
        got.as_ref() == body,
        "GET {repo}:{reference} must return the pushed bytes unchanged\n got: {}\nwant: {}",
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(body)
    );
}

/// HEAD and GET of a manifest that does not exist: 404, and `code` in the GET body.
async fn assert_manifest_missing(c: &Client, h: &Hoist, repo: &str, reference: &str, code: &str) {
    let r = manifest_request(c, h, reqwest::Method::HEAD, repo, reference).await;
    assert_eq!(r.status(), 404, "HEAD {repo}:{reference}");
    let r = manifest_request(c, h, reqwest::Method::GET, repo, reference).await;
    assert_eq!(r.status(), 404, "GET {repo}:{reference}");
    assert_eq!(error_code(r).await, code, "GET {repo}:{reference}");
}

// ---------------------------------------------------------------------------------------------
// Helpers: listings
// ---------------------------------------------------------------------------------------------

/// `GET /v2/<repo>/tags/list<query>`: 200 with `{"name", "tags"}`; returns the tags and the
/// `rel="next"` target of the Link header, if any.
async fn tags_page(c: &Client, h: &Hoist, path_and_query: &str) -> (Vec<String>, Option<String>) {
    let r = c
        .get(absolute(h, path_and_query))
        .send()
        .await
        .expect("tags list");
    assert_eq!(r.status(), 200, "GET {path_and_query}");
    let next = hdr(&r, "link").map(|link| {
        assert!(
            link.contains("rel=\"next\""),
            "Link must be rel=\"next\": {link}"
        );
        let start = link.find('<').expect("Link has <") + 1;
        let end = link.find('>').expect("Link has >");
        link[start..end].to_owned()
    });
    let body: Value = r.json().await.expect("JSON body");
    let tags = body["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| t.as_str().expect("tag is a string").to_owned())
                .collect()
        })
        .unwrap_or_default();
    (tags, next)
}

/// Lexical (case-insensitive) or ASCIIbetical order, as the spec allows either.
fn assert_spec_order(tags: &[String]) {
    let bytewise = tags.windows(2).all(|w| w[0] < w[1]);
    let lexical = tags
        .windows(2)
        .all(|w| w[0].to_lowercase() <= w[1].to_lowercase());
    assert!(
        bytewise || lexical,
        "tags must be in lexical or ASCIIbetical order: {tags:?}"
    );
}

/// `GET /v2/<repo>/referrers/<subject>[?artifactType=]`: 200, an OCI index as Content-Type and
/// body. Returns the OCI-Filters-Applied header and the `manifests` list.
async fn referrers(
    c: &Client,
    h: &Hoist,
    repo: &str,
    subject: &str,
    artifact_type: Option<&str>,
) -> (Option<String>, Vec<Value>) {
    let mut path = format!("/v2/{repo}/referrers/{subject}");
    if let Some(t) = artifact_type {
        path = with_param(&path, "artifactType", t);
    }
    let r = c.get(h.url(&path)).send().await.expect("referrers");
    assert_eq!(r.status(), 200, "GET {path}");
    assert_eq!(
        hdr(&r, "content-type").as_deref(),
        Some(OCI_INDEX),
        "{path}"
    );
    let filters = hdr(&r, "oci-filters-applied");
    let index: Value = r.json().await.expect("referrers body is JSON");
    assert_eq!(index["schemaVersion"], 2, "{index}");
    assert_eq!(index["mediaType"], OCI_INDEX, "{index}");
    let manifests = index["manifests"]
        .as_array()
        .unwrap_or_else(|| panic!("referrers index has a manifests list: {index}"))
        .clone();
    (filters, manifests)
}

/// A referrer as the referrers API must describe it.
#[derive(Debug, Clone)]
struct Referrer {
    digest: String,
    media_type: &'static str,
    size: usize,
    artifact_type: Option<String>,
    annotation: Option<&'static str>,
}

const ANNOTATION_KEY: &str = "org.opencontainers.conformance.test";
const TYPE_A: &str = "application/vnd.nhl.peanut.butter.bagel";
const TYPE_B: &str = "application/vnd.nba.strawberry.jam.croissant";
const TYPE_INDEX: &str = "application/vnd.food.stand";

/// `listed` holds exactly the `want` referrers, each described as the spec requires.
fn assert_referrers(listed: &[Value], want: &[&Referrer]) {
    assert_eq!(
        listed.len(),
        want.len(),
        "referrers listed: {listed:#?}\nwanted: {want:#?}"
    );
    for w in want {
        let got = listed
            .iter()
            .find(|d| d["digest"] == w.digest.as_str())
            .unwrap_or_else(|| panic!("{} missing from referrers {listed:#?}", w.digest));
        assert_eq!(got["mediaType"], w.media_type, "{got}");
        assert_eq!(got["size"], w.size, "{got}");
        match &w.artifact_type {
            Some(t) => assert_eq!(got["artifactType"], t.as_str(), "{got}"),
            None => assert!(
                got.get("artifactType").is_none(),
                "an index without artifactType must be listed without one: {got}"
            ),
        }
        if let Some(a) = w.annotation {
            assert_eq!(got["annotations"], json!({ ANNOTATION_KEY: a }), "{got}");
        }
    }
}

/// The suite's referrers data: a subject image with five referrers (two artifacts whose
/// config type is the artifact type, two with `artifactType` and an empty config, one index),
/// some pushed before the subject and some after, plus one referrer of a subject that is never
/// pushed. Every push must answer `OCI-Subject`.
struct ReferrersData {
    subject: Image,
    missing_subject: Image,
    a_config: Referrer,
    a_layer: Referrer,
    index: Referrer,
    b_config: Referrer,
    b_layer: Referrer,
    c_layer: Referrer,
}

impl ReferrersData {
    fn on_subject(&self) -> Vec<&Referrer> {
        vec![
            &self.a_config,
            &self.a_layer,
            &self.index,
            &self.b_config,
            &self.b_layer,
        ]
    }
}

/// Push a manifest with a subject by its digest: 201 and `OCI-Subject: <subject digest>`.
async fn push_referrer(
    c: &Client,
    h: &Hoist,
    repo: &str,
    media_type: &'static str,
    body: &[u8],
    subject: &str,
) -> String {
    let digest = sha256(body);
    let r = put_manifest_raw(c, h, repo, &digest, media_type, body).await;
    assert_eq!(
        hdr(&r, "oci-subject").as_deref(),
        Some(subject),
        "a manifest with a subject must be answered with OCI-Subject"
    );
    assert_created_manifest(r, repo, &digest).await;
    digest
}

fn config_artifact(blob: &[u8], artifact_type: &str, subject: &Image, note: &str) -> Vec<u8> {
    tab_json(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": artifact_type, "size": blob.len(), "digest": sha256(blob)},
        "layers": [empty_json_descriptor()],
        "subject": subject.descriptor(),
        "annotations": { ANNOTATION_KEY: note },
    }))
}

fn layer_artifact(
    blob: &[u8],
    artifact_type: &str,
    subject: &Image,
    note: Option<&str>,
) -> Vec<u8> {
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": empty_json_descriptor(),
        "layers": [{"mediaType": artifact_type, "size": blob.len(), "digest": sha256(blob)}],
        "subject": subject.descriptor(),
    });
    if let Some(note) = note {
        m["annotations"] = json!({ ANNOTATION_KEY: note });
    }
    tab_json(&m)
}

async fn push_referrers_data(c: &Client, h: &Hoist, repo: &str) -> ReferrersData {
    let subject = Image::new(404, Algorithm::Sha256);
    let missing_subject = Image::new(303, Algorithm::Sha256);
    let subject_digest = subject.digest();
    let blob_a = b"NHL Peanut Butter on my NHL bagel";
    let blob_b = b"NBA Strawberry Jam on my NBA croissant";
    let referrer = |body: &[u8], media_type, artifact_type: Option<&str>, annotation| Referrer {
        digest: sha256(body),
        media_type,
        size: body.len(),
        artifact_type: artifact_type.map(str::to_owned),
        annotation,
    };

    // The empty JSON blob, and reference blob A, before the subject exists.
    assert_eq!(sha256(b"{}"), EMPTY_JSON_DIGEST);
    push_post_put(c, h, repo, b"{}", Algorithm::Sha256).await;
    push_post_put(c, h, repo, blob_a, Algorithm::Sha256).await;
    let a_config_body = config_artifact(blob_a, TYPE_A, &subject, "test config a");
    push_referrer(c, h, repo, OCI_MANIFEST, &a_config_body, &subject_digest).await;
    let a_layer_body = layer_artifact(blob_a, TYPE_A, &subject, Some("test layer a"));
    push_referrer(c, h, repo, OCI_MANIFEST, &a_layer_body, &subject_digest).await;
    let index_body = tab_json(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "artifactType": TYPE_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "size": a_config_body.len(), "digest": sha256(&a_config_body)},
            {"mediaType": OCI_MANIFEST, "size": a_layer_body.len(), "digest": sha256(&a_layer_body)},
        ],
        "subject": subject.descriptor(),
        "annotations": { ANNOTATION_KEY: "test index" },
    }));
    push_referrer(c, h, repo, OCI_INDEX, &index_body, &subject_digest).await;

    // The subject itself, by tag.
    subject.push(c, h, repo, "tagtest0").await;

    // Reference blob B and its artifacts, after the subject exists.
    push_post_put(c, h, repo, blob_b, Algorithm::Sha256).await;
    let b_config_body = config_artifact(blob_b, TYPE_B, &subject, "test config b");
    push_referrer(c, h, repo, OCI_MANIFEST, &b_config_body, &subject_digest).await;
    let b_layer_body = layer_artifact(blob_b, TYPE_B, &subject, Some("test layer b"));
    push_referrer(c, h, repo, OCI_MANIFEST, &b_layer_body, &subject_digest).await;

    // A referrer of a subject that does not exist.
    let c_layer_body = layer_artifact(blob_b, TYPE_B, &missing_subject, None);
    push_referrer(
        c,
        h,
        repo,
        OCI_MANIFEST,
        &c_layer_body,
        &missing_subject.digest(),
    )
    .await;

    ReferrersData {
        a_config: referrer(
            &a_config_body,
            OCI_MANIFEST,
            Some(TYPE_A),
            Some("test config a"),
        ),
        a_layer: referrer(
            &a_layer_body,
            OCI_MANIFEST,
            Some(TYPE_A),
            Some("test layer a"),
        ),
        index: referrer(&index_body, OCI_INDEX, Some(TYPE_INDEX), Some("test index")),
        b_config: referrer(
            &b_config_body,
            OCI_MANIFEST,
            Some(TYPE_B),
            Some("test config b"),
        ),
        b_layer: referrer(
            &b_layer_body,
            OCI_MANIFEST,
            Some(TYPE_B),
            Some("test layer b"),
        ),
        c_layer: referrer(&c_layer_body, OCI_MANIFEST, Some(TYPE_B), None),
        subject,
        missing_subject,
    }
}

// =============================================================================================
// Pull
// =============================================================================================

#[tokio::test]
async fn pull_base_endpoint_answers_200() {
    let h = Hoist::start();
    let r = client().get(h.url("/v2/")).send().await.expect("get");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn pull_blobs_by_digest_with_get_and_head() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/pull";
    let img = Image::new(1, Algorithm::Sha256);
    img.push_blobs(&c, &h, repo).await;
    for (digest, data) in img.blobs() {
        assert_blob(&c, &h, repo, &digest, data).await;
    }
}

#[tokio::test]
async fn pull_nonexistent_blob_is_404_blob_unknown() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/pull";
    Image::new(2, Algorithm::Sha256)
        .push(&c, &h, repo, "tagtest0")
        .await;
    let dummy = sha256(b"hello world");
    assert_blob_missing(&c, &h, repo, &dummy).await;
    assert_blob_missing(&c, &h, repo, &dig(Algorithm::Sha512, b"hello world")).await;
    // In a repository that was never pushed to.
    for method in [reqwest::Method::HEAD, reqwest::Method::GET] {
        let r = c
            .request(
                method.clone(),
                h.url(&format!("/v2/never/pushed/blobs/{dummy}")),
            )
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 404, "{method} blob in an unknown repository");
    }
}

#[tokio::test]
async fn pull_manifests_by_tag_and_by_digest_with_get_and_head() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/pull";
    // manifests[0] is pushed by tag, manifests[1] by digest only.
    let tagged = Image::new(3, Algorithm::Sha256);
    let untagged = Image::new(4, Algorithm::Sha256);
    tagged.push(&c, &h, repo, "tagtest0").await;
    untagged.push(&c, &h, repo, &untagged.digest()).await;
    for (reference, img) in [
        ("tagtest0".to_owned(), &tagged),
        (tagged.digest(), &tagged),
        (untagged.digest(), &untagged),
    ] {
        assert_manifest(
            &c,
            &h,
            repo,
            &reference,
            OCI_MANIFEST,
            &img.manifest,
            &img.digest(),
        )
        .await;
    }
}

#[tokio::test]
async fn pull_nonexistent_manifest_is_404_manifest_unknown() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/pull";
    Image::new(5, Algorithm::Sha256)
        .push(&c, &h, repo, "tagtest0")
        .await;
    let missing_sha256 = sha256(&bytes(5, 1024));
    let missing_sha512 = dig(Algorithm::Sha512, &bytes(5, 1024));
    for reference in ["missing-tag", &missing_sha256, &missing_sha512] {
        assert_manifest_missing(&c, &h, repo, reference, "MANIFEST_UNKNOWN").await;
    }
}

/// The suite's `nonexistentManifest` is `.INVALID_MANIFEST_NAME`, and it requires exactly 404
/// for HEAD and GET of it ("HEAD/GET request to nonexistent manifest should return 404").
#[tokio::test]
async fn pull_manifest_the_suite_names_invalid_manifest_name_is_404() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/pull";
    Image::new(6, Algorithm::Sha256)
        .push(&c, &h, repo, "tagtest0")
        .await;
    for method in [reqwest::Method::HEAD, reqwest::Method::GET] {
        let r = manifest_request(&c, &h, method.clone(), repo, ".INVALID_MANIFEST_NAME").await;
        let status = r.status();
        assert_eq!(
            status,
            404,
            "{method} /v2/{repo}/manifests/.INVALID_MANIFEST_NAME: {}",
            text(r).await
        );
    }
}

/// "400 response body should contain OCI-conforming JSON message": a malformed digest reference
/// is 400 (with a spec error code) or 404.
#[tokio::test]
async fn pull_malformed_digest_reference_is_400_with_spec_error_or_404() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/pull";
    Image::new(7, Algorithm::Sha256)
        .push(&c, &h, repo, "tagtest0")
        .await;
    for reference in ["sha256:totallywrong", "sha256:baddigeststring"] {
        let r = c
            .get(h.url(&format!("/v2/{repo}/manifests/{reference}")))
            .header("content-type", OCI_MANIFEST)
            .body("blablabla")
            .send()
            .await
            .expect("get");
        let status = r.status();
        assert!(status == 400 || status == 404, "GET {reference}: {status}");
        if status == 400 {
            let body: Value = r.json().await.expect("a 400 body in JSON");
            let errors = body["errors"].as_array().expect("errors list");
            assert!(!errors.is_empty(), "{body}");
            let code = errors[0]["code"].as_str().expect("code");
            assert!(
                SPEC_ERROR_CODES.contains(&code),
                "{code} is not a spec code"
            );
        }
    }
}

/// The suite's range requests on a 2048-byte blob.
#[tokio::test]
async fn pull_blob_byte_ranges_are_206_or_416() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/pull";
    let blob = bytes(8, 2048);
    let digest = push_post_put(&c, &h, repo, &blob, Algorithm::Sha256).await;
    let url = h.url(&format!("/v2/{repo}/blobs/{digest}"));
    for (range, start, end) in [
        ("bytes=500-1499", 500, 1499),
        ("bytes=500-", 500, 2047),
        ("bytes=-500", 1548, 2047),
        ("bytes=2000-5000", 2000, 2047),
    ] {
        let r = c
            .get(&url)
            .header("range", range)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 206, "{range}");
        let len = (end - start + 1).to_string();
        assert_eq!(
            hdr(&r, "content-length").as_deref(),
            Some(len.as_str()),
            "{range}"
        );
        let content_range = hdr(&r, "content-range").unwrap_or_default();
        assert!(
            content_range == format!("bytes {start}-{end}/2048")
                || content_range == format!("bytes {start}-{end}/*"),
            "{range}: Content-Range {content_range}"
        );
        assert_eq!(r.bytes().await.expect("body").as_ref(), &blob[start..=end]);
    }
    for range in ["bytes=500-0", "bytes=5000-10000"] {
        let r = c
            .get(&url)
            .header("range", range)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 416, "{range}");
    }
}

#[tokio::test]
async fn pull_docker_schema2_image_and_manifest_list() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/docker";
    let mut children = Vec::new();
    for (seed, arch) in [(10, "amd64"), (11, "arm64")] {
        let config = tab_json(&json!({"architecture": arch, "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []}}));
        let layer = bytes(seed, 900);
        let config_digest = push_post_put(&c, &h, repo, &config, Algorithm::Sha256).await;
        let layer_digest = push_post_put(&c, &h, repo, &layer, Algorithm::Sha256).await;
        let manifest = tab_json(&json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "size": config.len(), "digest": config_digest},
            "layers": [{"mediaType": DOCKER_LAYER, "size": layer.len(), "digest": layer_digest}],
        }));
        let digest = sha256(&manifest);
        let r = put_manifest_raw(&c, &h, repo, &digest, DOCKER_MANIFEST, &manifest).await;
        assert_eq!(
            hdr(&r, "docker-content-digest").as_deref(),
            Some(digest.as_str())
        );
        assert_created_manifest(r, repo, &digest).await;
        children.push((manifest, digest, arch));
    }
    let list = tab_json(&json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": children.iter().map(|(m, d, arch)| json!({
            "mediaType": DOCKER_MANIFEST, "size": m.len(), "digest": d,
            "platform": {"architecture": arch, "os": "linux"},
        })).collect::<Vec<_>>(),
    }));
    let list_digest = sha256(&list);
    let r = put_manifest_raw(&c, &h, repo, "latest", DOCKER_LIST, &list).await;
    assert_eq!(
        hdr(&r, "docker-content-digest").as_deref(),
        Some(list_digest.as_str())
    );
    assert_created_manifest(r, repo, "latest").await;

    assert_manifest(&c, &h, repo, "latest", DOCKER_LIST, &list, &list_digest).await;
    assert_manifest(&c, &h, repo, &list_digest, DOCKER_LIST, &list, &list_digest).await;
    for (manifest, digest, _) in &children {
        assert_manifest(&c, &h, repo, digest, DOCKER_MANIFEST, manifest, digest).await;
    }
}

/// "The registry MUST store the manifest in the exact byte representation provided by the
/// client": odd whitespace, CRLF, key order, escapes and trailing newlines survive.
#[tokio::test]
async fn pull_returns_manifest_bytes_exactly_as_pushed() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/exact";
    let config =
        br#"{"os":"linux","architecture":"amd64","rootfs":{"diff_ids":[],"type":"layers"}}"#;
    let layer = bytes(12, 333);
    let cd = push_post_put(&c, &h, repo, config, Algorithm::Sha256).await;
    let ld = push_post_put(&c, &h, repo, &layer, Algorithm::Sha256).await;
    let (cs, ls) = (config.len(), layer.len());
    let body = format!(
        "{{\n   \"layers\" : [ {{ \"size\": {ls}, \"digest\":\"{ld}\",\"mediaType\":\
         \"{OCI_LAYER_GZ}\" }} ],\r\n\t\"schemaVersion\":2 ,\"config\":{{\"digest\":\"{cd}\",  \
         \"size\":{cs},\"mediaType\":\"{OCI_CONFIG}\"}},\n  \"mediaType\": \"{OCI_MANIFEST}\", \
         \"annotations\": {{\"z\": \"\\u00e9t\\u00e9 \\/ \\\"q\\\"\", \"a\": \"1\"}},\n  \
         \"org.example.custom\" : {{ \"n\": [1, 2.50, -0, 1e3], \"nil\": null }}\n}}\n\n"
    )
    .into_bytes();
    let digest = sha256(&body);
    let r = put_manifest_raw(&c, &h, repo, "odd", OCI_MANIFEST, &body).await;
    assert_eq!(
        hdr(&r, "docker-content-digest").as_deref(),
        Some(digest.as_str())
    );
    assert_created_manifest(r, repo, "odd").await;
    assert_manifest(&c, &h, repo, "odd", OCI_MANIFEST, &body, &digest).await;
    assert_manifest(&c, &h, repo, &digest, OCI_MANIFEST, &body, &digest).await;

    // The suite's own shape: tab indentation, `data` and an unspecified descriptor field.
    let img = Image::new(13, Algorithm::Sha256);
    img.push(&c, &h, repo, "suite").await;
    assert_manifest(
        &c,
        &h,
        repo,
        "suite",
        OCI_MANIFEST,
        &img.manifest,
        &img.digest(),
    )
    .await;
}

// =============================================================================================
// Push
// =============================================================================================

#[tokio::test]
async fn push_post_then_put_creates_blob() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/push";
    let data = bytes(20, 4096);
    let digest = sha256(&data);
    let r = upload(&c, &h, repo, Upload::PostPut, &data, &digest).await;
    assert_blob_created(&c, &h, r, &digest, &data).await;
    assert_blob(&c, &h, repo, &digest, &data).await;
}

#[tokio::test]
async fn push_monolithic_post_with_digest_creates_blob() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/push";
    // "GET nonexistent blob should result in 404 response" first.
    let data = bytes(21, 4096);
    let digest = sha256(&data);
    assert_blob_missing(&c, &h, repo, &digest).await;
    let r = upload(&c, &h, repo, Upload::PostOnly, &data, &digest).await;
    assert_blob_created(&c, &h, r, &digest, &data).await;
    assert_blob(&c, &h, repo, &digest, &data).await;
}

#[tokio::test]
async fn push_streamed_patch_then_put_creates_blob() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/push";
    let data = bytes(22, 42);
    let digest = sha256(&data);
    let r = upload(&c, &h, repo, Upload::Stream, &data, &digest).await;
    assert_blob_created(&c, &h, r, &digest, &data).await;

    // The old suite's streamed PATCH: a plain body with Content-Length, no Content-Range.
    let data = bytes(23, 42);
    let digest = sha256(&data);
    let (loc, _) = open_upload(&c, &h, repo).await;
    let r = c
        .patch(absolute(&h, &loc))
        .header("content-type", OCTET)
        .body(data.clone())
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 202);
    assert_eq!(hdr(&r, "range").as_deref(), Some("0-41"));
    let r = put_upload(&c, &h, &location(&r), &digest, &[]).await;
    assert_blob_created(&c, &h, r, &digest, &data).await;
}

/// Chunks with Content-Type, Content-Range and Content-Length; each 202 with Location and
/// `Range: 0-<end>`; the status GET in between is 204 with both; an empty closing PUT.
#[tokio::test]
async fn push_chunked_patches_with_content_range_then_put_creates_blob() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/push";
    let data = bytes(24, 3 * 1024 - 5);
    let digest = sha256(&data);
    let (mut loc, min) = open_upload(&c, &h, repo).await;
    let size = (data.len() / 3 + 1).max(min.unwrap_or(0));
    let mut start = 0;
    for chunk in data.chunks(size) {
        let r = patch_chunk(&c, &h, &loc, start, chunk).await;
        assert_eq!(r.status(), 202);
        let end = start + chunk.len() - 1;
        assert_eq!(hdr(&r, "range"), Some(format!("0-{end}")));
        loc = location(&r);
        let (status_loc, range) = upload_status(&c, &h, &loc).await;
        assert_eq!(range, format!("0-{end}"));
        loc = status_loc;
        start = end + 1;
    }
    let r = c
        .put(absolute(&h, &with_param(&loc, "digest", &digest)))
        .header("content-type", OCTET)
        .header("content-length", "0")
        .send()
        .await
        .expect("put");
    assert_blob_created(&c, &h, r, &digest, &data).await;
    assert_blob(&c, &h, repo, &digest, &data).await;

    // The same with the final chunk carried by the closing PUT.
    let data = bytes(25, 3 * 1024 - 5);
    let digest = sha256(&data);
    let r = upload(&c, &h, repo, Upload::ChunkedPutLast, &data, &digest).await;
    assert_blob_created(&c, &h, r, &digest, &data).await;
}

/// The suite's "Blob Upload Chunked" steps: an out-of-order first chunk is 416; a retried
/// chunk is 416; a chunk that skips ahead is 416; the status GET then shows the range
/// received, and the upload finishes from there.
#[tokio::test]
async fn push_out_of_order_chunk_is_416_and_upload_resumes() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/push";
    let blob = bytes(26, 42);
    let digest = sha256(&blob);
    let (chunk1, chunk2) = blob.split_at(42 / 2 + 1);

    // A fresh session whose first chunk does not start at 0.
    let (loc, _) = open_upload(&c, &h, repo).await;
    let r = patch_chunk(&c, &h, &loc, chunk1.len(), chunk2).await;
    assert_eq!(r.status(), 416, "out-of-order blob upload");

    let (first_loc, _) = open_upload(&c, &h, repo).await;
    let r = patch_chunk(&c, &h, &first_loc, 0, chunk1).await;
    assert_eq!(r.status(), 202, "first chunk");
    assert_eq!(hdr(&r, "range").as_deref(), Some("0-21"));
    let loc = location(&r);

    // Retry the previous chunk at the session's first Location.
    let r = patch_chunk(&c, &h, &first_loc, 0, chunk1).await;
    assert_eq!(r.status(), 416, "retried chunk");
    // Skip ahead.
    let r = patch_chunk(&c, &h, &loc, 30, &chunk2[8..]).await;
    assert_eq!(r.status(), 416, "chunk past the end");

    // "Get on stale blob upload should return 204 with a range and location".
    let (loc, range) = upload_status(&c, &h, &first_loc).await;
    assert_eq!(range, "0-21");
    let r = patch_chunk(&c, &h, &loc, chunk1.len(), chunk2).await;
    assert_eq!(r.status(), 202, "second chunk");
    assert_eq!(hdr(&r, "range").as_deref(), Some("0-41"));
    let r = put_upload(&c, &h, &location(&r), &digest, &[]).await;
    assert_blob_created(&c, &h, r, &digest, &blob).await;
}

/// The suite's "chunked out-of-order and put chunk": when the closing PUT carries the final
/// chunk with a Content-Range that does not continue the upload, the spec's rule for chunks
/// applies ("If a chunk is uploaded out of order, the registry MUST respond with a 416"), and
/// the session stays usable: GET shows the range and the right chunks still finish it.
#[tokio::test]
async fn push_out_of_order_final_chunk_in_put_is_416_and_upload_resumes() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/push";
    let blob = bytes(27, 3 * 100 - 5);
    let digest = sha256(&blob);
    let size = blob.len() / 3 + 1;
    let (loc, _) = open_upload(&c, &h, repo).await;
    let r = patch_chunk(&c, &h, &loc, 0, &blob[..size]).await;
    assert_eq!(r.status(), 202);
    let loc = location(&r);

    // The last chunk, in the closing PUT, while the middle chunk is still missing.
    let r = c
        .put(absolute(&h, &with_param(&loc, "digest", &digest)))
        .header("content-type", OCTET)
        .header("content-range", format!("{}-{}", 2 * size, blob.len() - 1))
        .body(blob[2 * size..].to_vec())
        .send()
        .await
        .expect("put");
    let status = r.status();
    assert_eq!(
        status,
        416,
        "PUT with an out-of-order final chunk: {}",
        text(r).await
    );
    let (loc, range) = upload_status(&c, &h, &loc).await;
    assert_eq!(range, format!("0-{}", size - 1));

    let r = patch_chunk(&c, &h, &loc, size, &blob[size..2 * size]).await;
    assert_eq!(r.status(), 202);
    let loc = location(&r);
    let r = c
        .put(absolute(&h, &with_param(&loc, "digest", &digest)))
        .header("content-type", OCTET)
        .header("content-range", format!("{}-{}", 2 * size, blob.len() - 1))
        .body(blob[2 * size..].to_vec())
        .send()
        .await
        .expect("put");
    assert_blob_created(&c, &h, r, &digest, &blob).await;
}

/// The suite's bad-digest uploads: the bytes do not match the digest claimed. Every method
/// must end in 400 (DIGEST_INVALID, "provided digest did not match uploaded content") and
/// store nothing under either digest.
#[tokio::test]
async fn push_wrong_digest_is_400_digest_invalid_for_every_upload_method() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/push";
    for (i, how) in ALL_UPLOADS.into_iter().enumerate() {
        for alg in [Algorithm::Sha256, Algorithm::Sha512] {
            let good = bytes(30 + i as u64, 3 * 512 - 5);
            let claimed = dig(alg, &good);
            let mut sent = good.clone();
            sent.extend_from_slice(b"oh no");
            let r = upload(&c, &h, repo, how, &sent, &claimed).await;
            assert_eq!(r.status(), 400, "{how:?} {alg:?}");
            assert_eq!(error_code(r).await, "DIGEST_INVALID", "{how:?} {alg:?}");
            for d in [claimed, dig(alg, &sent)] {
                let r = c
                    .head(h.url(&format!("/v2/{repo}/blobs/{d}")))
                    .send()
                    .await
                    .expect("head");
                assert_eq!(r.status(), 404, "{how:?}: nothing stored under {d}");
            }
        }
    }
}

/// Cancel: DELETE on the session is 204 and the session is gone.
#[tokio::test]
async fn push_cancelled_upload_is_204_then_unknown() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/push";
    let (loc, _) = open_upload(&c, &h, repo).await;
    let r = patch_chunk(&c, &h, &loc, 0, b"partial").await;
    assert_eq!(r.status(), 202);
    let r = c
        .delete(absolute(&h, &loc))
        .header("content-length", "0")
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);
    let r = c.get(absolute(&h, &loc)).send().await.expect("status");
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");
}

/// The suite's well-known contents: the empty blob and the empty JSON object.
#[tokio::test]
async fn push_empty_and_empty_json_blobs() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/push";
    for alg in [Algorithm::Sha256, Algorithm::Sha512] {
        for data in [&b""[..], &b"{}"[..]] {
            let digest = dig(alg, data);
            let r = upload(&c, &h, repo, Upload::PostPut, data, &digest).await;
            assert_blob_created(&c, &h, r, &digest, data).await;
            assert_blob(&c, &h, repo, &digest, data).await;
        }
    }
}

#[tokio::test]
async fn push_cross_repo_mount_with_from_is_201() {
    let h = Hoist::start();
    let c = client();
    let (source, target) = ("conformance/push", "conformance-crossmount/target");
    for alg in [Algorithm::Sha256, Algorithm::Sha512] {
        let data = bytes(40, 42);
        let digest = push_post_put(&c, &h, source, &data, alg).await;
        let url = with_param(
            &with_param(&format!("/v2/{target}/blobs/uploads/"), "mount", &digest),
            "from",
            source,
        );
        let r = c.post(h.url(&url)).send().await.expect("mount");
        assert_eq!(r.status(), 201, "{alg:?} mount");
        assert_eq!(
            relative(&location(&r)),
            format!("/v2/{target}/blobs/{digest}")
        );
        assert_blob_created(&c, &h, r, &digest, &data).await;
        assert_blob(&c, &h, target, &digest, &data).await;
    }
}

/// Without `from`, a registry without automatic cross-mounting opens an upload session (202
/// with a Location); with it, it mounts (201). Either way the client ends with the blob.
#[tokio::test]
async fn push_cross_repo_mount_without_from_yields_session_or_mount() {
    let h = Hoist::start();
    let c = client();
    let target = "conformance-crossmount/anonymous";
    // "Cross-mounting of a blob without the from argument should yield session id".
    let dummy = sha256(b"hello world");
    let r = c
        .post(h.url(&with_param(
            &format!("/v2/{target}/blobs/uploads/"),
            "mount",
            &dummy,
        )))
        .send()
        .await
        .expect("mount");
    assert_eq!(r.status(), 202);
    location(&r);

    // A blob that does exist elsewhere.
    for alg in [Algorithm::Sha256, Algorithm::Sha512] {
        let data = bytes(41, 512);
        let digest = push_post_put(&c, &h, "conformance/push", &data, alg).await;
        let url = with_param(&format!("/v2/{target}/blobs/uploads/"), "mount", &digest);
        let r = c.post(h.url(&url)).send().await.expect("mount");
        let r = match r.status().as_u16() {
            201 => r,
            202 => put_upload(&c, &h, &location(&r), &digest, &data).await,
            other => panic!("mount without from: {other}"),
        };
        assert_blob_created(&c, &h, r, &digest, &data).await;
    }
}

/// Mounting from a repository that lacks the blob must not succeed: 202 and a session in the
/// target repository, which then takes the upload.
#[tokio::test]
async fn push_cross_repo_mount_of_missing_blob_starts_an_upload() {
    let h = Hoist::start();
    let c = client();
    let (source, target) = ("conformance/source", "conformance-crossmount/missing");
    Image::new(42, Algorithm::Sha256)
        .push(&c, &h, source, "tagtest0")
        .await;
    for alg in [Algorithm::Sha256, Algorithm::Sha512] {
        let data = bytes(43, 512);
        let digest = dig(alg, &data);
        let url = with_param(
            &with_param(&format!("/v2/{target}/blobs/uploads/"), "mount", &digest),
            "from",
            source,
        );
        let r = c.post(h.url(&url)).send().await.expect("mount");
        assert_eq!(r.status(), 202, "mount of a blob the source lacks");
        let loc = location(&r);
        assert!(
            relative(&loc).starts_with(&format!("/v2/{target}/blobs/uploads/")),
            "{loc}"
        );
        let r = put_upload(&c, &h, &loc, &digest, &data).await;
        assert_blob_created(&c, &h, r, &digest, &data).await;
    }
}

/// "PUT should accept a manifest upload": the same manifest under four tags, each 201 with
/// a Location that serves it, and `Docker-Content-Digest` equal to its digest.
#[tokio::test]
async fn push_manifest_by_tag_is_201_with_location_and_digest() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/push";
    let img = Image::new(50, Algorithm::Sha256);
    img.push_blobs(&c, &h, repo).await;
    // "GET nonexistent manifest should return 404".
    let r = manifest_request(&c, &h, reqwest::Method::GET, repo, "test0").await;
    assert_eq!(r.status(), 404);
    let code = error_code(r).await;
    assert!(
        code == "MANIFEST_UNKNOWN" || code == "NAME_UNKNOWN",
        "{code}"
    );
    for i in 0..4 {
        let tag = format!("test{i}");
        let r = put_manifest_raw(&c, &h, repo, &tag, OCI_MANIFEST, &img.manifest).await;
        assert_eq!(r.status(), 201, "{tag}");
        assert_eq!(hdr(&r, "docker-content-digest"), Some(img.digest()));
        let loc = location(&r);
        let got = c
            .get(absolute(&h, &loc))
            .header("accept", ACCEPT_ALL)
            .send()
            .await
            .expect("get Location");
        assert_eq!(got.status(), 200, "{loc}");
        assert_eq!(hdr(&got, "content-type").as_deref(), Some(OCI_MANIFEST));
        assert_eq!(
            got.bytes().await.expect("body").as_ref(),
            img.manifest.as_slice()
        );
        assert_manifest(
            &c,
            &h,
            repo,
            &tag,
            OCI_MANIFEST,
            &img.manifest,
            &img.digest(),
        )
        .await;
    }
    assert_manifest(
        &c,
        &h,
        repo,
        &img.digest(),
        OCI_MANIFEST,
        &img.manifest,
        &img.digest(),
    )
    .await;
}

#[tokio::test]
async fn push_manifest_by_digest_is_201_with_location_and_digest() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/push";
    let img = Image::new(51, Algorithm::Sha256);
    img.push_blobs(&c, &h, repo).await;
    let r = put_manifest_raw(&c, &h, repo, &img.digest(), OCI_MANIFEST, &img.manifest).await;
    assert_eq!(r.status(), 201);
    assert_eq!(hdr(&r, "docker-content-digest"), Some(img.digest()));
    assert_eq!(
        relative(&location(&r)),
        format!("/v2/{repo}/manifests/{}", img.digest())
    );
    assert_manifest(
        &c,
        &h,
        repo,
        &img.digest(),
        OCI_MANIFEST,
        &img.manifest,
        &img.digest(),
    )
    .await;
    // Content-Type parameters are ignored, and not served back.
    let other = Image::new(52, Algorithm::Sha256);
    other.push_blobs(&c, &h, repo).await;
    let ct = format!("{OCI_MANIFEST}; charset=utf-8");
    let r = put_manifest_raw(&c, &h, repo, "with-params", &ct, &other.manifest).await;
    assert_created_manifest(r, repo, "with-params").await;
    assert_manifest(
        &c,
        &h,
        repo,
        "with-params",
        OCI_MANIFEST,
        &other.manifest,
        &other.digest(),
    )
    .await;
}

/// "Registry should accept a manifest upload with no layers" (the suite's manifest has no
/// `mediaType` field either; the Content-Type says what it is).
#[tokio::test]
async fn push_manifest_without_layers_is_accepted() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/push";
    let img = Image::new(53, Algorithm::Sha256);
    img.push_blobs(&c, &h, repo).await;
    let body = tab_json(&json!({
        "schemaVersion": 2,
        "config": {
            "mediaType": OCI_CONFIG,
            "digest": img.config_digest(),
            "size": img.config.len(),
            "data": base64(&img.config),
            "newUnspecifiedField": base64(b"hello world"),
        },
        "layers": [],
    }));
    let r = put_manifest_raw(&c, &h, repo, "emptylayer", OCI_MANIFEST, &body).await;
    assert_created_manifest(r, repo, "emptylayer").await;
    assert_manifest(
        &c,
        &h,
        repo,
        "emptylayer",
        OCI_MANIFEST,
        &body,
        &sha256(&body),
    )
    .await;
}

/// A digest reference that is malformed, or that the bytes do not hash to, is 400.
#[tokio::test]
async fn push_manifest_with_wrong_digest_reference_is_400() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/push";
    let img = Image::new(54, Algorithm::Sha256);
    img.push_blobs(&c, &h, repo).await;
    let r = put_manifest_raw(
        &c,
        &h,
        repo,
        "sha256:baddigeststring",
        OCI_MANIFEST,
        &img.manifest,
    )
    .await;
    assert_eq!(r.status(), 400, "PUT by sha256:baddigeststring");
    let code = error_code(r).await;
    assert!(SPEC_ERROR_CODES.contains(&code.as_str()), "{code}");
    // The suite's "bad digest image": two spaces appended after the digest was taken.
    let mut changed = img.manifest.clone();
    changed.extend_from_slice(b"  ");
    let r = put_manifest_raw(&c, &h, repo, &img.digest(), OCI_MANIFEST, &changed).await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    let r = put_manifest_raw(&c, &h, repo, &sha256(&changed), OCI_MANIFEST, &img.manifest).await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    for d in [img.digest(), sha256(&changed)] {
        let r = manifest_request(&c, &h, reqwest::Method::HEAD, repo, &d).await;
        assert_eq!(r.status(), 404, "nothing stored under {d}");
    }
}

/// A registry MAY refuse a manifest whose blobs are missing, but then only with
/// MANIFEST_BLOB_UNKNOWN.
#[tokio::test]
async fn push_manifest_with_missing_blob_is_refused_only_as_manifest_blob_unknown() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/push";
    let img = Image::new(55, Algorithm::Sha256);
    push_post_put(&c, &h, repo, &img.config, Algorithm::Sha256).await;
    let r = put_manifest_raw(&c, &h, repo, "sparse", OCI_MANIFEST, &img.manifest).await;
    match r.status().as_u16() {
        201 => {}
        400 | 404 => assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN"),
        other => panic!("manifest with a missing layer: {other}"),
    }
}

/// A manifest whose `subject` exists, one whose subject does not, and an index with a
/// subject: all 201 with `OCI-Subject: <subject digest>`.
#[tokio::test]
async fn push_manifest_with_subject_answers_oci_subject_even_if_subject_is_missing() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/push";
    let data = push_referrers_data(&c, &h, repo).await;
    // push_referrers_data checks each OCI-Subject; the subject and referrers are pullable.
    assert_manifest(
        &c,
        &h,
        repo,
        "tagtest0",
        OCI_MANIFEST,
        &data.subject.manifest,
        &data.subject.digest(),
    )
    .await;
    assert_manifest_missing(
        &c,
        &h,
        repo,
        &data.missing_subject.digest(),
        "MANIFEST_UNKNOWN",
    )
    .await;
    for r in [&data.a_config, &data.index, &data.c_layer] {
        let got = manifest_request(&c, &h, reqwest::Method::GET, repo, &r.digest).await;
        assert_eq!(got.status(), 200, "{}", r.digest);
        assert_eq!(hdr(&got, "content-type").as_deref(), Some(r.media_type));
    }
}

/// "Client and registry implementations SHOULD expect to be able to support manifest pushes
/// of at least 4 megabytes": the suite's large manifest, 390 annotations of 10000 bytes.
#[tokio::test]
async fn push_large_manifest_of_the_suite_is_accepted() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/push";
    let img = Image::new(56, Algorithm::Sha256);
    img.push_blobs(&c, &h, repo).await;
    let mut m: Value = serde_json::from_slice(&img.manifest).expect("json");
    let big = "A".repeat(10_000);
    m["annotations"] = (0..390)
        .map(|i| (format!("large-annotation-{i}"), Value::from(big.as_str())))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let body = serde_json::to_vec(&m).expect("json");
    assert!(body.len() > 3_900_000, "{}", body.len());
    let r = put_manifest_raw(&c, &h, repo, "large-manifest", OCI_MANIFEST, &body).await;
    assert_created_manifest(r, repo, "large-manifest").await;
    assert_manifest(
        &c,
        &h,
        repo,
        "large-manifest",
        OCI_MANIFEST,
        &body,
        &sha256(&body),
    )
    .await;
}

/// The suite's non-distributable image: two layers that live elsewhere (with `urls`) and are
/// never pushed, and one normal layer.
#[tokio::test]
async fn push_image_with_non_distributable_layers_is_accepted() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/push";
    let foreign1 = sha256(&bytes(57, 256));
    let foreign2 = sha256(&bytes(58, 256));
    let layer = bytes(59, 600);
    let layer_digest = push_post_put(&c, &h, repo, &layer, Algorithm::Sha256).await;
    let config = tab_json(&json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [foreign1, foreign2, layer_digest]}}));
    let config_digest = push_post_put(&c, &h, repo, &config, Algorithm::Sha256).await;
    let url = |d: &str| format!("https://store.example.com/blobs/sha256/{}", &d[7..]);
    let body = tab_json(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": [
            {"mediaType": OCI_LAYER_ND_GZ, "digest": foreign1, "size": 123_456, "urls": [url(&foreign1)]},
            {"mediaType": OCI_LAYER_ND, "digest": foreign2, "size": 12_345, "urls": [url(&foreign2)]},
            {"mediaType": OCI_LAYER_GZ, "digest": layer_digest, "size": layer.len()},
        ],
    }));
    let r = put_manifest_raw(&c, &h, repo, "non-distributable-image", OCI_MANIFEST, &body).await;
    assert_created_manifest(r, repo, "non-distributable-image").await;
    assert_manifest(
        &c,
        &h,
        repo,
        "non-distributable-image",
        OCI_MANIFEST,
        &body,
        &sha256(&body),
    )
    .await;
}

/// The suite's index data sets: a two-platform index, an index of indexes, and an index with
/// no manifests. Children are pushed by digest first, the top by digest and then by tag.
#[tokio::test]
async fn push_oci_index_nested_index_and_empty_index() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/index";
    let alg = Algorithm::Sha256;
    let mut indexes = Vec::new();
    for seed in [60, 62] {
        let amd = Image::with_platform(seed, alg, "amd64");
        let arm = Image::with_platform(seed + 1, alg, "arm64");
        for img in [&amd, &arm] {
            img.push(&c, &h, repo, &img.digest()).await;
        }
        let (body, digest) = index_of(&[(&amd, "amd64"), (&arm, "arm64")], alg);
        let r = put_manifest_raw(&c, &h, repo, &digest, OCI_INDEX, &body).await;
        assert_eq!(hdr(&r, "docker-content-digest"), Some(digest.clone()));
        assert_created_manifest(r, repo, &digest).await;
        let r = put_manifest_raw(&c, &h, repo, "index", OCI_INDEX, &body).await;
        assert_created_manifest(r, repo, "index").await;
        assert_manifest(&c, &h, repo, "index", OCI_INDEX, &body, &digest).await;
        assert_manifest(&c, &h, repo, &digest, OCI_INDEX, &body, &digest).await;
        indexes.push((body, digest));
    }
    let nested = tab_json(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": indexes.iter().map(|(b, d)| json!({
            "mediaType": OCI_INDEX, "digest": d, "size": b.len(),
        })).collect::<Vec<_>>(),
    }));
    let r = put_manifest_raw(&c, &h, repo, "index-of-index", OCI_INDEX, &nested).await;
    assert_created_manifest(r, repo, "index-of-index").await;
    assert_manifest(
        &c,
        &h,
        repo,
        "index-of-index",
        OCI_INDEX,
        &nested,
        &sha256(&nested),
    )
    .await;

    let empty = tab_json(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}));
    let r = put_manifest_raw(&c, &h, repo, "empty-index", OCI_INDEX, &empty).await;
    assert_created_manifest(r, repo, "empty-index").await;
    assert_manifest(
        &c,
        &h,
        repo,
        "empty-index",
        OCI_INDEX,
        &empty,
        &sha256(&empty),
    )
    .await;
}

/// The suite's sha512 blob runs: every upload method, mount with and without `from`, then
/// HEAD and GET with the sha512 digest, then delete.
#[tokio::test]
async fn push_sha512_blobs_with_every_upload_method() {
    let h = Hoist::start();
    let c = client();
    let (repo, repo2) = ("conformance/sha512", "conformance/sha512-source");
    let alg = Algorithm::Sha512;
    let mut pushed = Vec::new();
    for (i, how) in ALL_UPLOADS.into_iter().enumerate() {
        let data = bytes(70 + i as u64, 3 * 512 - 5);
        let digest = dig(alg, &data);
        let r = upload(&c, &h, repo, how, &data, &digest).await;
        assert_blob_created(&c, &h, r, &digest, &data).await;
        pushed.push((digest, data));
    }
    let data = bytes(80, 512);
    let digest = push_post_put(&c, &h, repo2, &data, alg).await;
    let url = with_param(
        &with_param(&format!("/v2/{repo}/blobs/uploads/"), "mount", &digest),
        "from",
        repo2,
    );
    let r = c.post(h.url(&url)).send().await.expect("mount");
    assert_blob_created(&c, &h, r, &digest, &data).await;
    pushed.push((digest, data));

    for (digest, data) in &pushed {
        assert_eq!(digest.len(), "sha512:".len() + 128);
        assert_blob(&c, &h, repo, digest, data).await;
    }
    for (digest, _) in &pushed {
        let r = c
            .delete(h.url(&format!("/v2/{repo}/blobs/{digest}")))
            .send()
            .await
            .expect("delete");
        assert_eq!(r.status(), 202);
        assert_blob_missing(&c, &h, repo, digest).await;
    }
}

/// The suite's sha512 data set: an index of two images, every blob and manifest addressed by
/// sha512, pushed by digest only. "The Docker-Content-Digest header returns the digest of the
/// uploaded blob, and MUST be equal to the client provided digest."
#[tokio::test]
async fn push_sha512_manifests_by_digest_are_stored_under_that_digest() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/sha512";
    let alg = Algorithm::Sha512;
    let amd = Image::with_platform(90, alg, "amd64");
    let arm = Image::with_platform(91, alg, "arm64");
    for img in [&amd, &arm] {
        img.push_blobs(&c, &h, repo).await;
        let digest = img.digest();
        assert!(digest.starts_with("sha512:"));
        let r = put_manifest_raw(&c, &h, repo, &digest, OCI_MANIFEST, &img.manifest).await;
        assert_eq!(r.status(), 201);
        assert_eq!(hdr(&r, "docker-content-digest"), Some(digest.clone()));
        assert_eq!(
            relative(&location(&r)),
            format!("/v2/{repo}/manifests/{digest}")
        );
        assert_manifest(&c, &h, repo, &digest, OCI_MANIFEST, &img.manifest, &digest).await;
        for (d, data) in img.blobs() {
            assert_blob(&c, &h, repo, &d, data).await;
        }
    }
    let (index, index_digest) = index_of(&[(&amd, "amd64"), (&arm, "arm64")], alg);
    let r = put_manifest_raw(&c, &h, repo, &index_digest, OCI_INDEX, &index).await;
    assert_eq!(r.status(), 201);
    assert_eq!(hdr(&r, "docker-content-digest"), Some(index_digest.clone()));
    assert_manifest(
        &c,
        &h,
        repo,
        &index_digest,
        OCI_INDEX,
        &index,
        &index_digest,
    )
    .await;
}

// =============================================================================================
// Content discovery
// =============================================================================================

/// Nine tags on one manifest, mixing case, digits and punctuation.
const TAGS: [&str; 9] = [
    "test0", "test1", "test2", "test3", "B", "a", "_x", "1.0", "Z-9",
];

async fn push_tags(c: &Client, h: &Hoist, repo: &str) {
    let img = Image::new(100, Algorithm::Sha256);
    img.push_blobs(c, h, repo).await;
    for tag in TAGS {
        let r = put_manifest_raw(c, h, repo, tag, OCI_MANIFEST, &img.manifest).await;
        assert_created_manifest(r, repo, tag).await;
    }
}

#[tokio::test]
async fn discovery_tags_list_has_every_tag_in_order_and_names_the_repo() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/discovery";
    push_tags(&c, &h, repo).await;
    let r = c
        .get(h.url(&format!("/v2/{repo}/tags/list")))
        .send()
        .await
        .expect("tags");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["name"], repo);
    let (tags, next) = tags_page(&c, &h, &format!("/v2/{repo}/tags/list")).await;
    assert_eq!(next, None, "everything fits one page");
    let mut want: Vec<String> = TAGS.iter().map(|t| (*t).to_owned()).collect();
    want.sort();
    let mut got = tags.clone();
    got.sort();
    assert_eq!(got, want);
    assert_spec_order(&tags);
}

/// `n` limits the page to exactly `n` tags while more remain, and the Link header
/// (`rel="next"`) leads through the rest; the last page has no Link.
#[tokio::test]
async fn discovery_tags_list_n_limits_and_link_header_pages_through() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/discovery";
    push_tags(&c, &h, repo).await;
    let (all, _) = tags_page(&c, &h, &format!("/v2/{repo}/tags/list")).await;
    for n in [1, 2, 4, 9, 20] {
        let mut collected = Vec::new();
        let mut next = Some(format!("/v2/{repo}/tags/list?n={n}"));
        while let Some(url) = next {
            let (page, link) = tags_page(&c, &h, &url).await;
            if link.is_some() {
                assert_eq!(page.len(), n, "a page with a Link before it ends: {url}");
            }
            assert!(page.len() <= n, "{url}: {page:?}");
            collected.extend(page);
            next = link;
            assert!(
                collected.len() <= all.len(),
                "paging does not end: {collected:?}"
            );
        }
        assert_eq!(collected, all, "n={n}");
    }
    // The suite: n = half the tags gives exactly that many.
    let (page, _) = tags_page(&c, &h, &format!("/v2/{repo}/tags/list?n=4")).await;
    assert_eq!(page, all[..4]);
}

#[tokio::test]
async fn discovery_tags_list_n_zero_is_empty_without_link() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/discovery";
    push_tags(&c, &h, repo).await;
    let (tags, next) = tags_page(&c, &h, &format!("/v2/{repo}/tags/list?n=0")).await;
    assert!(tags.is_empty(), "{tags:?}");
    assert_eq!(next, None);
}

/// `last` starts the list after the given tag (non-inclusive), with or without `n`.
#[tokio::test]
async fn discovery_tags_list_last_starts_after_the_given_tag() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/discovery";
    push_tags(&c, &h, repo).await;
    let (all, _) = tags_page(&c, &h, &format!("/v2/{repo}/tags/list")).await;
    let end = all.len() / 2;
    let last = &all[end - 1];
    let (rest, _) = tags_page(
        &c,
        &h,
        &with_param(&format!("/v2/{repo}/tags/list"), "last", last),
    )
    .await;
    assert_eq!(rest, all[end..], "last={last}");
    let url = with_param(&format!("/v2/{repo}/tags/list?n=2"), "last", &all[0]);
    let (page, _) = tags_page(&c, &h, &url).await;
    assert_eq!(page, all[1..3], "n=2&last={}", all[0]);
    let (page, next) = tags_page(
        &c,
        &h,
        &with_param(
            &format!("/v2/{repo}/tags/list?n=5"),
            "last",
            &all[all.len() - 1],
        ),
    )
    .await;
    assert!(page.is_empty() && next.is_none(), "{page:?} {next:?}");
}

/// The suite lists tags of a repository before pushing anything: 200 or 404.
#[tokio::test]
async fn discovery_tags_list_of_unknown_repo_is_empty_or_name_unknown() {
    let h = Hoist::start();
    let c = client();
    let r = c
        .get(h.url("/v2/conformance/nothing-here/tags/list"))
        .send()
        .await
        .expect("tags");
    match r.status().as_u16() {
        200 => {
            let body: Value = r.json().await.expect("json");
            assert!(body["tags"].as_array().is_none_or(Vec::is_empty), "{body}");
        }
        404 => assert_eq!(error_code(r).await, "NAME_UNKNOWN"),
        other => panic!("tags list of an unknown repository: {other}"),
    }
}

/// "GET request to nonexistent blob should result in empty 200 response" — also in a
/// repository that has nothing yet, as the new suite checks before it pushes.
#[tokio::test]
async fn discovery_referrers_of_unknown_subject_is_an_empty_index() {
    let h = Hoist::start();
    let c = client();
    let dummy = sha256(b"hello world");
    let (_, listed) = referrers(&c, &h, "conformance/empty", &dummy, None).await;
    assert!(listed.is_empty());
    let repo = "conformance/discovery";
    Image::new(110, Algorithm::Sha256)
        .push(&c, &h, repo, "tagtest0")
        .await;
    for subject in [dummy, dig(Algorithm::Sha512, b"hello world")] {
        let (_, listed) = referrers(&c, &h, repo, &subject, None).await;
        assert!(listed.is_empty(), "{listed:?}");
    }
}

/// All five referrers of the subject, each with the media type, size, artifact type (the
/// config's media type when the manifest has no `artifactType`) and annotations of its
/// manifest.
#[tokio::test]
async fn discovery_referrers_lists_manifests_and_indexes_with_that_subject() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/discovery";
    let data = push_referrers_data(&c, &h, repo).await;
    let (_, listed) = referrers(&c, &h, repo, &data.subject.digest(), None).await;
    assert_referrers(&listed, &data.on_subject());
    // Only referrers "in the same <name> namespace" are listed.
    data.subject
        .push(&c, &h, "conformance/elsewhere", "tagtest0")
        .await;
    let (_, listed) = referrers(
        &c,
        &h,
        "conformance/elsewhere",
        &data.subject.digest(),
        None,
    )
    .await;
    assert!(listed.is_empty(), "{listed:?}");
}

/// Filtering by `artifactType` answers `OCI-Filters-Applied: artifactType` and only matching
/// referrers.
#[tokio::test]
async fn discovery_referrers_filter_by_artifact_type_sets_oci_filters_applied() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/discovery";
    let data = push_referrers_data(&c, &h, repo).await;
    let subject = data.subject.digest();
    for (artifact_type, want) in [
        (TYPE_A, vec![&data.a_config, &data.a_layer]),
        (TYPE_B, vec![&data.b_config, &data.b_layer]),
        (TYPE_INDEX, vec![&data.index]),
        ("application/vnd.nobody.uses.this+json", vec![]),
    ] {
        let (filters, listed) = referrers(&c, &h, repo, &subject, Some(artifact_type)).await;
        let applied = filters
            .as_deref()
            .is_some_and(|f| f.split(',').any(|x| x.trim() == "artifactType"));
        assert!(
            applied,
            "OCI-Filters-Applied must name artifactType: {filters:?}"
        );
        assert_referrers(&listed, &want);
    }
}

/// A referrer pushed before its subject exists is listed for that subject, and still after
/// the subject is pushed.
#[tokio::test]
async fn discovery_referrers_for_subject_not_pushed_yet() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/discovery";
    let data = push_referrers_data(&c, &h, repo).await;
    let missing = data.missing_subject.digest();
    let (_, listed) = referrers(&c, &h, repo, &missing, None).await;
    assert_referrers(&listed, &[&data.c_layer]);
    data.missing_subject.push(&c, &h, repo, "late").await;
    let (_, listed) = referrers(&c, &h, repo, &missing, None).await;
    assert_referrers(&listed, &[&data.c_layer]);
}

/// "If the artifactType is empty or missing in an index, the artifactType MUST be omitted."
#[tokio::test]
async fn discovery_referrers_omit_artifact_type_of_index_without_one() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/discovery";
    let subject = Image::new(120, Algorithm::Sha256);
    subject.push(&c, &h, repo, "subject").await;
    let child = Image::new(121, Algorithm::Sha256);
    child.push(&c, &h, repo, &child.digest()).await;
    let body = tab_json(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [child.descriptor()],
        "subject": subject.descriptor(),
        "annotations": { ANNOTATION_KEY: "plain index" },
    }));
    push_referrer(&c, &h, repo, OCI_INDEX, &body, &subject.digest()).await;
    let want = Referrer {
        digest: sha256(&body),
        media_type: OCI_INDEX,
        size: body.len(),
        artifact_type: None,
        annotation: Some("plain index"),
    };
    let (_, listed) = referrers(&c, &h, repo, &subject.digest(), None).await;
    assert_referrers(&listed, &[&want]);
}

/// Subjects and referrers addressed by sha512.
#[tokio::test]
async fn discovery_referrers_of_sha512_subject() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/discovery";
    let subject = Image::new(130, Algorithm::Sha512);
    subject.push(&c, &h, repo, &subject.digest()).await;
    push_post_put(&c, &h, repo, b"{}", Algorithm::Sha256).await;
    let blob = b"sha512 referrer";
    push_post_put(&c, &h, repo, blob, Algorithm::Sha256).await;
    let body = layer_artifact(blob, TYPE_A, &subject, Some("sha512 subject"));
    let referrer_digest = dig(Algorithm::Sha512, &body);
    let r = put_manifest_raw(&c, &h, repo, &referrer_digest, OCI_MANIFEST, &body).await;
    assert_eq!(hdr(&r, "oci-subject"), Some(subject.digest()));
    assert_created_manifest(r, repo, &referrer_digest).await;
    let want = Referrer {
        digest: referrer_digest,
        media_type: OCI_MANIFEST,
        size: body.len(),
        artifact_type: Some(TYPE_A.to_owned()),
        annotation: Some("sha512 subject"),
    };
    let (_, listed) = referrers(&c, &h, repo, &subject.digest(), None).await;
    assert_referrers(&listed, &[&want]);
}

/// "If the request is invalid, such as a `<digest>` with an invalid syntax, a `400 Bad
/// Request` MUST be returned."
#[tokio::test]
async fn discovery_referrers_with_malformed_digest_is_400() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/discovery";
    Image::new(140, Algorithm::Sha256)
        .push(&c, &h, repo, "tagtest0")
        .await;
    for bad in ["sha256:totallywrong", "not-a-digest", "sha256:ABC"] {
        let r = c
            .get(h.url(&format!("/v2/{repo}/referrers/{bad}")))
            .send()
            .await
            .expect("referrers");
        assert_eq!(r.status(), 400, "{bad}");
    }
}

// =============================================================================================
// Content management
// =============================================================================================

/// "DELETE request to manifest tag should return 202": the tag is gone at once, the
/// manifest stays, and the tag list shrinks.
#[tokio::test]
async fn management_delete_tag_leaves_manifest_and_shrinks_tag_list() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/management";
    let img = Image::new(150, Algorithm::Sha256);
    img.push(&c, &h, repo, "tagtest0").await;
    let r = put_manifest_raw(&c, &h, repo, "keep", OCI_MANIFEST, &img.manifest).await;
    assert_created_manifest(r, repo, "keep").await;
    let (before, _) = tags_page(&c, &h, &format!("/v2/{repo}/tags/list")).await;

    let r = c
        .delete(h.url(&format!("/v2/{repo}/manifests/tagtest0")))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 202);
    assert_manifest_missing(&c, &h, repo, "tagtest0", "MANIFEST_UNKNOWN").await;
    assert_manifest(
        &c,
        &h,
        repo,
        &img.digest(),
        OCI_MANIFEST,
        &img.manifest,
        &img.digest(),
    )
    .await;
    assert_manifest(
        &c,
        &h,
        repo,
        "keep",
        OCI_MANIFEST,
        &img.manifest,
        &img.digest(),
    )
    .await;
    let (after, _) = tags_page(&c, &h, &format!("/v2/{repo}/tags/list")).await;
    assert!(after.len() < before.len(), "{before:?} -> {after:?}");
    assert_eq!(after, ["keep"]);
    // Deleting it again: it is not there.
    let r = c
        .delete(h.url(&format!("/v2/{repo}/manifests/tagtest0")))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 404);
}

/// "Once deleted, a GET to /v2/<name>/manifests/<digest> and any tag pointing to that digest
/// will return a 404."
#[tokio::test]
async fn management_delete_manifest_by_digest_removes_it_and_its_tags() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/management";
    let img = Image::new(151, Algorithm::Sha256);
    let other = Image::new(152, Algorithm::Sha256);
    img.push(&c, &h, repo, "tagtest0").await;
    let r = put_manifest_raw(&c, &h, repo, "second", OCI_MANIFEST, &img.manifest).await;
    assert_created_manifest(r, repo, "second").await;
    other.push(&c, &h, repo, "other").await;

    let r = c
        .delete(h.url(&format!("/v2/{repo}/manifests/{}", img.digest())))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 202);
    for reference in [img.digest().as_str(), "tagtest0", "second"] {
        assert_manifest_missing(&c, &h, repo, reference, "MANIFEST_UNKNOWN").await;
    }
    let (tags, _) = tags_page(&c, &h, &format!("/v2/{repo}/tags/list")).await;
    assert_eq!(tags, ["other"]);
    assert_manifest(
        &c,
        &h,
        repo,
        "other",
        OCI_MANIFEST,
        &other.manifest,
        &other.digest(),
    )
    .await;
    // "unless already deleted": a second DELETE is 404.
    let r = c
        .delete(h.url(&format!("/v2/{repo}/manifests/{}", img.digest())))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
}

/// "DELETE request to blob URL should yield 202", then 404 for HEAD, GET and a second DELETE.
#[tokio::test]
async fn management_delete_blob_then_404_blob_unknown() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/management";
    let img = Image::new(153, Algorithm::Sha256);
    img.push(&c, &h, repo, "tagtest0").await;
    let r = c
        .delete(h.url(&format!("/v2/{repo}/manifests/{}", img.digest())))
        .send()
        .await
        .expect("delete manifest");
    assert_eq!(r.status(), 202);
    for (digest, _) in img.blobs() {
        let url = h.url(&format!("/v2/{repo}/blobs/{digest}"));
        let r = c.delete(&url).send().await.expect("delete blob");
        assert_eq!(r.status(), 202);
        assert_blob_missing(&c, &h, repo, &digest).await;
        let r = c.delete(&url).send().await.expect("delete blob");
        assert_eq!(r.status(), 404, "blob not found");
        assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
    }
}

/// The new suite's teardown of each data set: delete every tag (gone at once), every
/// manifest by digest in reverse push order (gone at once), then every blob (gone at once) —
/// for an index with sha256 digests and one with sha512.
#[tokio::test]
async fn management_teardown_in_suite_order_leaves_nothing_pullable() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/management";
    for (alg, seed, tag) in [
        (Algorithm::Sha256, 160, Some("index")),
        (Algorithm::Sha512, 170, None),
    ] {
        let amd = Image::with_platform(seed, alg, "amd64");
        let arm = Image::with_platform(seed + 1, alg, "arm64");
        for img in [&amd, &arm] {
            img.push(&c, &h, repo, &img.digest()).await;
        }
        let (index, index_digest) = index_of(&[(&amd, "amd64"), (&arm, "arm64")], alg);
        let r = put_manifest_raw(&c, &h, repo, &index_digest, OCI_INDEX, &index).await;
        assert_created_manifest(r, repo, &index_digest).await;
        if let Some(tag) = tag {
            let r = put_manifest_raw(&c, &h, repo, tag, OCI_INDEX, &index).await;
            assert_created_manifest(r, repo, tag).await;
            let r = c
                .delete(h.url(&format!("/v2/{repo}/manifests/{tag}")))
                .send()
                .await
                .expect("delete tag");
            assert_eq!(r.status(), 202, "delete tag {tag}");
            let r = manifest_request(&c, &h, reqwest::Method::HEAD, repo, tag).await;
            assert_eq!(r.status(), 404, "tag {tag} after delete");
        }
        for digest in [index_digest, arm.digest(), amd.digest()] {
            let r = c
                .delete(h.url(&format!("/v2/{repo}/manifests/{digest}")))
                .send()
                .await
                .expect("delete manifest");
            assert_eq!(r.status(), 202, "delete {digest}");
            let r = manifest_request(&c, &h, reqwest::Method::HEAD, repo, &digest).await;
            assert_eq!(r.status(), 404, "{digest} after delete");
        }
        for img in [&amd, &arm] {
            for (digest, _) in img.blobs() {
                let r = c
                    .delete(h.url(&format!("/v2/{repo}/blobs/{digest}")))
                    .send()
                    .await
                    .expect("delete blob");
                assert_eq!(r.status(), 202, "delete blob {digest}");
                let r = c
                    .head(h.url(&format!("/v2/{repo}/blobs/{digest}")))
                    .send()
                    .await
                    .expect("head");
                assert_eq!(r.status(), 404, "blob {digest} after delete");
            }
        }
    }
}

/// Deleting a referrer takes it out of its subject's referrers list; deleting the subject
/// leaves the referrers API answering 200.
#[tokio::test]
async fn management_deleted_referrer_leaves_the_referrers_list() {
    let h = Hoist::start();
    let c = client();
    let repo = "conformance/management";
    let data = push_referrers_data(&c, &h, repo).await;
    let subject = data.subject.digest();
    for gone in [&data.a_layer, &data.index] {
        let r = c
            .delete(h.url(&format!("/v2/{repo}/manifests/{}", gone.digest)))
            .send()
            .await
            .expect("delete referrer");
        assert_eq!(r.status(), 202);
    }
    let (_, listed) = referrers(&c, &h, repo, &subject, None).await;
    assert_referrers(&listed, &[&data.a_config, &data.b_config, &data.b_layer]);
    let r = c
        .delete(h.url(&format!("/v2/{repo}/manifests/{subject}")))
        .send()
        .await
        .expect("delete subject");
    assert_eq!(r.status(), 202);
    referrers(&c, &h, repo, &subject, None).await;
}

/// "If the repository does not exist, the response MUST return 404 Not Found", and deleting
/// what was never there is 404 too.
#[tokio::test]
async fn management_delete_of_unknown_content_is_404() {
    let h = Hoist::start();
    let c = client();
    let digest = sha256(b"never pushed");
    for path in [
        format!("/v2/conformance/unknown/manifests/{digest}"),
        "/v2/conformance/unknown/manifests/tagtest0".to_owned(),
        format!("/v2/conformance/unknown/blobs/{digest}"),
    ] {
        let r = c.delete(h.url(&path)).send().await.expect("delete");
        assert_eq!(r.status(), 404, "DELETE {path}");
    }
    let repo = "conformance/management";
    Image::new(180, Algorithm::Sha256)
        .push(&c, &h, repo, "tagtest0")
        .await;
    for (path, code) in [
        (format!("/v2/{repo}/manifests/{digest}"), "MANIFEST_UNKNOWN"),
        (format!("/v2/{repo}/manifests/nope"), "MANIFEST_UNKNOWN"),
        (format!("/v2/{repo}/blobs/{digest}"), "BLOB_UNKNOWN"),
    ] {
        let r = c.delete(h.url(&path)).send().await.expect("delete");
        assert_eq!(r.status(), 404, "DELETE {path}");
        assert_eq!(error_code(r).await, code, "DELETE {path}");
    }
}
