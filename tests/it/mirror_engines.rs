//! The mirror feature against real engines, all on 127.0.0.1: skopeo, podman and containerd
//! pulling what a `[[mirrors]]` rule synced; containerd sending two made-up registry hosts to
//! one hoist through `hosts.toml` (`?ns=`), each answered by its own upstream and kept under
//! that upstream's prefix; and dockerd's `registry-mirrors` answered by the `default = true`
//! upstream. Upstreams are Debian's distribution 2.8 (`upstream.rs`); the engines come from
//! `engines.rs`, whose proxy variables keep them off every non-loopback host.

use crate::engines::{push_tar_image, tar_bytes, Containerd, Docker, HostsDir, Pull};
use crate::harness::*;
use crate::interop::Clients;
use crate::mirror::{hoist_manifest, hoist_sync, hoist_tags, upstream_toml};
use crate::upstream::*;
use std::collections::BTreeSet;
use std::process::Command;

/// The repositories hoist lists in `/v2/_catalog` (one page of up to 1000).
async fn hoist_catalog(h: &Hoist) -> BTreeSet<String> {
    let v: serde_json::Value = client()
        .get(h.url("/v2/_catalog?n=1000"))
        .send()
        .await
        .expect("catalog")
        .json()
        .await
        .expect("catalog JSON");
    v["repositories"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The digest hoist answers for `repo:reference` (GET accepting every type hoist serves).
async fn served_digest(h: &Hoist, repo: &str, reference: &str) -> Option<String> {
    let (status, digest, _, _) = hoist_manifest(h, repo, reference, Some(ACCEPT_ALL)).await;
    (status == 200).then_some(digest).flatten()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Run to success; stdout, or a panic with both outputs and hoist's log.
fn run(mut cmd: Command, h: &Hoist) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}\nhoist log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        h.log()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// podman as root with the interop tests' private configuration and its own vfs storage under
/// `<clients>/<store>` (as `interop.rs` runs it).
fn podman(clients: &Clients, h: &Hoist, store: &str, args: &[&str]) -> String {
    let dir = clients.path(store);
    let mut cmd = Command::new("podman");
    cmd.env(
        "CONTAINERS_REGISTRIES_CONF",
        clients.path("registries.conf"),
    )
    .env("NO_PROXY", "127.0.0.1,localhost")
    .env("no_proxy", "127.0.0.1,localhost")
    .env("TMPDIR", clients.path(""))
    .args(["--storage-driver", "vfs", "--events-backend", "none"])
    .arg("--root")
    .arg(dir.join("root"))
    .arg("--runroot")
    .arg(dir.join("run"))
    .arg("--tmpdir")
    .arg(dir.join("tmp"))
    .args(args);
    run(cmd, h)
}

fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").expect("sha256 digest")
}

#[tokio::test]
async fn skopeo_podman_and_containerd_pull_a_mirrored_repository_under_the_upstreams_digests() {
    require("skopeo", "skopeo");
    require("podman", "podman");
    let up = Upstream::open();
    let v10 = up.seed_image("lib/app", "1.0", &ImageSpec::new(&[3000, 20_000]).seed(1));
    let multi = up.seed_list("lib/app", "multi", &ImageSpec::two_platforms(&[2500]));
    up.seed_image("lib/app", "edge", &ImageSpec::new(&[500]).seed(4));
    let amd64 = multi
        .images
        .iter()
        .find(|i| i.arch == "amd64")
        .expect("amd64 child")
        .clone();
    let config = format!(
        "{}[[mirrors]]\nname = \"app\"\nupstream = \"up\"\nfrom = \"lib/app\"\n\
         to = \"mirror/app\"\ntags = [\"1.*\", \"multi\"]\nplatforms = [\"linux/amd64\"]\n",
        upstream_toml("up", &up.url(), &up, "")
    );
    let h = Hoist::start_configured(&config, &[], &[]);
    let (ok, out) = hoist_sync(&h, &["app"]);
    assert!(ok, "hoist sync failed:\n{out}\n{}", h.log());
    assert_eq!(hoist_tags(&h, "mirror/app").await, set(&["1.0", "multi"]));
    let remote = |tag: &str| format!("{}/mirror/app:{tag}", h.addr);
    // What each pull must record: (tag, top digest, image ID = config digest).
    let cases = [
        ("1.0", &v10.digest, &v10.images[0].config_digest),
        ("multi", &multi.digest, &amd64.config_digest),
    ];

    // skopeo: the manifest it copies is the upstream's image (the amd64 child for the list),
    // and `inspect` reports the upstream's top digest.
    let clients = Clients::new();
    for (tag, top, _) in cases {
        let dir = clients.path(&format!("skopeo-{tag}"));
        let dest = format!("dir:{}", dir.display());
        let src = format!("docker://{}", remote(tag));
        let mut copy = clients.skopeo_command();
        copy.args([
            "copy",
            "--src-tls-verify=false",
            "--override-os",
            "linux",
            "--override-arch",
            "amd64",
            &src,
            &dest,
        ]);
        run(copy, &h);
        let manifest = std::fs::read(dir.join("manifest.json")).expect("manifest.json");
        let expected = if tag == "1.0" {
            &v10.manifest
        } else {
            &amd64.manifest
        };
        assert!(
            &manifest == expected,
            "skopeo copied another manifest for {tag}:\n{}",
            String::from_utf8_lossy(&manifest)
        );
        let mut inspect = clients.skopeo_command();
        inspect.args([
            "inspect",
            "--tls-verify=false",
            "--override-os",
            "linux",
            "--override-arch",
            "amd64",
            "--format",
            "{{.Digest}}",
            &src,
        ]);
        assert_eq!(
            run(inspect, &h).trim(),
            top.as_str(),
            "skopeo inspect {tag}"
        );
    }

    // podman, a fresh vfs store per pull.
    let policy = clients.path("policy.json");
    let policy = policy.to_str().expect("utf-8 path");
    for (tag, top, config_digest) in cases {
        let store = format!("podman-{tag}");
        let reference = remote(tag);
        let mut pull = vec!["pull", "--tls-verify=false", "--signature-policy", policy];
        if tag == "multi" {
            pull.extend(["--platform", "linux/amd64"]);
        }
        pull.push(&reference);
        let out = podman(&clients, &h, &store, &pull);
        assert_eq!(
            out.lines().last(),
            Some(hex(config_digest)),
            "podman pull {reference}"
        );
        let inspect = podman(
            &clients,
            &h,
            &store,
            &[
                "image",
                "inspect",
                "--format",
                "{{.Id}} {{.Digest}} {{.Os}}/{{.Architecture}}",
                &reference,
            ],
        );
        assert_eq!(
            inspect.trim(),
            format!("{} {top} linux/amd64", hex(config_digest)),
            "podman image inspect {reference}"
        );
    }

    // containerd over plain HTTP.
    let ctd = Containerd::start();
    for (tag, top, _) in cases {
        let reference = remote(tag);
        let opts = Pull {
            plain_http: true,
            platform: (tag == "multi").then_some("linux/amd64"),
            ..Pull::default()
        };
        let out = ctd.pull_with(&reference, &opts).unwrap_or_else(|e| {
            panic!(
                "{e}\ncontainerd log:\n{}\nhoist log:\n{}",
                ctd.log(),
                h.log()
            )
        });
        assert!(
            out.contains("unpacking linux/amd64"),
            "ctr pull {tag}: {out}"
        );
        assert_eq!(
            ctd.image_digest(&reference).as_deref(),
            Some(top.as_str()),
            "ctr images ls after pulling {reference}"
        );
    }
    // The excluded tag never came.
    assert_eq!(served_digest(&h, "mirror/app", "edge").await, None);
}

#[tokio::test]
async fn containerd_hosts_toml_for_two_registries_gets_each_its_own_upstreams_image() {
    const HOST_A: &str = "registry-a.test";
    const HOST_B: &str = "registry-b.test";
    let up_a = Upstream::open();
    let up_b = Upstream::open();
    let image_a = up_a.seed_image("team/app", "v1", &ImageSpec::new(&[1500, 3000]).seed(11));
    let image_b = up_b.seed_image("team/app", "v1", &ImageSpec::new(&[2500]).seed(22));
    assert_ne!(image_a.digest, image_b.digest);
    let config = format!(
        "{}{}",
        upstream_toml(
            "up-a",
            &up_a.url(),
            &up_a,
            &format!("hosts = [\"{HOST_A}\"]")
        ),
        upstream_toml(
            "up-b",
            &up_b.url(),
            &up_b,
            &format!("hosts = [\"{HOST_B}\"]")
        ),
    );
    let h = Hoist::start_configured(&config, &[], &[]);
    // A third, different image pushed to hoist itself under the same name.
    let c = client();
    let layer = tar_bytes(&[("pushed.txt", b"pushed straight into hoist\n")]);
    let pushed = push_tar_image(&c, &h, "team/app", "v1", &layer, &["/pushed.txt"]).await;
    assert_ne!(pushed, image_a.digest);
    assert_ne!(pushed, image_b.digest);

    let hosts = HostsDir::mirror(HOST_A, &h.addr);
    hosts.add(HOST_B, &h.addr);
    let ctd = Containerd::start();
    for (host, image, up) in [(HOST_A, &image_a, &up_a), (HOST_B, &image_b, &up_b)] {
        let reference = format!("{host}/team/app:v1");
        let out = ctd
            .pull(&reference, Some(hosts.path()), false, None)
            .unwrap_or_else(|e| {
                panic!(
                    "{e}\ncontainerd log:\n{}\nhoist log:\n{}\nupstream requests:\n{:?}",
                    ctd.log(),
                    h.log(),
                    up.requests()
                )
            });
        // Had it tried the host itself, the no-egress proxy would have refused it.
        assert!(
            !out.contains("proxyconnect") && !out.contains("127.0.0.1:9"),
            "ctr went past the mirror: {out}"
        );
        assert_eq!(
            ctd.image_digest(&reference).as_deref(),
            Some(image.digest.as_str()),
            "ctr images ls after pulling {reference}: {out}"
        );
        assert!(
            up.count("GET", "/v2/team/app/manifests/") >= 1,
            "{host}'s upstream was never asked: {:?}",
            up.requests()
        );
    }
    assert!(
        !ctd.log().contains("proxyconnect"),
        "containerd tried to leave the machine:\n{}",
        ctd.log()
    );

    // Each kept under its upstream's prefix, apart from the pushed repository.
    let catalog = hoist_catalog(&h).await;
    for repo in ["team/app", "up-a/team/app", "up-b/team/app"] {
        assert!(
            catalog.contains(repo),
            "{repo} not in the catalog: {catalog:?}"
        );
    }
    assert_eq!(
        served_digest(&h, "up-a/team/app", "v1").await.as_deref(),
        Some(image_a.digest.as_str())
    );
    assert_eq!(
        served_digest(&h, "up-b/team/app", "v1").await.as_deref(),
        Some(image_b.digest.as_str())
    );
    for repo in ["team/app", "up-a/team/app", "up-b/team/app"] {
        assert_eq!(hoist_tags(&h, repo).await, set(&["v1"]), "{repo}");
    }
    // A plain pull without ns still gets the pushed image.
    assert_eq!(
        served_digest(&h, "team/app", "v1").await.as_deref(),
        Some(pushed.as_str())
    );
    let plain = format!("{}/team/app:v1", h.addr);
    ctd.pull(&plain, None, true, None)
        .unwrap_or_else(|e| panic!("{e}\nhoist log:\n{}", h.log()));
    assert_eq!(
        ctd.image_digest(&plain).as_deref(),
        Some(pushed.as_str()),
        "a plain pull of team/app:v1"
    );
}

#[tokio::test]
async fn docker_registry_mirrors_pulls_hub_images_from_the_default_upstream() {
    let up = Upstream::open();
    let image = up.seed_image("library/hello", "latest", &ImageSpec::new(&[2000]).seed(33));
    let config = upstream_toml("hub", &up.url(), &up, "default = true");
    let h = Hoist::start_configured(&config, &[], &[]);
    let d = Docker::try_start_with(serde_json::json!({"registry-mirrors": [h.url("")]}), &[])
        .unwrap_or_else(|e| panic!("{e}"));
    let out = d.pull("hello").unwrap_or_else(|e| {
        panic!(
            "{e}\nhoist log:\n{}\nupstream requests:\n{:?}",
            h.log(),
            up.requests()
        )
    });
    assert!(
        out.contains(&format!("Digest: {}", image.digest)),
        "docker pull hello: {out}"
    );
    assert!(
        !d.log().contains("proxyconnect"),
        "dockerd went past the mirror:\n{}",
        d.log()
    );
    assert_eq!(
        d.repo_digests("hello"),
        vec![format!("hello@{}", image.digest)],
        "RepoDigests"
    );
    assert_eq!(
        d.image_id("hello").as_deref(),
        Some(image.images[0].config_digest.as_str())
    );
    assert!(
        up.count("GET", "/v2/library/hello/manifests/") >= 1,
        "the upstream was never asked: {:?}",
        up.requests()
    );
    // Kept under the default upstream's prefix, not as Docker Hub's name.
    let catalog = hoist_catalog(&h).await;
    assert_eq!(catalog, set(&["hub/library/hello"]), "catalog");
    assert_eq!(hoist_tags(&h, "hub/library/hello").await, set(&["latest"]));
    assert_eq!(
        served_digest(&h, "hub/library/hello", "latest")
            .await
            .as_deref(),
        Some(image.digest.as_str())
    );
}
