//! Real clients against hoist with access control on: skopeo, podman, containerd's `ctr` and
//! docker, each with the right credentials (push and pull work, a new repository included:
//! no 403 a client following the token flow should not see), a wrong password (refused with
//! an authentication error) and an access token as the password.
//!
//! Like the other interop tests these fail, never skip, when a client is missing.

use crate::access::{add_access_token, admin, start_auth, ADMIN_PW};
use crate::engines::{push_tar_image, tar_bytes, write_docker_archive, Containerd, Docker};
use crate::harness::*;
use crate::interop::Clients;
use serde_json::json;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Lockout off in effect: these tests try wrong passwords on purpose, and a client may
/// retry one several times.
const NO_LOCKOUT: &str = "lockout_after = 1000";

fn require(program: &str) {
    assert!(
        have(program),
        "`{program}` is not on PATH: the client tests need it. They fail instead of skipping \
         so that a run without it cannot pass."
    );
}

fn describe(out: &Output) -> String {
    format!(
        "{}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn succeeded(what: &str, out: &Output, h: &Hoist) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}\nhoist log:\n{}",
        describe(out),
        h.log()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The command failed, saying it was about credentials.
fn refused(what: &str, out: &Output) {
    assert!(!out.status.success(), "{what} succeeded: {}", describe(out));
    assert_auth_error(what, &describe(out));
}

fn assert_auth_error(what: &str, text: &str) {
    let lower = text.to_lowercase();
    assert!(
        [
            "unauthorized",
            "authentication required",
            "401",
            "invalid username/password",
            "authorization failed",
        ]
        .iter()
        .any(|s| lower.contains(s)),
        "{what} failed, but not with an authentication error: {text}"
    );
}

/// A copy of the fixture OCI layout `tests/fixtures/layout/simple` (tag `latest`).
fn simple_layout(clients: &Clients) -> String {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read dir") {
            let path = entry.expect("entry").path();
            let target = to.join(path.file_name().expect("name"));
            if path.is_dir() {
                copy(&path, &target);
            } else {
                std::fs::copy(&path, &target).expect("copy");
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layout/simple");
    let dir = clients.path("layout");
    copy(&src, &dir);
    format!("oci:{}:latest", dir.display())
}

/// The manifest digest of the fixture layout.
fn simple_digest() -> String {
    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layout/simple/index.json"),
        )
        .expect("index.json"),
    )
    .expect("JSON");
    index["manifests"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_owned()
}

/// skopeo with the test's client configuration and an auth file of its own (so no login on
/// the host counts).
fn skopeo(clients: &Clients, args: &[&str]) -> Output {
    let mut cmd = clients.skopeo_command();
    cmd.env("REGISTRY_AUTH_FILE", clients.path("skopeo-auth.json"))
        .args(args)
        .stdin(Stdio::null());
    cmd.output().expect("run skopeo")
}

/// The manifest digest hoist has for `repo:tag` (asked as the admin), if any.
async fn digest_in_hoist(h: &Hoist, repo: &str, tag: &str) -> Option<String> {
    let r = admin()
        .head(h.url(&format!("/v2/{repo}/manifests/{tag}")))
        .header(
            "accept",
            "application/vnd.oci.image.manifest.v1+json, \
             application/vnd.docker.distribution.manifest.v2+json",
        )
        .send()
        .await
        .expect("HEAD manifest");
    (r.status() == 200).then(|| {
        r.headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    })
}

#[tokio::test]
async fn skopeo_pushes_and_pulls_with_the_right_credentials_only() {
    require("skopeo");
    let h = start_auth(NO_LOCKOUT);
    let clients = Clients::new();
    let src = simple_layout(&clients);
    let remote = format!("docker://{}/team/skopeo:v1", h.addr);
    let admin_creds = format!("admin:{ADMIN_PW}");

    let out = skopeo(
        &clients,
        &[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            "admin:wrong-password",
            &src,
            &remote,
        ],
    );
    refused("skopeo copy to hoist with a wrong password", &out);
    let out = skopeo(
        &clients,
        &["copy", "--dest-tls-verify=false", &src, &remote],
    );
    refused("skopeo copy to hoist without credentials", &out);
    assert_eq!(digest_in_hoist(&h, "team/skopeo", "v1").await, None);

    let out = skopeo(
        &clients,
        &[
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            "--dest-creds",
            &admin_creds,
            &src,
            &remote,
        ],
    );
    succeeded("skopeo copy to hoist as the admin", &out, &h);
    assert_eq!(
        digest_in_hoist(&h, "team/skopeo", "v1").await,
        Some(simple_digest())
    );

    let back = clients.path("back");
    let dest = format!("oci:{}:v1", back.display());
    let out = skopeo(
        &clients,
        &[
            "copy",
            "--src-tls-verify=false",
            "--src-creds",
            "admin:wrong-password",
            &remote,
            &dest,
        ],
    );
    refused("skopeo copy from hoist with a wrong password", &out);
    let out = skopeo(
        &clients,
        &["copy", "--src-tls-verify=false", &remote, &dest],
    );
    refused("skopeo copy from hoist without credentials", &out);
    let out = skopeo(
        &clients,
        &[
            "copy",
            "--src-tls-verify=false",
            "--src-creds",
            &admin_creds,
            &remote,
            &dest,
        ],
    );
    succeeded("skopeo copy from hoist as the admin", &out, &h);
    let index = std::fs::read_to_string(back.join("index.json")).expect("pulled index.json");
    assert!(index.contains(&simple_digest()), "{index}");

    // An access token as the password.
    let base = format!("http://{}", h.addr);
    let (_, secret) = add_access_token(
        &base,
        "skopeo-ci",
        json!([{"repos": ["team/*"], "actions": ["pull", "push"]}]),
    )
    .await;
    let token_creds = format!("skopeo-ci:{secret}");
    let back2 = clients.path("back2");
    let out = skopeo(
        &clients,
        &[
            "copy",
            "--src-tls-verify=false",
            "--src-creds",
            &token_creds,
            &remote,
            &format!("oci:{}:v1", back2.display()),
        ],
    );
    succeeded("skopeo pull with an access token", &out, &h);
    let out = skopeo(
        &clients,
        &[
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            "--dest-creds",
            &token_creds,
            &src,
            &format!("docker://{}/team/skopeo-token:v1", h.addr),
        ],
    );
    succeeded("skopeo push with an access token", &out, &h);
    assert_eq!(
        digest_in_hoist(&h, "team/skopeo-token", "v1").await,
        Some(simple_digest())
    );
    // Outside the token's scopes.
    let out = skopeo(
        &clients,
        &[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &token_creds,
            &src,
            &format!("docker://{}/other/skopeo:v1", h.addr),
        ],
    );
    assert!(
        !out.status.success(),
        "a team/* token pushed to other/: {}",
        describe(&out)
    );
    assert_eq!(digest_in_hoist(&h, "other/skopeo", "v1").await, None);
}

/// podman as root with its own vfs storage and auth file under the clients' temp dir.
fn podman(clients: &Clients, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let store = clients.path("podman");
    let mut cmd = Command::new("podman");
    cmd.env(
        "CONTAINERS_REGISTRIES_CONF",
        clients.path("registries.conf"),
    )
    .env("REGISTRY_AUTH_FILE", clients.path("podman-auth.json"))
    .env("NO_PROXY", "127.0.0.1,localhost")
    .env("no_proxy", "127.0.0.1,localhost")
    .env("TMPDIR", clients.path(""))
    .args(["--storage-driver", "vfs", "--events-backend", "none"])
    .arg("--root")
    .arg(store.join("root"))
    .arg("--runroot")
    .arg(store.join("run"))
    .arg("--tmpdir")
    .arg(store.join("tmp"))
    .args(args)
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run podman");
    if let Some(mut pipe) = child.stdin.take() {
        if let Some(text) = stdin {
            let _ = pipe.write_all(text.as_bytes());
        }
    }
    child.wait_with_output().expect("podman output")
}

#[tokio::test]
async fn podman_logs_in_pushes_and_pulls_and_a_wrong_password_is_refused() {
    require("skopeo");
    require("podman");
    let h = start_auth(NO_LOCKOUT);
    let clients = Clients::new();
    let src = simple_layout(&clients);
    let out = skopeo(
        &clients,
        &[
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            "--dest-creds",
            &format!("admin:{ADMIN_PW}"),
            &src,
            &format!("docker://{}/team/base:v1", h.addr),
        ],
    );
    succeeded("skopeo push of the base image", &out, &h);
    // podman wants the auth file to exist before it reads it.
    std::fs::write(clients.path("podman-auth.json"), "{}").expect("write auth file");
    let policy = clients.path("policy.json");
    let policy = policy.to_str().expect("utf-8 path");
    let base_ref = format!("{}/team/base:v1", h.addr);

    let out = podman(
        &clients,
        &[
            "pull",
            "--tls-verify=false",
            "--signature-policy",
            policy,
            &base_ref,
        ],
        None,
    );
    refused("podman pull before logging in", &out);
    let login = |password: &str| {
        podman(
            &clients,
            &[
                "login",
                "--tls-verify=false",
                "-u",
                "admin",
                "--password-stdin",
                &h.addr,
            ],
            Some(password),
        )
    };
    refused(
        "podman login with a wrong password",
        &login("wrong-password"),
    );
    let out = login(ADMIN_PW);
    let said = succeeded("podman login", &out, &h);
    assert!(said.contains("Login Succeeded"), "{said}");

    let out = podman(
        &clients,
        &[
            "pull",
            "--tls-verify=false",
            "--signature-policy",
            policy,
            &base_ref,
        ],
        None,
    );
    succeeded("podman pull after logging in", &out, &h);
    // Pushing to a repository that does not exist yet.
    let pushed_ref = format!("{}/team/podman-new:v1", h.addr);
    succeeded(
        "podman tag",
        &podman(&clients, &["tag", &base_ref, &pushed_ref], None),
        &h,
    );
    let out = podman(
        &clients,
        &[
            "push",
            "--tls-verify=false",
            "--signature-policy",
            policy,
            &pushed_ref,
        ],
        None,
    );
    succeeded("podman push to a new repository", &out, &h);
    assert!(
        digest_in_hoist(&h, "team/podman-new", "v1").await.is_some(),
        "hoist has what podman pushed"
    );
    // And back, into a store without it.
    succeeded(
        "podman rmi",
        &podman(&clients, &["rmi", &pushed_ref, &base_ref], None),
        &h,
    );
    let out = podman(
        &clients,
        &[
            "pull",
            "--tls-verify=false",
            "--signature-policy",
            policy,
            &pushed_ref,
        ],
        None,
    );
    succeeded("podman pull of what it pushed", &out, &h);

    // After logging out, the repository is closed again.
    succeeded(
        "podman logout",
        &podman(&clients, &["logout", &h.addr], None),
        &h,
    );
    succeeded(
        "podman rmi",
        &podman(&clients, &["rmi", &pushed_ref], None),
        &h,
    );
    let out = podman(
        &clients,
        &[
            "pull",
            "--tls-verify=false",
            "--signature-policy",
            policy,
            &pushed_ref,
        ],
        None,
    );
    refused("podman pull after logging out", &out);
}

#[tokio::test]
async fn containerd_pulls_with_the_right_user_only() {
    let h = start_auth(NO_LOCKOUT);
    let c = admin();
    let layer = tar_bytes(&[("hello.txt", b"hello from containerd\n")]);
    let digest = push_tar_image(&c, &h, "team/ctr", "v1", &layer, &["/hello.txt"]).await;
    let ctr = Containerd::start();
    let reference = format!("{}/team/ctr:v1", h.addr);

    let err = ctr
        .pull(&reference, None, true, Some(("admin", "wrong-password")))
        .expect_err("ctr pull with a wrong password succeeded");
    assert_auth_error("ctr pull with a wrong password", &err);
    let err = ctr
        .pull(&reference, None, true, None)
        .expect_err("ctr pull without credentials succeeded");
    assert_auth_error("ctr pull without credentials", &err);
    assert_eq!(ctr.image_digest(&reference), None);

    ctr.pull(&reference, None, true, Some(("admin", ADMIN_PW)))
        .unwrap_or_else(|e| panic!("{e}\nhoist log:\n{}", h.log()));
    assert_eq!(ctr.image_digest(&reference), Some(digest.clone()));

    // An access token as the password.
    let base = format!("http://{}", h.addr);
    let (_, secret) = add_access_token(
        &base,
        "ctr-ci",
        json!([{"repos": ["team/*"], "actions": ["pull"]}]),
    )
    .await;
    ctr.remove_image(&reference).expect("ctr images rm");
    ctr.pull(&reference, None, true, Some(("ctr-ci", &secret)))
        .unwrap_or_else(|e| panic!("with an access token: {e}\nhoist log:\n{}", h.log()));
    assert_eq!(ctr.image_digest(&reference), Some(digest));
}

#[tokio::test]
async fn docker_logs_in_pushes_and_pulls_and_a_wrong_password_is_refused() {
    let h = start_auth(NO_LOCKOUT);
    let docker = Docker::start(&[]);
    let tmp = tempfile::tempdir().expect("temp dir");
    let pushed = format!("{}/team/docker-new:v1", h.addr);
    let (archive, image_id) =
        write_docker_archive(tmp.path(), &pushed, "hello.txt", b"hello from docker\n");
    docker.load(&archive).expect("docker load");

    let err = docker
        .login(&h.addr, "admin", "wrong-password")
        .expect_err("docker login with a wrong password succeeded");
    assert_auth_error("docker login with a wrong password", &err);
    let err = docker
        .push(&pushed)
        .expect_err("docker push without logging in succeeded");
    assert_auth_error("docker push without logging in", &err);

    let said = docker
        .login(&h.addr, "admin", ADMIN_PW)
        .unwrap_or_else(|e| panic!("{e}\nhoist log:\n{}", h.log()));
    assert!(said.contains("Login Succeeded"), "{said}");
    // A new repository: the admin's token flow must not meet a 403.
    let out = docker
        .push(&pushed)
        .unwrap_or_else(|e| panic!("{e}\nhoist log:\n{}", h.log()));
    let digest = crate::engines::pushed_digest(&out).expect("docker push printed a digest");
    assert_eq!(
        digest_in_hoist(&h, "team/docker-new", "v1").await,
        Some(digest)
    );
    docker.remove_image(&pushed).expect("docker rmi");
    docker
        .pull(&pushed)
        .unwrap_or_else(|e| panic!("{e}\nhoist log:\n{}", h.log()));
    assert_eq!(docker.image_id(&pushed), Some(image_id.clone()));

    // After logging out, pulls are refused.
    docker.run(&["logout", &h.addr]).expect("docker logout");
    docker.remove_image(&pushed).expect("docker rmi");
    let err = docker
        .pull(&pushed)
        .expect_err("docker pull after logging out succeeded");
    assert_auth_error("docker pull after logging out", &err);

    // An access token as the password.
    let base = format!("http://{}", h.addr);
    let (_, secret) = add_access_token(
        &base,
        "docker-ci",
        json!([{"repos": ["team/*"], "actions": ["pull"]}]),
    )
    .await;
    let said = docker
        .login(&h.addr, "docker-ci", &secret)
        .unwrap_or_else(|e| panic!("docker login with a token: {e}\nhoist log:\n{}", h.log()));
    assert!(said.contains("Login Succeeded"), "{said}");
    docker
        .pull(&pushed)
        .unwrap_or_else(|e| panic!("docker pull with a token: {e}\nhoist log:\n{}", h.log()));
    assert_eq!(docker.image_id(&pushed), Some(image_id));
    // A pull-only token does not push.
    docker
        .tag(&pushed, &format!("{}/team/docker-token:v1", h.addr))
        .expect("docker tag");
    let err = docker
        .push(&format!("{}/team/docker-token:v1", h.addr))
        .expect_err("a pull-only token pushed");
    assert!(!err.is_empty());
    assert_eq!(digest_in_hoist(&h, "team/docker-token", "v1").await, None);
}
