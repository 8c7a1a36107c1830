//! The mirror tests' infrastructure proves itself: real distribution upstreams (open, Basic,
//! bearer token), seeding through skopeo, the token issuer, the access log and the fault proxy.

use crate::fault_proxy::{
    basic_auth, http_request, read_head, read_some, Fault, FaultProxy, Head, Rule,
};
use crate::harness::sha256;
use crate::token_issuer::{Access, KeyHeader, SERVICE};
use crate::upstream::*;
use serde_json::Value;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A request on a raw connection, read to EOF: the head and whatever body bytes came, exactly
/// as sent (chunk framing included). `None` when the connection closed before a whole head.
fn raw(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> Option<(Head, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut req = format!("{method} {target} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).expect("write request");
    let mut buf = Vec::new();
    let head = read_head(&mut stream, &mut buf).ok()??;
    let mut tmp = [0u8; 65536];
    loop {
        match read_some(&mut stream, &mut tmp) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
    Some((head, buf))
}

/// Push an image and a two-platform list, then read both back through skopeo (`inspect --raw`
/// of every manifest, `copy --all` into a `dir:` layout) and compare every byte and digest.
fn round_trip(up: &Upstream) {
    let image = up.seed_image("lib/app", "v1", &ImageSpec::new(&[3000, 70_000]));
    let list = up.seed_list("lib/multi", "v1", &ImageSpec::two_platforms(&[2000, 500]));
    assert_eq!(list.images.len(), 2);
    let entries: Value = serde_json::from_slice(&list.manifest).expect("list JSON");
    let entries: Vec<&str> = entries["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .filter_map(|m| m["digest"].as_str())
        .collect();
    assert_eq!(entries, list.child_digests());
    let built = &image.images[0];
    let config: Value = serde_json::from_slice(&built.config).expect("config JSON");
    assert_eq!(
        config["rootfs"]["diff_ids"],
        serde_json::json!(built.diff_ids)
    );
    assert_eq!(config["history"].as_array().map(Vec::len), Some(3));
    let manifest: Value = serde_json::from_slice(&image.manifest).expect("manifest JSON");
    let layers: Vec<&str> = manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .filter_map(|l| l["digest"].as_str())
        .collect();
    assert_eq!(layers, built.layer_digests());
    assert_ne!(
        list.images[0].layers, list.images[1].layers,
        "platforms differ"
    );

    let creds = up.creds_args("");
    let inspect_raw = |reference: String| -> Vec<u8> {
        let mut args = vec!["inspect", "--raw", "--tls-verify=false"];
        args.extend(creds.iter().map(String::as_str));
        args.push(&reference);
        up.skopeo(&args).into_bytes()
    };
    assert_eq!(inspect_raw(up.docker_ref("lib/app", "v1")), image.manifest);
    assert_eq!(inspect_raw(up.docker_ref("lib/multi", "v1")), list.manifest);
    for child in &list.images {
        assert_eq!(
            inspect_raw(up.docker_ref("lib/multi", &child.digest)),
            child.manifest
        );
    }

    let served = up.manifest("lib/app", "v1", Some(ACCEPT_ALL));
    assert_eq!(served.status, 200);
    assert_eq!(served.digest.as_deref(), Some(image.digest.as_str()));
    assert_eq!(served.content_type.as_deref(), Some(SCHEMA2));
    let served = up.manifest("lib/multi", "v1", Some(ACCEPT_ALL));
    assert_eq!(served.digest.as_deref(), Some(list.digest.as_str()));
    assert_eq!(served.content_type.as_deref(), Some(LIST));
    for digest in image.blob_digests() {
        assert_eq!(sha256(&up.blob("lib/app", &digest)), digest);
    }

    let back = tempfile::tempdir().expect("temp dir");
    let dest = format!("dir:{}", back.path().display());
    let src = up.docker_ref("lib/multi", "v1");
    let src_creds = up.creds_args("src");
    let mut args = vec![
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
    ];
    args.extend(src_creds.iter().map(String::as_str));
    args.extend([src.as_str(), dest.as_str()]);
    up.skopeo(&args);
    let read = |name: &str| std::fs::read(back.path().join(name)).expect("file in the copy");
    assert_eq!(read("manifest.json"), list.manifest);
    for child in &list.images {
        let hex = &child.digest["sha256:".len()..];
        assert_eq!(read(&format!("{hex}.manifest.json")), child.manifest);
    }
    for digest in list.blob_digests() {
        assert_eq!(sha256(&read(&digest["sha256:".len()..])), digest);
    }
}

#[test]
fn an_open_upstream_takes_and_serves_an_image_and_a_list_through_skopeo() {
    let up = Upstream::open();
    round_trip(&up);
}

#[test]
fn a_basic_upstream_takes_and_serves_through_skopeo_and_refuses_bad_credentials() {
    let up = Upstream::basic("alice", "s3cret");
    round_trip(&up);
    let r = http_request(&up.host_port(), "GET", "/v2/", &[], b"").expect("GET /v2/");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"upstream-test\"")
    );
    let wrong = [("Authorization", basic_auth("alice", "nope"))];
    let r = http_request(&up.host_port(), "GET", "/v2/", &wrong, b"").expect("GET /v2/");
    assert_eq!(r.status, 401);
    let reference = up.docker_ref("lib/app", "v1");
    for creds in [Some("alice:nope"), None] {
        let mut args = vec!["inspect", "--raw", "--tls-verify=false"];
        if let Some(c) = creds {
            args.extend(["--creds", c]);
        }
        args.push(&reference);
        let out = up.skopeo_output(&args);
        assert!(!out.status.success(), "skopeo with {creds:?} must fail");
    }
}

/// `Bearer realm="...",service="...",scope="..."` into its parameters.
fn challenge(value: &str) -> std::collections::BTreeMap<String, String> {
    let rest = value.strip_prefix("Bearer ").expect("a Bearer challenge");
    let mut out = std::collections::BTreeMap::new();
    let mut rest = rest;
    while let Some((key, after)) = rest.split_once("=\"") {
        let (val, after) = after.split_once('"').expect("closing quote");
        out.insert(
            key.trim_start_matches(',').trim().to_owned(),
            val.to_owned(),
        );
        rest = after;
    }
    out
}

#[test]
fn a_token_upstream_runs_the_real_bearer_flow() {
    let up = Upstream::token("bob", "hunter2");
    round_trip(&up);
    let issuer = up.issuer();
    let issued = issuer.tokens_issued();
    assert!(issued > 0, "skopeo got its tokens from the issuer");
    assert_eq!(issuer.refusals(), 0);
    let asked: Vec<String> = issuer
        .requests()
        .into_iter()
        .flat_map(|r| r.scopes)
        .collect();
    assert!(
        asked.iter().any(|s| s == "repository:lib/app:pull,push"),
        "skopeo asked for push: {asked:?}"
    );

    // The flow by hand: 401 with a Bearer challenge, a token from the realm, the retry.
    let target = "/v2/lib/app/manifests/v1";
    let accept = ("Accept", ACCEPT_ALL.to_owned());
    let r = http_request(
        &up.host_port(),
        "GET",
        target,
        std::slice::from_ref(&accept),
        b"",
    )
    .expect("GET");
    assert_eq!(r.status, 401);
    let c = challenge(r.header("www-authenticate").expect("WWW-Authenticate"));
    assert_eq!(c["realm"], issuer.realm());
    assert_eq!(c["service"], SERVICE);
    assert_eq!(c["scope"], "repository:lib/app:pull");
    let token_target = format!("/token?service={}&scope={}", c["service"], c["scope"]);
    let get_token = |auth: Option<String>| {
        let headers: Vec<(&str, String)> =
            auth.map(|a| vec![("Authorization", a)]).unwrap_or_default();
        http_request(issuer.addr(), "GET", &token_target, &headers, b"").expect("token")
    };
    let refused = get_token(Some(basic_auth("bob", "wrong")));
    assert_eq!(refused.status, 401, "{}", refused.text());
    assert_eq!(issuer.refusals(), 1);
    let ok = get_token(Some(basic_auth("bob", "hunter2")));
    assert_eq!(ok.status, 200, "{}", ok.text());
    let body: Value = serde_json::from_slice(&ok.body).expect("token JSON");
    let token = body["token"].as_str().expect("token");
    assert_eq!(body["access_token"], body["token"]);
    assert_eq!(body["expires_in"], 300);
    assert!(body["issued_at"]
        .as_str()
        .expect("issued_at")
        .ends_with('Z'));
    assert_eq!(issuer.tokens_issued(), issued + 1);
    assert_eq!(jwt_header(token)["kid"], issuer.key_id());
    let bearer = ("Authorization", format!("Bearer {token}"));
    let r = http_request(
        &up.host_port(),
        "GET",
        target,
        &[accept.clone(), bearer.clone()],
        b"",
    )
    .expect("GET with the token");
    assert_eq!(r.status, 200, "{}", r.text());
    // A pull token does not push.
    let r = http_request(
        &up.host_port(),
        "PUT",
        "/v2/lib/app/manifests/v2",
        &[bearer, ("Content-Type", SCHEMA2.to_owned())],
        &r.body,
    )
    .expect("PUT");
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .is_some_and(|c| c.contains("insufficient_scope")));

    // Anonymous: a token that grants nothing, until anonymous pull is on.
    let anon = get_token(None);
    assert_eq!(anon.status, 200);
    let anon: Value = serde_json::from_slice(&anon.body).expect("JSON");
    let anon_bearer = (
        "Authorization",
        format!("Bearer {}", anon["token"].as_str().expect("token")),
    );
    let r = http_request(
        &up.host_port(),
        "GET",
        target,
        &[accept.clone(), anon_bearer],
        b"",
    )
    .expect("GET");
    assert_eq!(r.status, 401, "an empty grant pulls nothing");
    let reference = up.docker_ref("lib/app", "v1");
    let inspect = ["inspect", "--raw", "--tls-verify=false", reference.as_str()];
    assert!(!up.skopeo_output(&inspect).status.success());
    issuer.set_anonymous_pull(true);
    up.skopeo(&inspect);
    let wrong = [
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        "bob:wrong",
        reference.as_str(),
    ];
    let refusals = issuer.refusals();
    assert!(!up.skopeo_output(&wrong).status.success());
    assert!(
        issuer.refusals() > refusals,
        "skopeo's wrong password was refused"
    );

    // Tokens naming their key by x5c work too, and expiry is configurable.
    issuer.set_key_header(KeyHeader::X5c);
    issuer.set_expires_in(7);
    let ok = get_token(Some(basic_auth("bob", "hunter2")));
    let body: Value = serde_json::from_slice(&ok.body).expect("token JSON");
    assert_eq!(body["expires_in"], 7);
    let token = body["token"].as_str().expect("token");
    let header = jwt_header(token);
    assert!(
        header["x5c"].is_array() && header["kid"].is_null(),
        "{header}"
    );
    let bearer = ("Authorization", format!("Bearer {token}"));
    let r = http_request(&up.host_port(), "GET", target, &[accept, bearer], b"").expect("GET");
    assert_eq!(r.status, 200, "x5c token: {}\n{}", r.text(), up.log());

    // A pull-only user gets pull whatever it asks for; counts can start over.
    issuer.add_pull_only_user("reader", "r");
    issuer.reset_counts();
    let push_scope = format!("/token?service={SERVICE}&scope=repository%3Alib%2Fapp%3Apull%2Cpush");
    let r = http_request(
        issuer.addr(),
        "GET",
        &push_scope,
        &[("Authorization", basic_auth("reader", "r"))],
        b"",
    )
    .expect("token");
    assert_eq!(r.status, 200);
    let requests = issuer.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].user.as_deref(), Some("reader"));
    assert_eq!(requests[0].scopes, ["repository:lib/app:pull,push"]);
    assert_eq!(
        requests[0].granted,
        [Access::repository("lib/app", &["pull"])]
    );
    assert_eq!(issuer.tokens_issued(), 1);
}

