//! Real clients against the real binary: skopeo pushes images from local layouts into hoist and
//! pulls them back byte for byte; podman pulls by tag, by digest and one platform of a list.
//!
//! These tests need `skopeo` and `podman` on PATH (CI installs them). When a tool is missing the
//! test fails with a message saying so: an interop suite that silently skips proves nothing.
//!
//! Layouts are built here from the fixtures, so every manifest is a fixture file byte for byte:
//! - OCI images and indexes go through skopeo's `oci:` transport (an OCI image layout).
//! - Docker schema2 manifests and lists go through skopeo's `dir:` transport. skopeo 1.9's `oci:`
//!   source skips `index.json` entries with a Docker mediaType ("no descriptor found for
//!   reference"), and its `oci:` destination refuses a Docker list under `--preserve-digests`
//!   ("Manifest list must be converted to type application/vnd.oci.image.index.v1+json"), so a
//!   real Docker list can neither start nor end in an OCI layout without changing its digest.
//!   `dir:` keeps every manifest as the exact bytes it read.

use crate::harness::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Fail, never skip, when a client is missing.
fn require(program: &str) {
    assert!(
        have(program),
        "`{program}` is not on PATH: the interop tests need it (Debian/Ubuntu: apt-get install \
         {program}). They fail instead of skipping so that a CI run without it cannot pass."
    );
}

/// Every fixture manifest and blob by digest, each checked against its digest.
fn fixture_store() -> BTreeMap<String, Vec<u8>> {
    let mut store = BTreeMap::new();
    for entry in std::fs::read_dir(fixtures().join("pushed")).expect("pushed fixtures") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("read fixture");
        store.insert(sha256(&bytes), bytes);
    }
    for layout in std::fs::read_dir(fixtures().join("layout")).expect("layout fixtures") {
        let blobs = layout.expect("entry").path().join("blobs/sha256");
        let Ok(files) = std::fs::read_dir(&blobs) else {
            continue; // summary.json
        };
        for file in files {
            let path = file.expect("entry").path();
            let bytes = std::fs::read(&path).expect("read blob");
            let digest = format!(
                "sha256:{}",
                path.file_name().expect("name").to_string_lossy()
            );
            assert_eq!(
                sha256(&bytes),
                digest,
                "fixture {} is corrupt",
                path.display()
            );
            store.insert(digest, bytes);
        }
    }
    store
}

/// What a top-level manifest needs, found in the fixtures: the manifests below it (for an index
/// or list) and the config and layer blobs, all by digest.
#[derive(Default)]
struct Closure {
    manifests: BTreeMap<String, Vec<u8>>,
    blobs: BTreeMap<String, Vec<u8>>,
}

impl Closure {
    fn of(top: &[u8]) -> Closure {
        let store = fixture_store();
        let mut closure = Closure::default();
        closure.add(&store, top);
        closure
    }

    fn add(&mut self, store: &BTreeMap<String, Vec<u8>>, manifest: &[u8]) {
        let lookup = |digest: &Value| {
            let digest = digest.as_str().expect("digest is a string");
            let bytes = store
                .get(digest)
                .unwrap_or_else(|| panic!("no fixture has digest {digest}"));
            (digest.to_owned(), bytes.clone())
        };
        let v: Value = serde_json::from_slice(manifest).expect("manifest is JSON");
        if let Some(children) = v["manifests"].as_array() {
            for child in children {
                let (digest, bytes) = lookup(&child["digest"]);
                self.add(store, &bytes);
                self.manifests.insert(digest, bytes);
            }
        } else {
            let layers = v["layers"].as_array().expect("layers");
            for descriptor in std::iter::once(&v["config"]).chain(layers) {
                let (digest, bytes) = lookup(&descriptor["digest"]);
                self.blobs.insert(digest, bytes);
            }
        }
    }
}

fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").expect("sha256 digest")
}

/// An OCI image layout whose `index.json` names `top` as `tag`.
fn write_oci_layout(dir: &Path, top: &[u8], media_type: &str, tag: &str) {
    let closure = Closure::of(top);
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("mkdir");
    let top_digest = sha256(top);
    std::fs::write(blobs.join(hex(&top_digest)), top).expect("write manifest");
    for (digest, bytes) in closure.manifests.iter().chain(&closure.blobs) {
        std::fs::write(blobs.join(hex(digest)), bytes).expect("write blob");
    }
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("write");
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": media_type,
            "digest": top_digest,
            "size": top.len(),
            "annotations": {REF_NAME: tag},
        }],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).expect("write index.json");
}

