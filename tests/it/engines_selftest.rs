//! The engine harness (`engines.rs`) against a plain hoist: a private containerd pulls over
//! plain HTTP and through a `hosts.toml` mirror, a private dockerd pulls, pushes, loads and
//! logs in. Each test starts its own engines and takes a few seconds.

use crate::engines::*;
use crate::fault_proxy::FaultProxy;
use crate::harness::*;
use std::path::{Path, PathBuf};

fn simple_layout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layout/simple")
}

#[tokio::test]
async fn containerd_pulls_over_plain_http_and_records_hoists_digest() {
    let h = Hoist::start();
    let c = client();
    let digest = push_layout(&c, &h, &simple_layout(), "engines/simple", "v1").await;
    let ctd = Containerd::start();
    eprintln!(
        "containerd answered after {:?}, snapshotter {}",
        ctd.started_in, ctd.snapshotter
    );

    let reference = format!("{}/engines/simple:v1", h.addr);
    let out = ctd.pull(&reference, None, true, None).unwrap_or_else(|e| {
        panic!(
            "{e}\ncontainerd log:\n{}\nhoist log:\n{}",
            ctd.log(),
            h.log()
        )
    });
    assert!(out.contains("unpacking linux/amd64"), "pull output: {out}");
    assert_eq!(ctd.image_digest(&reference), Some(digest.clone()));
    assert_eq!(
        hoist_digest(&c, &h, "engines/simple", "v1").await,
        Some(digest.clone())
    );
    // The layers were unpacked into snapshots with the snapshotter chosen.
    let snapshots = ctd.ctr(&["snapshots", "--snapshotter", &ctd.snapshotter, "ls"]);
    let listed = String::from_utf8_lossy(&snapshots.stdout);
    assert_eq!(
        listed.lines().filter(|l| l.contains("Committed")).count(),
        2,
        "{}",
        describe(&snapshots)
    );

    // Removed, then pulled again by digest for one platform.
    ctd.remove_image(&reference).expect("ctr images rm");
    assert_eq!(ctd.image_digest(&reference), None);
    let by_digest = format!("{}/engines/simple@{digest}", h.addr);
    let opts = Pull {
        plain_http: true,
        platform: Some("linux/amd64"),
        ..Pull::default()
    };
    ctd.pull_with(&by_digest, &opts)
        .unwrap_or_else(|e| panic!("{e}\nhoist log:\n{}", h.log()));
    assert_eq!(ctd.image_digest(&by_digest), Some(digest));
}

/// Containerd sends a mirrored pull to the mirror under the image's own repository name with the
/// original host in `?ns=`: for `registry.example.test/foo/bar:v1`,
/// `HEAD /v2/foo/bar/manifests/v1?ns=registry.example.test`, then every manifest and blob GET
/// with the same query. hoist (no mirror configured) serves it because the image is in hoist as
/// `foo/bar:v1` and it ignores the query.
#[tokio::test]
async fn containerd_pulls_through_a_hosts_toml_mirror_with_ns_query() {
    let h = Hoist::start();
    let c = client();
    let digest = push_layout(&c, &h, &simple_layout(), "foo/bar", "v1").await;
    let proxy = FaultProxy::start(&h.addr);
    let hosts = HostsDir::mirror(MIRRORED_HOST, proxy.addr());
    let toml = std::fs::read_to_string(hosts.path().join(MIRRORED_HOST).join("hosts.toml"))
        .expect("hosts.toml");
    assert!(
        toml.contains("server = \"https://registry.example.test\""),
        "{toml}"
    );
    let ctd = Containerd::start();

    let reference = format!("{MIRRORED_HOST}/foo/bar:v1");
    ctd.pull(&reference, Some(hosts.path()), false, None)
        .unwrap_or_else(|e| panic!("{e}\nhoist log:\n{}", h.log()));
    assert_eq!(ctd.image_digest(&reference), Some(digest.clone()));

    let seen: Vec<(String, String)> = proxy
        .log()
        .into_iter()
        .map(|s| (s.method, s.target))
        .collect();
    let all = lines(seen.clone());
    assert_eq!(
        seen.first(),
        Some(&(
            "HEAD".to_owned(),
            "/v2/foo/bar/manifests/v1?ns=registry.example.test".to_owned()
        )),
        "requests:\n{all}"
    );
    assert!(
        seen.iter()
            .all(|(_, t)| t.starts_with("/v2/foo/bar/") && t.ends_with("?ns=registry.example.test")),
        "requests:\n{all}"
    );
    assert!(
        seen.contains(&(
            "GET".to_owned(),
            format!("/v2/foo/bar/manifests/{digest}?ns=registry.example.test")
        )),
        "requests:\n{all}"
    );
    let blob_gets = seen
        .iter()
        .filter(|(m, t)| m == "GET" && t.starts_with("/v2/foo/bar/blobs/sha256:"))
        .count();
    assert_eq!(blob_gets, 3, "config and two layers; requests:\n{all}");
    eprintln!("containerd through a hosts.toml mirror:\n{all}");
}