/// The decoded header of a JWT.
fn jwt_header(token: &str) -> Value {
    let b64 = token.split('.').next().expect("header");
    let json = data_encoding::BASE64URL_NOPAD
        .decode(b64.as_bytes())
        .expect("base64url");
    serde_json::from_slice(&json).expect("JSON")
}

#[test]
fn distribution_converts_schema2_to_signed_schema1_for_a_client_that_accepts_nothing() {
    let up = Upstream::open();
    let image = up.seed_image("lib/old", "v1", &ImageSpec::new(&[100, 200]));
    let s1 = up.manifest("lib/old", "v1", None);
    assert_eq!(s1.status, 200);
    assert_eq!(s1.content_type.as_deref(), Some(SCHEMA1_SIGNED));
    let digest = s1.digest.clone().expect("Docker-Content-Digest");
    assert_ne!(digest, image.digest);
    let verified = hoist::oci::schema1::jws::verify(&s1.body).expect("a valid JWS");
    assert_eq!(
        sha256(&verified.canonical),
        digest,
        "the digest is of the payload"
    );
    let doc: Value = serde_json::from_slice(&s1.body).expect("JSON");
    assert_eq!(doc["schemaVersion"], 1);
    assert_eq!(doc["tag"], "v1");
    // Two layers and the empty CMD step, top first.
    let fs_layers = doc["fsLayers"].as_array().expect("fsLayers");
    assert_eq!(fs_layers.len(), 3, "{doc}");
    assert_eq!(
        fs_layers[0]["blobSum"],
        hoist::oci::schema1::EMPTY_LAYER_DIGEST
    );
    assert_eq!(
        fs_layers[2]["blobSum"],
        image.images[0].layers[0].0.as_str()
    );
    // Converted again, the payload (and so the digest) is the same.
    let again = up.manifest("lib/old", "v1", None);
    assert_eq!(again.digest.as_deref(), Some(digest.as_str()));
    // By digest the schema1 has no tag, so another payload and digest.
    let by_digest = up.manifest("lib/old", &image.digest, None);
    assert_eq!(by_digest.status, 200);
    assert_ne!(by_digest.digest.as_deref(), Some(digest.as_str()));

    // A list, asked for without Accept, is its linux/amd64 child converted.
    let list = up.seed_list("lib/oldlist", "v1", &ImageSpec::two_platforms(&[100]));
    let s1 = up.manifest("lib/oldlist", "v1", None);
    assert_eq!(s1.content_type.as_deref(), Some(SCHEMA1_SIGNED));
    let doc: Value = serde_json::from_slice(&s1.body).expect("JSON");
    assert_eq!(doc["architecture"], "amd64");
    assert_eq!(
        doc["fsLayers"][1]["blobSum"],
        list.images[0].layers[0].0.as_str()
    );

    // schema1 pushes are enabled: the signed document goes back in as it is.
    let pushed = up.put_manifest(
        "lib/old",
        "s1",
        SCHEMA1_SIGNED,
        &up.manifest("lib/old", "v1", None).body,
    );
    assert_eq!(pushed, digest);

    // The conversion wrote the gzipped empty tar into the repository: it serves it now.
    let empty = format!(
        "/v2/lib/old/blobs/{}",
        hoist::oci::schema1::EMPTY_LAYER_DIGEST
    );
    assert_eq!(up.request("HEAD", &empty, &[], b"").status, 200);
    // Without the empty CMD step there is one fsLayer per layer.
    let plain = up.seed_image(
        "lib/plain",
        "v1",
        &ImageSpec::new(&[100, 200]).without_empty_layer_step(),
    );
    let doc: Value =
        serde_json::from_slice(&up.manifest("lib/plain", "v1", None).body).expect("JSON");
    assert_eq!(doc["fsLayers"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        doc["fsLayers"][0]["blobSum"],
        plain.images[0].layers[1].0.as_str()
    );
}

#[test]
fn stop_and_start_again_keep_the_content_and_the_port() {
    let mut up = Upstream::open();
    let image = up.seed_image("lib/keep", "v1", &ImageSpec::new(&[1000]));
    let url = up.url();
    assert_eq!(up.addr().port(), up.port());
    assert_eq!(up.auth(), &Auth::Open);
    up.stop();
    assert!(!up.is_running());
    assert!(
        TcpStream::connect(up.host_port()).is_err(),
        "a stopped upstream refuses connections"
    );
    up.start_again();
    assert_eq!(up.url(), url);
    let served = up.manifest("lib/keep", "v1", Some(ACCEPT_ALL));
    assert_eq!(served.status, 200);
    assert_eq!(served.body, image.manifest);
    assert_eq!(
        sha256(&up.blob("lib/keep", &image.images[0].layers[0].0)),
        image.images[0].layers[0].0
    );
    let requests = up.requests();
    assert!(
        requests.contains(&("PUT".to_owned(), "/v2/lib/keep/manifests/v1".to_owned())),
        "the log goes on across restarts: {requests:?}"
    );
}

#[test]
fn the_access_log_counts_heads_and_tag_lists() {
    let up = Upstream::open();
    up.seed_image("lib/log", "v1", &ImageSpec::new(&[10]));
    let mark = up.log_mark();
    let head = up.request(
        "HEAD",
        "/v2/lib/log/manifests/v1",
        &[("Accept", ACCEPT_ALL.to_owned())],
        b"",
    );
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(up.tags("lib/log"), ["v1"]);
    let r = up.request("GET", "/v2/lib/log/tags/list?n=1", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(
        up.requests_since(mark),
        [
            ("HEAD".to_owned(), "/v2/lib/log/manifests/v1".to_owned()),
            ("GET".to_owned(), "/v2/lib/log/tags/list".to_owned()),
            ("GET".to_owned(), "/v2/lib/log/tags/list".to_owned()),
        ]
    );
    let log = up.access_log();
    let last = log.last().expect("a line");
    assert_eq!(last.query.as_deref(), Some("n=1"));
    assert_eq!(last.status, 200);
    assert_eq!(up.count("HEAD", "/manifests/"), 1);
    assert!(
        up.count("PUT", "/manifests/v1") >= 1,
        "the seed's push is logged"
    );
}

#[test]
fn many_tags_are_cheap_and_a_tag_can_be_deleted() {
    let up = Upstream::basic("u", "p");
    let (digest, tags) = up.seed_many_tags("lib/many", 150);
    assert_eq!(tags.len(), 150);
    let mut listed = up.tags("lib/many");
    listed.sort();
    assert_eq!(listed, tags);
    // distribution 2.8 neither sorts tags/list nor paginates it: `n` is ignored, every tag
    // comes in one page in storage order, with no Link.
    let page = up.request("GET", "/v2/lib/many/tags/list?n=100", &[], b"");
    let v: Value = serde_json::from_slice(&page.body).expect("tags JSON");
    assert_eq!(v["tags"].as_array().map(Vec::len), Some(150));
    assert_eq!(page.header("link"), None);
    up.delete_tag("lib/many", "t00007");
    let left = up.tags("lib/many");
    assert_eq!(left.len(), 149);
    assert!(!left.contains(&"t00007".to_owned()));
    assert_eq!(
        up.manifest("lib/many", "t00007", Some(ACCEPT_ALL)).status,
        404
    );
    assert_eq!(
        up.manifest("lib/many", &digest, Some(ACCEPT_ALL)).status,
        200
    );
    up.delete_manifest("lib/many", &digest);
    assert_eq!(
        up.manifest("lib/many", "t00008", Some(ACCEPT_ALL)).status,
        404
    );
}

/// An open upstream with one image (a 100 kB layer) behind a fresh proxy.
fn proxied() -> (Upstream, FaultProxy, Seeded) {
    let up = Upstream::open();
    let image = up.seed_image("lib/p", "v1", &ImageSpec::new(&[100_000]));
    let proxy = FaultProxy::start(&up.host_port());
    (up, proxy, image)
}

#[test]
fn the_fault_proxy_passes_everything_through_when_told_nothing() {
    let (up, proxy, image) = proxied();
    let (layer, bytes) = image.images[0].layers[0].clone();
    let blob = format!("/v2/lib/p/blobs/{layer}");
    let r = http_request(proxy.addr(), "GET", &blob, &[], b"").expect("GET blob");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, bytes);
    assert_eq!(r.header("connection"), Some("close"));

    let r = http_request(
        proxy.addr(),
        "GET",
        &blob,
        &[("Range", "bytes=10-19".into())],
        b"",
    )
    .expect("GET range");
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes 10-19/{}", bytes.len()).as_str())
    );
    assert_eq!(r.body, bytes[10..20]);

    let accept = ("Accept", ACCEPT_ALL.to_owned());
    let r = http_request(
        proxy.addr(),
        "HEAD",
        "/v2/lib/p/manifests/v1",
        &[accept],
        b"",
    )
    .expect("HEAD");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("docker-content-digest"),
        Some(image.digest.as_str())
    );
    assert_eq!(
        r.header("content-length"),
        Some(image.manifest.len().to_string().as_str())
    );
    assert!(r.body.is_empty());

    // Upload locations name the proxy, whether distribution built them from the Host the
    // client sent or from the upstream's own address.
    let r = http_request(proxy.addr(), "POST", "/v2/lib/p/blobs/uploads/", &[], b"").expect("POST");
    assert_eq!(r.status, 202);
    let location = r.header("location").expect("Location");
    assert!(location.starts_with(&proxy.url()), "{location}");
    let (head, _) = raw(
        proxy.addr(),
        "POST",
        "/v2/lib/p/blobs/uploads/",
        &[("Host", &up.host_port()), ("Content-Length", "0")],
    )
    .expect("a response");
    let location = head.header("location").expect("Location");
    assert!(location.starts_with(&proxy.url()), "{location}");

    // A chunked body (a tags/list longer than Go buffers) keeps its framing.
    let (_, tags) = up.seed_many_tags("lib/chunked", 300);
    let (head, body) =
        raw(proxy.addr(), "GET", "/v2/lib/chunked/tags/list", &[]).expect("a response");
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    assert!(body.ends_with(b"0\r\n\r\n"));
    let r = http_request(proxy.addr(), "GET", "/v2/lib/chunked/tags/list", &[], b"").expect("GET");
    let v: Value = serde_json::from_slice(&r.body).expect("tags JSON");
    assert_eq!(v["tags"].as_array().expect("tags").len(), tags.len());

    // skopeo through the proxy, one connection per request.
    let src = format!("docker://{}/lib/p:v1", proxy.addr());
    assert_eq!(
        up.skopeo(&["inspect", "--raw", "--tls-verify=false", &src])
            .into_bytes(),
        image.manifest
    );

    assert_eq!(proxy.count("GET", &layer), 2);
    assert_eq!(proxy.count("HEAD", "/manifests/v1"), 1);
    assert!(proxy.count("GET", "/manifests/v1") >= 1);
    assert_eq!(proxy.fault_count("cut"), 0);
    assert!(proxy.log().iter().all(|s| s.fault.is_none()));
}