/// A skopeo `dir:` layout: `manifest.json` is `top`, the manifests below it are
/// `<hex>.manifest.json`, blobs are `<hex>`.
fn write_dir_layout(dir: &Path, top: &[u8]) {
    let closure = Closure::of(top);
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(dir.join("version"), "Directory Transport Version: 1.1\n").expect("write");
    std::fs::write(dir.join("manifest.json"), top).expect("write manifest");
    for (digest, bytes) in &closure.manifests {
        std::fs::write(dir.join(format!("{}.manifest.json", hex(digest))), bytes).expect("write");
    }
    for (digest, bytes) in &closure.blobs {
        std::fs::write(dir.join(hex(digest)), bytes).expect("write blob");
    }
}

/// Every file under `dir`, by path relative to it.
fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path.strip_prefix(base).expect("under base");
                let bytes = std::fs::read(&path).expect("read file");
                out.insert(rel.to_string_lossy().into_owned(), bytes);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The same file names with the same bytes; the message names what differs.
fn assert_same_files(
    what: &str,
    expected: &BTreeMap<String, Vec<u8>>,
    actual: &BTreeMap<String, Vec<u8>>,
) {
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .collect();
    let extra: Vec<_> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    let changed: Vec<_> = expected
        .iter()
        .filter(|(k, v)| actual.get(*k).is_some_and(|a| a != *v))
        .map(|(k, _)| k)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && changed.is_empty(),
        "{what}: missing {missing:?}, unexpected {extra:?}, different bytes {changed:?}"
    );
}

/// A temp dir with the client configuration the tests use, so nothing depends on the host's
/// `/etc/containers`: an accept-anything signature policy, a registries.conf without search
/// registries or mirrors, and an empty registries.d (no signature lookaside).
pub(crate) struct Clients {
    tmp: tempfile::TempDir,
}

impl Clients {
    pub(crate) fn new() -> Clients {
        let tmp = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            tmp.path().join("policy.json"),
            r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
        )
        .expect("write policy");
        std::fs::write(
            tmp.path().join("registries.conf"),
            "unqualified-search-registries = []\n",
        )
        .expect("write registries.conf");
        std::fs::create_dir(tmp.path().join("registries.d")).expect("mkdir");
        Clients { tmp }
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("CONTAINERS_REGISTRIES_CONF", self.path("registries.conf"))
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .env("TMPDIR", self.tmp.path());
        cmd
    }

    fn skopeo(&self, h: &Hoist, args: &[&str]) -> String {
        let mut cmd = self.skopeo_command();
        cmd.args(args);
        run(cmd, h)
    }

    /// skopeo with this configuration, arguments still to add.
    pub(crate) fn skopeo_command(&self) -> Command {
        let mut cmd = self.command("skopeo");
        cmd.arg("--policy")
            .arg(self.path("policy.json"))
            .arg("--registries.d")
            .arg(self.path("registries.d"));
        cmd
    }

    /// podman as root with its own vfs storage under `store`.
    fn podman(&self, h: &Hoist, store: &str, args: &[&str]) -> String {
        let store = self.path(store);
        let mut cmd = self.command("podman");
        cmd.args(["--storage-driver", "vfs", "--events-backend", "none"])
            .arg("--root")
            .arg(store.join("root"))
            .arg("--runroot")
            .arg(store.join("run"))
            .arg("--tmpdir")
            .arg(store.join("tmp"))
            .args(args);
        run(cmd, h)
    }
}

/// Run to success and return stdout; on failure panic with both outputs and hoist's log.
fn run(mut cmd: Command, h: &Hoist) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {stdout}\nstderr: {}\nhoist log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        h.log()
    );
    stdout
}

/// GET a manifest from hoist; it must be exactly `bytes`, with its media type and digest.
async fn assert_serves_manifest(
    h: &Hoist,
    repo: &str,
    reference: &str,
    bytes: &[u8],
    media_type: &str,
) {
    let r = client()
        .get(h.url(&format!("/v2/{repo}/manifests/{reference}")))
        .header(
            "accept",
            [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].join(", "),
        )
        .send()
        .await
        .expect("get manifest");
    assert_eq!(r.status(), 200, "GET {repo} manifest {reference}");
    assert_eq!(
        r.headers()["content-type"],
        media_type,
        "{repo}:{reference}"
    );
    assert_eq!(
        r.headers()["docker-content-digest"],
        sha256(bytes).as_str(),
        "{repo}:{reference}"
    );
    let body = r.bytes().await.expect("body");
    assert!(
        body.as_ref() == bytes,
        "{repo}:{reference} is not the pushed bytes:\n{}",
        String::from_utf8_lossy(&body)
    );
}