/// A mirrored pull of a tag hoist lacks fails after the mirror's 404, and containerd's fall-back
/// to `https://registry.example.test` is refused on 127.0.0.1 (no DNS, no traffic out).
#[tokio::test]
async fn containerd_fallback_past_a_mirror_never_leaves_the_machine() {
    let h = Hoist::start();
    let proxy = FaultProxy::start(&h.addr);
    let hosts = HostsDir::mirror(MIRRORED_HOST, proxy.addr());
    let ctd = Containerd::start();
    let err = ctd
        .pull(
            &format!("{MIRRORED_HOST}/no/such:tag"),
            Some(hosts.path()),
            false,
            None,
        )
        .expect_err("nothing to pull");
    assert!(
        err.contains("proxyconnect tcp: dial tcp 127.0.0.1:9: connect: connection refused"),
        "{err}"
    );
    assert_eq!(
        proxy.count("HEAD", "/v2/no/such/manifests/tag?ns=registry.example.test"),
        1,
        "requests:\n{}",
        lines(proxy.log().into_iter().map(|s| (s.method, s.target)))
    );
}

#[tokio::test]
async fn docker_pulls_from_hoist_and_pushes_back() {
    let h = Hoist::start();
    let c = client();
    let digest = push_layout(&c, &h, &simple_layout(), "engines/simple", "v1").await;
    let d = Docker::start(&[]);
    eprintln!(
        "dockerd answered after {:?} (its containerd after {:?})",
        d.started_in, d.containerd.started_in
    );

    let reference = format!("{}/engines/simple:v1", h.addr);
    let out = d
        .pull(&reference)
        .unwrap_or_else(|e| panic!("{e}\nhoist log:\n{}", h.log()));
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert_eq!(
        d.repo_digests(&reference),
        vec![format!("{}/engines/simple@{digest}", h.addr)]
    );

    let pushed = format!("{}/engines/pushed:v2", h.addr);
    d.tag(&reference, &pushed).expect("tag");
    let out = d
        .push(&pushed)
        .unwrap_or_else(|e| panic!("{e}\nhoist log:\n{}", h.log()));
    let pushed_digest = pushed_digest(&out).unwrap_or_else(|| panic!("no digest in: {out}"));
    assert_eq!(
        hoist_digest(&c, &h, "engines/pushed", "v2").await,
        Some(pushed_digest)
    );
}