#[test]
fn the_fault_proxy_cuts_flips_and_stalls_bodies() {
    let (_up, proxy, image) = proxied();
    let (layer, bytes) = image.images[0].layers[0].clone();
    let blob = format!("/v2/lib/p/blobs/{layer}");

    proxy.add(
        Rule::new(Fault::CutAfter(1000))
            .method("GET")
            .path("/blobs/")
            .times(1),
    );
    let (head, body) = raw(proxy.addr(), "GET", &blob, &[]).expect("a response");
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.header("content-length"),
        Some(bytes.len().to_string().as_str()),
        "the head passes intact"
    );
    assert_eq!(body, bytes[..1000], "the body stops after 1000 bytes");
    assert!(
        http_request(proxy.addr(), "GET", &blob, &[], b"").is_ok_and(|r| r.body == bytes),
        "the rule was used up: the next GET is whole"
    );

    proxy.add(Rule::new(Fault::CutAfter(10)));
    proxy.clear();
    assert_eq!(
        http_request(proxy.host_port(), "GET", &blob, &[], b"")
            .expect("GET")
            .body,
        bytes,
        "no rules after clear"
    );
    proxy.add(Rule::new(Fault::FlipByte(5000)).path(&layer).times(1));
    let flipped = http_request(proxy.addr(), "GET", &blob, &[], b"")
        .expect("GET")
        .body;
    assert_eq!(flipped.len(), bytes.len());
    let diffs: Vec<usize> = (0..bytes.len())
        .filter(|&i| flipped[i] != bytes[i])
        .collect();
    assert_eq!(diffs, [5000]);

    let pause = Duration::from_millis(800);
    proxy.add(
        Rule::new(Fault::Stall { after: 2000, pause })
            .path("/blobs/")
            .times(1),
    );
    let started = Instant::now();
    let (_, body) = raw(proxy.addr(), "GET", &blob, &[]).expect("a response");
    assert!(
        started.elapsed() >= pause,
        "stalled for {:?}",
        started.elapsed()
    );
    assert_eq!(body, bytes[..2000], "then closed");

    // A chunked body is cut inside a chunk, and flipped in its data, not its framing.
    let up2 = Upstream::open();
    let (_, tags) = up2.seed_many_tags("lib/c", 300);
    proxy.set_target(&up2.host_port());
    let whole = http_request(proxy.addr(), "GET", "/v2/lib/c/tags/list", &[], b"")
        .expect("GET")
        .body;
    assert_eq!(
        serde_json::from_slice::<Value>(&whole).expect("JSON")["tags"]
            .as_array()
            .map(Vec::len),
        Some(tags.len())
    );
    proxy.add(Rule::new(Fault::FlipByte(100)).path("/tags/list").times(1));
    let flipped = http_request(proxy.addr(), "GET", "/v2/lib/c/tags/list", &[], b"")
        .expect("GET")
        .body;
    let diffs: Vec<usize> = (0..whole.len())
        .filter(|&i| flipped[i] != whole[i])
        .collect();
    assert_eq!(diffs, [100]);
    proxy.add(Rule::new(Fault::CutAfter(500)).path("/tags/list").times(1));
    let cut = http_request(proxy.addr(), "GET", "/v2/lib/c/tags/list", &[], b"");
    assert!(cut.is_err(), "a cut chunked body does not read as whole");

    assert_eq!(proxy.fault_count("cut"), 2);
    assert_eq!(proxy.fault_count("flip"), 2);
    assert_eq!(proxy.fault_count("stall"), 1);
}