#[derive(Clone, Copy)]
enum Transport {
    /// An OCI image layout, `oci:<dir>:<tag>`.
    Oci,
    /// skopeo's own directory format, `dir:<dir>`; the only local format that keeps Docker
    /// manifests and lists as they are.
    Dir,
}

/// Build a layout around the fixture `top_file`, `skopeo copy --all --preserve-digests` it into
/// hoist, check hoist serves every manifest byte for byte, copy it back into a fresh layout and
/// compare the two.
async fn skopeo_round_trip(transport: Transport, top_file: &str, media_type: &str) {
    require("skopeo");
    let h = Hoist::start();
    let clients = Clients::new();
    let top = std::fs::read(fixtures().join("pushed").join(top_file)).expect("fixture");
    let top_digest = sha256(&top);
    let repo = format!(
        "interop/{}",
        top_file.trim_end_matches(".json").replace('.', "-")
    );
    let tag = "v1";
    let (src_dir, back_dir) = (clients.path("src"), clients.path("back"));
    let location = |dir: &Path| match transport {
        Transport::Oci => format!("oci:{}:{tag}", dir.display()),
        Transport::Dir => format!("dir:{}", dir.display()),
    };
    match transport {
        Transport::Oci => write_oci_layout(&src_dir, &top, media_type, tag),
        Transport::Dir => write_dir_layout(&src_dir, &top),
    }
    let remote = format!("docker://{}/{repo}:{tag}", h.addr);

    let copy = ["copy", "--all", "--preserve-digests"];
    let src = location(&src_dir);
    clients.skopeo(
        &h,
        &[&copy[..], &["--dest-tls-verify=false", &src, &remote]].concat(),
    );

    assert_serves_manifest(&h, &repo, tag, &top, media_type).await;
    assert_serves_manifest(&h, &repo, &top_digest, &top, media_type).await;
    let closure = Closure::of(&top);
    for (digest, bytes) in &closure.manifests {
        let child: Value = serde_json::from_slice(bytes).expect("json");
        let child_type = child["mediaType"].as_str().expect("child mediaType");
        assert_serves_manifest(&h, &repo, digest, bytes, child_type).await;
    }

    let back = location(&back_dir);
    clients.skopeo(
        &h,
        &[&copy[..], &["--src-tls-verify=false", &remote, &back]].concat(),
    );

    match transport {
        Transport::Oci => assert_same_oci_layouts(&src_dir, &back_dir, tag),
        // A dir: layout has no annotations or timestamps: every file must come back as it was.
        Transport::Dir => assert_same_files(&repo, &read_tree(&src_dir), &read_tree(&back_dir)),
    }
}

/// Every blob (manifests included) byte for byte; `index.json` must name the same manifest the
/// same way, though skopeo may write it differently (other annotations, key order).
fn assert_same_oci_layouts(src: &Path, back: &Path, tag: &str) {
    assert_same_files(
        "blobs/sha256",
        &read_tree(&src.join("blobs/sha256")),
        &read_tree(&back.join("blobs/sha256")),
    );
    let json = |path: PathBuf| -> Value {
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("JSON")
    };
    assert_eq!(json(src.join("oci-layout")), json(back.join("oci-layout")));
    let (want, got) = (json(src.join("index.json")), json(back.join("index.json")));
    let got_manifests = got["manifests"].as_array().expect("index.json manifests");
    assert_eq!(got_manifests.len(), 1, "index.json written back: {got}");
    for key in ["mediaType", "digest", "size"] {
        assert_eq!(
            got_manifests[0][key], want["manifests"][0][key],
            "index.json {key}: {got}"
        );
    }
    assert_eq!(
        got_manifests[0]["annotations"][REF_NAME], tag,
        "index.json: {got}"
    );
}

#[tokio::test]
async fn skopeo_round_trips_a_multi_layer_oci_image_byte_for_byte() {
    skopeo_round_trip(Transport::Oci, "simple.oci.manifest.json", OCI_MANIFEST).await;
}

#[tokio::test]
async fn skopeo_round_trips_a_multi_layer_docker_schema2_image_byte_for_byte() {
    skopeo_round_trip(Transport::Dir, "simple.v2s2.manifest.json", DOCKER_MANIFEST).await;
}

#[tokio::test]
async fn skopeo_round_trips_a_two_platform_docker_manifest_list_byte_for_byte() {
    skopeo_round_trip(Transport::Dir, "list-simple.json", DOCKER_LIST).await;
}