#[tokio::test]
async fn docker_loads_a_built_archive_and_pushes_it() {
    let h = Hoist::start();
    let c = client();
    let d = Docker::start(&[]);
    let tmp = tempfile::tempdir().expect("temp dir");
    let reference = format!("{}/engines/loaded:v1", h.addr);
    let (tar, image_id) = write_docker_archive(tmp.path(), &reference, "hello.txt", b"hello\n");
    d.load(&tar).expect("docker load");
    assert_eq!(d.image_id(&reference), Some(image_id.clone()));

    let out = d
        .push(&reference)
        .unwrap_or_else(|e| panic!("{e}\nhoist log:\n{}", h.log()));
    let digest = pushed_digest(&out).unwrap_or_else(|| panic!("no digest in: {out}"));
    let r = c
        .get(h.url(&format!("/v2/engines/loaded/manifests/{digest}")))
        .header(
            "accept",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .send()
        .await
        .expect("get manifest");
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.expect("body");
    assert_eq!(sha256(&body), digest);
    let m: serde_json::Value = serde_json::from_slice(&body).expect("manifest is JSON");
    assert_eq!(m["config"]["digest"], image_id.as_str(), "{m}");
    assert_eq!(m["layers"].as_array().map(Vec::len), Some(1), "{m}");

    // And back: a fresh pull by digest after removing the local image.
    d.remove_image(&reference).expect("rmi");
    d.pull(&format!("{}/engines/loaded@{digest}", h.addr))
        .expect("pull by digest");
}

#[tokio::test]
async fn docker_login_keeps_credentials_in_its_private_config() {
    let h = Hoist::start();
    let d = Docker::start(&[]);
    let out = d
        .login(&h.addr, "someone", "secret")
        .unwrap_or_else(|e| panic!("{e}\nhoist log:\n{}", h.log()));
    assert!(out.contains("Login Succeeded"), "{out}");
    let config = std::fs::read_to_string(d.client_config_dir().join("config.json"))
        .expect("config.json in the private DOCKER_CONFIG");
    assert!(config.contains(&h.addr), "{config}");
}

/// dockerd with `--registry-mirror` sends Docker Hub pulls to the mirror as
/// `/v2/library/<name>/manifests/<tag>` (no `ns` query); hoist serves them when it holds the
/// image under that name.
#[tokio::test]
async fn docker_pulls_hub_images_through_a_registry_mirror() {
    let h = Hoist::start();
    let c = client();
    let digest = push_layout(&c, &h, &simple_layout(), "library/hoist-simple", "v1").await;
    let proxy = FaultProxy::start(&h.addr);
    let d = Docker::start(&["--registry-mirror", &proxy.url()]);
    let out = d
        .pull("hoist-simple:v1")
        .unwrap_or_else(|e| panic!("{e}\nhoist log:\n{}", h.log()));
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    let seen: Vec<(String, String)> = proxy
        .log()
        .into_iter()
        .map(|s| (s.method, s.target))
        .collect();
    let all = lines(seen.clone());
    let expected_start = [
        ("GET", "/v2/".to_owned()),
        ("HEAD", "/v2/library/hoist-simple/manifests/v1".to_owned()),
        (
            "GET",
            format!("/v2/library/hoist-simple/manifests/{digest}"),
        ),
    ]
    .map(|(m, t)| (m.to_owned(), t));
    assert!(seen.starts_with(&expected_start), "requests:\n{all}");
    assert!(
        seen.iter().all(|(_, t)| !t.contains('?')),
        "requests:\n{all}"
    );
    eprintln!("dockerd through a registry mirror:\n{all}");
}

/// An image pushed into hoist over HTTP, pulled by dockerd and run: the whole path a user takes.
#[tokio::test]
async fn docker_runs_an_image_pulled_from_hoist() {
    let h = Hoist::start();
    let c = client();
    let layer = echo_layer();
    push_tar_image(
        &c,
        &h,
        "engines/echo",
        "v1",
        &layer,
        &["/bin/echo", "default"],
    )
    .await;
    let d = Docker::start(&[]);
    let reference = format!("{}/engines/echo:v1", h.addr);
    d.pull(&reference)
        .unwrap_or_else(|e| panic!("{e}\nhoist log:\n{}", h.log()));
    let out = d
        .run(&[
            "run",
            "--rm",
            "--network",
            "none",
            &reference,
            "/bin/echo",
            "hello from hoist",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.trim(), "hello from hoist");
    let out = d
        .run(&["run", "--rm", "--network", "none", &reference])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.trim(), "default");
}

/// The fall-back snapshotter works too, should overlayfs ever be unavailable.
#[tokio::test]
async fn containerd_unpacks_with_the_native_snapshotter_too() {
    let h = Hoist::start();
    let c = client();
    let digest = push_layout(&c, &h, &simple_layout(), "engines/simple", "v1").await;
    let ctd = Containerd::start_with_snapshotter("native");
    assert_eq!(ctd.snapshotter, "native");
    let reference = format!("{}/engines/simple:v1", h.addr);
    ctd.pull(&reference, None, true, None)
        .unwrap_or_else(|e| panic!("{e}\nhoist log:\n{}", h.log()));
    assert_eq!(ctd.image_digest(&reference), Some(digest));
    let snapshots = ctd.ctr(&["snapshots", "--snapshotter", "native", "ls"]);
    let listed = String::from_utf8_lossy(&snapshots.stdout);
    assert_eq!(
        listed.lines().filter(|l| l.contains("Committed")).count(),
        2,
        "{}",
        describe(&snapshots)
    );
}
