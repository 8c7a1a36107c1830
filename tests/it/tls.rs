//! hoist serving TLS itself: a test CA and a server certificate for 127.0.0.1 made with the
//! `openssl` CLI; skopeo verifying it with only that CA; `public_url` in realms and
//! `Location`s; a new certificate taken on SIGHUP without a restart.

use crate::access::{basic, challenge, header, no_redirects, Server, ADMIN_PW};
use crate::harness::*;
use crate::interop::Clients;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn require_openssl() {
    assert!(
        have("openssl"),
        "`openssl` is not on PATH: the TLS tests make their certificates with it. They fail \
         instead of skipping so that a run without it cannot pass."
    );
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`<name>-ca.crt`, `<name>-ca.key`) and a server certificate it signed for IP
/// 127.0.0.1 with `serial` (`<name>.crt`, `<name>.key`, and `<name>.der`), all P-256.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    der: Vec<u8>,
}

fn make_pki(dir: &Path, name: &str, serial: &str) -> Pki {
    let ca_key = format!("{name}-ca.key");
    let ca = format!("{name}-ca.crt");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &ca_key,
            "-out",
            &ca,
            "-days",
            "2",
            "-subj",
            &format!("/CN=hoist test CA {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    let ext = format!("{name}.ext");
    std::fs::write(
        dir.join(&ext),
        "subjectAltName = IP:127.0.0.1\nbasicConstraints = critical,CA:FALSE\n\
         keyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth\n",
    )
    .expect("write extensions");
    let cert = format!("{name}.crt");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-set_serial",
            serial,
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &cert,
        ],
    );
    let der = format!("{name}.der");
    openssl(
        dir,
        &["x509", "-in", &cert, "-outform", "DER", "-out", &der],
    );
    Pki {
        ca: dir.join(ca),
        cert: dir.join(cert),
        key: dir.join(key),
        der: std::fs::read(dir.join(der)).expect("read DER"),
    }
}

/// A client that trusts `ca` and nothing else.
fn trusting(ca: &Path) -> reqwest::Client {
    let pem = std::fs::read(ca).expect("read CA");
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("CA certificate"))
        .tls_info(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// The certificate (DER) hoist served a fresh connection, trusting only `ca`; `Err` with why
/// the handshake failed.
async fn served_cert(url: &str, ca: &Path) -> Result<Vec<u8>, String> {
    let r = trusting(ca)
        .get(url)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    r.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .map(<[u8]>::to_vec)
        .ok_or_else(|| "no peer certificate".to_owned())
}

/// A free port on 127.0.0.1 (for a `public_url` that must name the port before hoist starts).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn toml_path(p: &Path) -> String {
    p.display().to_string().replace('\\', "\\\\")
}

#[tokio::test]
async fn hoist_serves_https_that_skopeo_verifies_and_public_url_makes_realms_and_locations() {
    require_openssl();
    assert!(have("skopeo"), "`skopeo` is not on PATH");
    let pki_dir = tempfile::tempdir().expect("temp dir");
    let pki = make_pki(pki_dir.path(), "one", "0x1001");
    let port = free_port();
    let public = format!("https://127.0.0.1:{port}");
    let config = format!(
        "public_url = \"{public}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n\n[auth]\nenabled = true\nlockout_after = 1000\n",
        toml_path(&pki.cert),
        toml_path(&pki.key)
    );
    let s = Server::start(
        &format!("127.0.0.1:{port}"),
        &config,
        &[("HOIST_ADMIN_PASSWORD", ADMIN_PW)],
    );
    assert_eq!(s.scheme, "https", "the listening line says https");
    assert_eq!(s.addr, format!("127.0.0.1:{port}"));
    let c = trusting(&pki.ca);

    // The certificate is the one made for it, and plain http is not served.
    assert_eq!(
        served_cert(&s.url("/v2/"), &pki.ca).await,
        Ok(pki.der.clone())
    );
    assert!(
        no_redirects()
            .get(format!("http://127.0.0.1:{port}/v2/"))
            .send()
            .await
            .map_or(true, |r| r.status() == 400 || r.status().as_u16() >= 400),
        "plain http on the TLS port is no registry"
    );

    // The realm is under the public URL.
    let r = c.get(s.url("/v2/")).send().await.expect("GET /v2/");
    assert_eq!(r.status(), 401);
    let params = challenge(&header(&r, "www-authenticate"));
    assert_eq!(
        params.get("realm").map(String::as_str),
        Some(format!("{public}/token").as_str()),
        "{params:?}"
    );
    // Locations are absolute under it.
    let auth = basic("admin", ADMIN_PW);
    let r = c
        .post(s.url("/v2/team/app/blobs/uploads/"))
        .header("authorization", &auth)
        .send()
        .await
        .expect("POST upload");
    assert_eq!(r.status(), 202);
    let location = header(&r, "location");
    assert!(
        location.starts_with(&format!("{public}/v2/team/app/blobs/uploads/")),
        "{location}"
    );
    let blob = b"a blob over https".to_vec();
    let digest = sha256(&blob);
    let r = c
        .put(format!("{location}?digest={digest}"))
        .header("authorization", &auth)
        .body(blob)
        .send()
        .await
        .expect("PUT upload");
    assert_eq!(r.status(), 201);
    assert_eq!(
        header(&r, "location"),
        format!("{public}/v2/team/app/blobs/{digest}")
    );
    // The console's cookies are Secure over https.
    let r = c.get(s.url("/login")).send().await.expect("GET /login");
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("hoist_login_csrf="))
        .unwrap_or("")
        .to_owned();
    assert!(cookie.contains("Secure"), "{cookie}");

    // skopeo, trusting the test CA through --dest-cert-dir / --src-cert-dir, follows the
    // realm (https, under public_url) and verifies the certificate.
    let clients = Clients::new();
    let certs = clients.path("certs");
    std::fs::create_dir_all(&certs).expect("mkdir");
    std::fs::copy(&pki.ca, certs.join("ca.crt")).expect("copy CA");
    let layout = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layout/simple");
    let src_copy = clients.path("src");
    copy_dir(&layout, &src_copy);
    let remote = format!("docker://127.0.0.1:{port}/team/tls:v1");
    let creds = format!("admin:{ADMIN_PW}");
    let skopeo = |args: &[&str]| {
        let mut cmd = clients.skopeo_command();
        cmd.env("REGISTRY_AUTH_FILE", clients.path("auth.json"))
            .args(args)
            .stdin(Stdio::null());
        cmd.output().expect("run skopeo")
    };
    let out = skopeo(&[
        "copy",
        "--preserve-digests",
        "--dest-cert-dir",
        certs.to_str().expect("utf-8"),
        "--dest-creds",
        &creds,
        &format!("oci:{}:latest", src_copy.display()),
        &remote,
    ]);
    assert!(
        out.status.success(),
        "skopeo push over https: {}\n{}\nhoist log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    let r = c
        .head(s.url("/v2/team/tls/manifests/v1"))
        .header("authorization", &auth)
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .expect("HEAD manifest");
    assert_eq!(r.status(), 200, "hoist has what skopeo pushed");
    let back = clients.path("back");
    let out = skopeo(&[
        "copy",
        "--src-cert-dir",
        certs.to_str().expect("utf-8"),
        "--src-creds",
        &creds,
        &remote,
        &format!("oci:{}:v1", back.display()),
    ]);
    assert!(
        out.status.success(),
        "skopeo pull over https: {}\n{}\nhoist log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    assert!(back.join("index.json").exists());
    // Without the CA, skopeo refuses the certificate: the pulls above did verify it.
    let out = skopeo(&[
        "copy",
        "--src-creds",
        &creds,
        &remote,
        &format!("oci:{}:v1", clients.path("back2").display()),
    ]);
    assert!(!out.status.success(), "skopeo trusted an unknown CA");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("certificate") || stderr.contains("x509"),
        "{stderr}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let path = entry.expect("entry").path();
        let target = to.join(path.file_name().expect("name"));
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy");
        }
    }
}