#[tokio::test]
async fn skopeo_round_trips_an_arm64_oci_image_byte_for_byte() {
    skopeo_round_trip(Transport::Oci, "arm.oci.manifest.json", OCI_MANIFEST).await;
}

#[tokio::test]
async fn skopeo_round_trips_a_two_platform_oci_index_byte_for_byte() {
    skopeo_round_trip(Transport::Oci, "index-simple.json", OCI_INDEX).await;
}

#[tokio::test]
async fn podman_pulls_a_skopeo_pushed_image_by_tag_and_by_digest() {
    require("skopeo");
    require("podman");
    let h = Hoist::start();
    let clients = Clients::new();
    let top = std::fs::read(fixtures().join("pushed/simple.oci.manifest.json")).expect("fixture");
    let digest = sha256(&top);
    let manifest: Value = serde_json::from_slice(&top).expect("json");
    let image_id = hex(manifest["config"]["digest"]
        .as_str()
        .expect("config digest"))
    .to_owned();
    let src = clients.path("src");
    write_oci_layout(&src, &top, OCI_MANIFEST, "latest");
    let src = format!("oci:{}:latest", src.display());
    let remote = format!("{}/interop/podman", h.addr);
    clients.skopeo(
        &h,
        &[
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &src,
            &format!("docker://{remote}:v1"),
        ],
    );

    let policy = clients.path("policy.json");
    let policy = policy.to_str().expect("utf-8 path");
    let by_tag = format!("{remote}:v1");
    let by_digest = format!("{remote}@{digest}");
    // A fresh store for each pull, so each one fetches the manifest, config and layers.
    for (store, reference) in [("podman-tag", &by_tag), ("podman-digest", &by_digest)] {
        let pull = [
            "pull",
            "--tls-verify=false",
            "--signature-policy",
            policy,
            reference,
        ];
        let out = clients.podman(&h, store, &pull);
        assert_eq!(
            out.lines().last(),
            Some(image_id.as_str()),
            "podman pull {reference}"
        );
        let format = "{{.Id}} {{.Digest}} {{.Os}}/{{.Architecture}}";
        let inspect = clients.podman(
            &h,
            store,
            &["image", "inspect", "--format", format, reference],
        );
        assert_eq!(
            inspect.trim(),
            format!("{image_id} {digest} linux/amd64"),
            "podman image inspect {reference}"
        );
    }
}

#[tokio::test]
async fn podman_pulls_the_platform_it_asks_for_out_of_a_docker_manifest_list() {
    require("skopeo");
    require("podman");
    let h = Hoist::start();
    let clients = Clients::new();
    let list = std::fs::read(fixtures().join("pushed/list-simple.json")).expect("fixture");
    let list_digest = sha256(&list);
    let src = clients.path("src");
    write_dir_layout(&src, &list);
    let src = format!("dir:{}", src.display());
    let remote = format!("{}/interop/podman-list:v1", h.addr);
    let dest = format!("docker://{remote}");
    let copy = [
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
    ];
    clients.skopeo(&h, &[&copy[..], &[src.as_str(), &dest]].concat());

    let policy = clients.path("policy.json");
    let policy = policy.to_str().expect("utf-8 path");
    // Image IDs are the config digests of the list's children.
    let cases = [
        (
            "linux/amd64",
            "4123566b622d104aec09e2baf1a440931c971de7e80cc3231158a837cb67db86",
        ),
        (
            "linux/arm64/v8",
            "998ccecb9dcf3a44cdb21e62dd4c64f86181ea30df22b48876111b9d7d5a0073",
        ),
    ];
    for (platform, image_id) in cases {
        let store = format!("podman-{}", platform.replace('/', "-"));
        let pull = [
            "pull",
            "--tls-verify=false",
            "--signature-policy",
            policy,
            "--platform",
            platform,
            &remote,
        ];
        let out = clients.podman(&h, &store, &pull);
        assert_eq!(
            out.lines().last(),
            Some(image_id),
            "podman pull --platform {platform}"
        );
        let format = "{{.Id}} {{.Digest}} {{.Os}}/{{.Architecture}}";
        let inspect = clients.podman(
            &h,
            &store,
            &["image", "inspect", "--format", format, &remote],
        );
        let os_arch = platform.trim_end_matches("/v8");
        assert_eq!(
            inspect.trim(),
            format!("{image_id} {list_digest} {os_arch}"),
            "podman image inspect after pulling {platform}"
        );
    }
}