#[test]
fn the_fault_proxy_answers_statuses_itself_and_plays_dead() {
    let (up, proxy, image) = proxied();
    let manifest = "/v2/lib/p/manifests/v1";
    let before = up.count("GET", manifest);

    proxy.add(
        Rule::new(Fault::too_many_requests(Some(7)))
            .path("/manifests/")
            .times(2),
    );
    for _ in 0..2 {
        let r = http_request(proxy.addr(), "GET", manifest, &[], b"").expect("GET");
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after"), Some("7"));
        assert_eq!(r.code(), "TOOMANYREQUESTS");
    }
    proxy.add(Rule::new(Fault::unavailable(None)).method("GET").times(1));
    let r = http_request(proxy.addr(), "GET", manifest, &[], b"").expect("GET");
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), None);
    assert_eq!(r.code(), "UNAVAILABLE");
    assert_eq!(
        up.count("GET", manifest),
        before,
        "none of them reached the upstream"
    );

    proxy.add(Rule::new(Fault::Down).times(1));
    assert!(
        raw(proxy.addr(), "GET", manifest, &[]).is_none(),
        "no response when down"
    );
    proxy.add(Rule::new(Fault::Delay(Duration::from_millis(300))).times(1));
    let started = Instant::now();
    let accept = ("Accept", ACCEPT_ALL.to_owned());
    let r = http_request(proxy.addr(), "GET", manifest, &[accept], b"").expect("GET");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        r.header("docker-content-digest"),
        Some(image.digest.as_str())
    );
    assert_eq!(up.count("GET", manifest), before + 1);

    assert_eq!(proxy.fault_count("status-429"), 2);
    assert_eq!(proxy.fault_count("status-503"), 1);
    assert_eq!(proxy.fault_count("down"), 1);
    assert_eq!(proxy.fault_count("delay"), 1);
    assert_eq!(proxy.count("GET", manifest), 5);
    proxy.reset_counts();
    assert!(proxy.seen().is_empty());
}

#[test]
fn the_fault_proxy_passes_bearer_challenges_through() {
    let up = Upstream::token("carol", "pw");
    let image = up.seed_image("lib/t", "v1", &ImageSpec::new(&[500]));
    let proxy = FaultProxy::start(&up.host_port());
    let r = http_request(proxy.addr(), "GET", "/v2/lib/t/manifests/v1", &[], b"").expect("GET");
    assert_eq!(r.status, 401);
    let c = challenge(r.header("www-authenticate").expect("challenge"));
    assert_eq!(c["realm"], up.issuer().realm());
    let src = format!("docker://{}/lib/t:v1", proxy.addr());
    let out = up.skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        "carol:pw",
        &src,
    ]);
    assert_eq!(out.into_bytes(), image.manifest);
    // A stopped upstream looks down through the proxy too.
    let mut up = up;
    up.stop();
    assert!(raw(proxy.addr(), "GET", "/v2/", &[]).is_none());
}