/// Replace `to` with `from`'s bytes atomically (write beside it, rename over it).
fn replace(from: &Path, to: &Path) {
    let temp = to.with_extension("new");
    std::fs::copy(from, &temp).expect("copy");
    std::fs::rename(&temp, to).expect("rename");
}

fn hangup(s: &Server) {
    let status = Command::new("kill")
        .args(["-HUP", &s.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -HUP {}", s.pid());
}

#[tokio::test]
async fn sighup_makes_hoist_serve_the_new_certificate_without_a_restart() {
    require_openssl();
    let dir = tempfile::tempdir().expect("temp dir");
    let old = make_pki(dir.path(), "old", "0x1001");
    let new = make_pki(dir.path(), "new", "0x2002");
    // The files hoist is configured with: the old certificate at first.
    let cert = dir.path().join("served.crt");
    let key = dir.path().join("served.key");
    std::fs::copy(&old.cert, &cert).expect("copy");
    std::fs::copy(&old.key, &key).expect("copy");
    let config = format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
        toml_path(&cert),
        toml_path(&key)
    );
    let s = Server::start("127.0.0.1:0", &config, &[]);
    assert_eq!(s.scheme, "https");
    let url = s.url("/v2/");
    let pid = s.pid();
    assert_eq!(served_cert(&url, &old.ca).await, Ok(old.der.clone()));
    assert!(
        served_cert(&url, &new.ca).await.is_err(),
        "a client trusting only the new CA is refused before the reload"
    );
    // Something to check the data survives (it is the same process anyway).
    let c = trusting(&old.ca);
    let r = c
        .post(s.url(&format!(
            "/v2/team/app/blobs/uploads/?digest={}",
            sha256(b"kept")
        )))
        .body(b"kept".to_vec())
        .send()
        .await
        .expect("push a blob");
    assert_eq!(r.status(), 201);

    // New files: nothing changes until SIGHUP.
    replace(&new.cert, &cert);
    replace(&new.key, &key);
    assert_eq!(
        served_cert(&url, &old.ca).await,
        Ok(old.der.clone()),
        "before SIGHUP the old certificate is served"
    );
    hangup(&s);
    let deadline = Instant::now() + Duration::from_secs(10);
    let served = loop {
        let served = served_cert(&url, &new.ca).await;
        if served.is_ok() || Instant::now() > deadline {
            break served;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        served,
        Ok(new.der.clone()),
        "after SIGHUP, the new certificate (serial 0x2002); hoist log:\n{}",
        s.log()
    );
    assert!(
        served_cert(&url, &old.ca).await.is_err(),
        "the old certificate is no longer served"
    );
    assert_eq!(s.pid(), pid, "the same process");
    let r = trusting(&new.ca)
        .head(s.url(&format!("/v2/team/app/blobs/{}", sha256(b"kept"))))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(r.status(), 200, "still serving, same data");
    assert!(s.log().contains("reloaded"), "{}", s.log());

    // A broken certificate file on SIGHUP: the one in force stays.
    std::fs::write(&cert, "not a certificate").expect("write");
    hangup(&s);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s.log().contains("not reloaded") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        s.log().contains("not reloaded"),
        "the failed reload is logged: {}",
        s.log()
    );
    assert_eq!(
        served_cert(&url, &new.ca).await,
        Ok(new.der),
        "a broken file keeps the certificate in force"
    );
}
