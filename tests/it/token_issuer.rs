//! A Docker token server on 127.0.0.1: the `realm` of distribution's `auth: token`, as Docker
//! Hub's auth.docker.io is for Docker Hub.
//!
//! `GET /token?service=<service>&scope=repository:<name>:<actions>[&scope=...]`, with Basic
//! credentials or none, answers `{"token", "access_token", "expires_in", "issued_at"}`. The token
//! is an ES256 JWT signed by a P-256 key of the issuer's own, whose self-signed X.509
//! certificate ([`TokenIssuer::cert_pem`]) is the `rootcertbundle` distribution trusts.
//!
//! Grants: a known user with the right password gets every action a scope asks for (a pull-only
//! user only `pull`); no credentials get a token that grants `pull` on repositories when
//! anonymous pull is on and nothing otherwise (as Docker Hub does for a private repository:
//! distribution then answers 401 `insufficient_scope`); a wrong password or an unknown user get
//! 401 and no token. A `service` other than the issuer's gets 400.
//!
//! distribution 2.8 finds the signing key from the JWT header: `x5c` (a chain verified up to the
//! bundle), else `jwk`, else `kid` looked up among the bundle's keys by libtrust key ID. The
//! issuer sends `kid` (default) or `x5c` ([`KeyHeader`]). distribution allows 60 s of leeway on
//! `exp` and `nbf`, so a token with a short `expires_in` keeps working upstream for a minute
//! after it expired: tests of token refresh must count the tokens the issuer hands out rather
//! than wait for distribution to refuse an old one.

use crate::fault_proxy::{read_head, BodyReader, Framing, Head};
use data_encoding::{BASE64, BASE64URL_NOPAD};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::EncodePublicKey;
use std::collections::BTreeMap;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The `service` (JWT `aud`) the test upstreams are configured with.
pub const SERVICE: &str = "upstream-test";
/// The `iss` of every token, and the `issuer` distribution is configured to trust.
pub const ISSUER: &str = "hoist-test-issuer";

/// How the JWT header names the signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyHeader {
    /// `kid`: the libtrust key ID of the certificate's key (what most token servers send).
    Kid,
    /// `x5c`: the certificate itself, verified by distribution up to its root bundle.
    X5c,
}

/// One resource grant in a token: `{"type": "repository", "name": "a/b", "actions": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

impl Access {
    /// `repository:<name>:<actions>` as a grant.
    pub fn repository(name: &str, actions: &[&str]) -> Access {
        Access {
            kind: "repository".into(),
            name: name.into(),
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"type": self.kind, "name": self.name, "actions": self.actions})
    }
}

/// A token request the issuer answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// The user the Basic credentials named (`None`: anonymous).
    pub user: Option<String>,
    /// The `scope` parameters as sent, in order.
    pub scopes: Vec<String>,
    /// What the token granted (empty when refused or nothing was allowed).
    pub granted: Vec<Access>,
    /// 200 (a token was issued), 400 or 401.
    pub status: u16,
}

struct User {
    password: String,
    pull_only: bool,
}

struct State {
    users: BTreeMap<String, User>,
    anonymous_pull: bool,
    expires_in: u64,
    header: KeyHeader,
    requests: Vec<TokenRequest>,
}

/// A running token server; stops accepting when dropped.
pub struct TokenIssuer {
    addr: String,
    key: SigningKey,
    cert_der: Vec<u8>,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    jti: Arc<std::sync::atomic::AtomicU64>,
}

impl TokenIssuer {
    /// A token server on a free 127.0.0.1 port with a fresh key, no users, no anonymous pull
    /// and tokens that expire in 300 s.
    pub fn start() -> TokenIssuer {
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut secret).expect("random key");
        let key = SigningKey::from_slice(&secret).expect("P-256 key");
        let cert_der = self_signed_certificate(&key, ISSUER);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the token issuer");
        let addr = listener.local_addr().expect("issuer address").to_string();
        let state = Arc::new(Mutex::new(State {
            users: BTreeMap::new(),
            anonymous_pull: false,
            expires_in: 300,
            header: KeyHeader::Kid,
            requests: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let jti = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let minter = Minter {
            key: key.clone(),
            cert_der: cert_der.clone(),
            jti: Arc::clone(&jti),
        };
        let thread = {
            let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (state, minter) = (Arc::clone(&state), minter.clone());
                    std::thread::spawn(move || {
                        let _ = serve(conn, &state, &minter);
                    });
                }
            })
        };
        TokenIssuer {
            addr,
            key,
            cert_der,
            state,
            stop,
            thread: Some(thread),
            jti,
        }
    }

    fn minter(&self) -> Minter {
        Minter {
            key: self.key.clone(),
            cert_der: self.cert_der.clone(),
            jti: Arc::clone(&self.jti),
        }
    }

    /// `127.0.0.1:<port>`
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `http://127.0.0.1:<port>/token`: the `realm` distribution sends clients to.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// The self-signed certificate of the signing key, PEM: distribution's `rootcertbundle`.
    pub fn cert_pem(&self) -> String {
        let b64 = BASE64.encode(&self.cert_der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|l| std::str::from_utf8(l).expect("base64 is ASCII"))
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        )
    }

    /// The libtrust key ID of the signing key (the JWT `kid`).
    pub fn key_id(&self) -> String {
        hoist::oci::schema1::jws::key_id(self.key.verifying_key()).expect("key id")
    }

    /// Accept `user` with `password`, granting every action asked for.
    pub fn add_user(&self, user: &str, password: &str) {
        self.insert_user(user, password, false);
    }

    /// Accept `user` with `password`, granting only `pull`.
    pub fn add_pull_only_user(&self, user: &str, password: &str) {
        self.insert_user(user, password, true);
    }

    fn insert_user(&self, user: &str, password: &str, pull_only: bool) {
        let user_entry = User {
            password: password.to_owned(),
            pull_only,
        };
        self.lock().users.insert(user.to_owned(), user_entry);
    }

    /// Whether a request without credentials gets `pull` on any repository.
    pub fn set_anonymous_pull(&self, allowed: bool) {
        self.lock().anonymous_pull = allowed;
    }

    /// The `expires_in` (and `exp - iat`) of the tokens issued from now on.
    pub fn set_expires_in(&self, secs: u64) {
        self.lock().expires_in = secs;
    }

    /// How the JWT header of the tokens issued from now on names the key.
    pub fn set_key_header(&self, header: KeyHeader) {
        self.lock().header = header;
    }

    /// Tokens issued over HTTP so far (not those [`TokenIssuer::mint`] made).
    pub fn tokens_issued(&self) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.status == 200)
            .count()
    }

    /// Token requests refused (wrong password, unknown user, wrong service).
    pub fn refusals(&self) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.status != 200)
            .count()
    }

    /// Every token request answered so far.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.lock().requests.clone()
    }

    /// Forget the requests counted so far.
    pub fn reset_counts(&self) {
        self.lock().requests.clear();
    }

    /// A token granting `access` to `subject`, made without an HTTP request and not counted:
    /// for the test's own requests to the upstream.
    pub fn mint(&self, subject: &str, access: &[Access]) -> String {
        let (expires_in, header) = {
            let state = self.lock();
            (state.expires_in, state.header)
        };
        self.minter().mint(subject, access, expires_in, header)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("issuer state")
    }
}

impl Drop for TokenIssuer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr); // wake the accept loop
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What signs tokens; cloned into the server thread.
#[derive(Clone)]
struct Minter {
    key: SigningKey,
    cert_der: Vec<u8>,
    jti: Arc<std::sync::atomic::AtomicU64>,
}

impl Minter {
    fn mint(&self, subject: &str, access: &[Access], expires_in: u64, header: KeyHeader) -> String {
        let now = unix_now();
        let header = match header {
            KeyHeader::Kid => serde_json::json!({
                "typ": "JWT",
                "alg": "ES256",
                "kid": hoist::oci::schema1::jws::key_id(self.key.verifying_key()).expect("key id"),
            }),
            KeyHeader::X5c => serde_json::json!({
                "typ": "JWT",
                "alg": "ES256",
                "x5c": [BASE64.encode(&self.cert_der)],
            }),
        };
        let n = self.jti.fetch_add(1, Ordering::SeqCst);
        let claims = serde_json::json!({
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + expires_in,
            "nbf": now.saturating_sub(1),
            "iat": now,
            "jti": format!("hoist-test-{now}-{n}"),
            "access": access.iter().map(Access::to_json).collect::<Vec<_>>(),
        });
        let input = format!(
            "{}.{}",
            BASE64URL_NOPAD.encode(header.to_string().as_bytes()),
            BASE64URL_NOPAD.encode(claims.to_string().as_bytes())
        );
        // JWS ES256: the raw r || s, 64 bytes.
        let signature: Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", BASE64URL_NOPAD.encode(&signature.to_bytes()))
    }
}

/// Serve one connection: one request, then close.
fn serve(mut conn: TcpStream, state: &Mutex<State>, minter: &Minter) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut buf = Vec::new();
    let Some(head) = read_head(&mut conn, &mut buf)? else {
        return Ok(());
    };
    let framing = head.framing(None);
    if framing != Framing::Empty {
        let _ = BodyReader::new(&mut conn, buf, framing).read_all();
    }
    let (status, body, challenge) = answer(&head, state, minter);
    let mut out = Head {
        start: format!(
            "HTTP/1.1 {status} {}",
            match status {
                200 => "OK",
                400 => "Bad Request",
                401 => "Unauthorized",
                404 => "Not Found",
                _ => "Method Not Allowed",
            }
        ),
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("Content-Length".into(), body.len().to_string()),
            ("Connection".into(), "close".into()),
        ],
    };
    if challenge {
        out.set("WWW-Authenticate", "Basic realm=\"hoist-test-issuer\"");
    }
    conn.write_all(&[out.to_bytes(), body.into_bytes()].concat())?;
    conn.flush()
}

/// The status, JSON body and whether to add a Basic challenge.
fn answer(head: &Head, state: &Mutex<State>, minter: &Minter) -> (u16, String, bool) {
    let error = |msg: &str| {
        serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": msg}], "details": msg})
            .to_string()
    };
    let target = head.target();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != "/token" {
        return (404, error("not found"), false);
    }
    if head.method() != "GET" {
        return (405, error("only GET /token"), false);
    }
    let params: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let scopes: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect();
    let credentials = head
        .header("authorization")
        .and_then(|a| {
            a.strip_prefix("Basic ")
                .or_else(|| a.strip_prefix("basic "))
        })
        .and_then(|b| BASE64.decode(b.trim().as_bytes()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())));

    let mut state = state.lock().expect("issuer state");
    let mut record = TokenRequest {
        user: credentials.as_ref().map(|(u, _)| u.clone()),
        scopes: scopes.clone(),
        granted: Vec::new(),
        status: 200,
    };
    if param("service").map(String::as_str) != Some(SERVICE) {
        record.status = 400;
        state.requests.push(record);
        return (400, error(&format!("service must be {SERVICE}")), false);
    }
    // What each action may be: None refuses, Some(pull_only).
    let allowed: Option<bool> = match &credentials {
        Some((user, pass)) => match state.users.get(user) {
            Some(u) if &u.password == pass => Some(u.pull_only),
            _ => None,
        },
        None => Some(false),
    };
    let Some(pull_only) = allowed else {
        record.status = 401;
        state.requests.push(record);
        return (401, error("incorrect username or password"), true);
    };
    let anonymous = credentials.is_none();
    let anonymous_pull = state.anonymous_pull;
    let grants = |kind: &str, action: &str| {
        if anonymous {
            anonymous_pull && kind == "repository" && action == "pull"
        } else {
            !pull_only || action == "pull"
        }
    };
    for scope in &scopes {
        let Some((kind, rest)) = scope.split_once(':') else {
            continue;
        };
        let Some((name, actions)) = rest.rsplit_once(':') else {
            continue;
        };
        let actions: Vec<String> = actions
            .split(',')
            .filter(|a| !a.is_empty() && grants(kind, a))
            .map(str::to_owned)
            .collect();
        if !actions.is_empty() {
            record.granted.push(Access {
                kind: kind.to_owned(),
                name: name.to_owned(),
                actions,
            });
        }
    }
    let subject = credentials.map(|(u, _)| u).unwrap_or_default();
    let token = minter.mint(&subject, &record.granted, state.expires_in, state.header);
    let body = serde_json::json!({
        "token": token,
        "access_token": token,
        "expires_in": state.expires_in,
        "issued_at": rfc3339(unix_now()),
    })
    .to_string();
    state.requests.push(record);
    (200, body, false)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// (year, month, day, hour, minute, second) in UTC of a UNIX time.
fn civil(secs: u64) -> (i64, u32, u32, u64, u64, u64) {
    let days = i64::try_from(secs / 86_400).expect("days fit");
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).expect("day");
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).expect("month");
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// `2006-01-02T15:04:05Z`
pub(crate) fn rfc3339(secs: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// ASN.1 UTCTime `YYMMDDHHMMSSZ` (years 1950-2049).
fn utc_time(secs: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{:02}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z", y % 100)
}

// DER, just enough for one certificate.

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(u8::try_from(len).expect("short length"));
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | u8::try_from(bytes.len()).expect("length of length"));
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    der(0x30, &parts.concat())
}

/// A self-signed X.509 v3 certificate (no extensions) for `key`, with `common_name` as subject
/// and issuer, valid from a day ago for ten years (UTCTime, so until 2049 at most).
fn self_signed_certificate(key: &SigningKey, common_name: &str) -> Vec<u8> {
    // ecdsa-with-SHA256, 1.2.840.10045.4.3.2, parameters absent.
    let ecdsa_sha256 = seq(&[der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02])]);
    // Name: one RDN, commonName (2.5.4.3) as UTF8String.
    let name = seq(&[der(
        0x31,
        &seq(&[
            der(0x06, &[0x55, 0x04, 0x03]),
            der(0x0c, common_name.as_bytes()),
        ]),
    )]);
    let now = unix_now();
    let not_after = (now + 10 * 365 * 86_400).min(2_524_607_999); // 2049-12-31T23:59:59Z
    let validity = seq(&[
        der(0x17, utc_time(now - 86_400).as_bytes()),
        der(0x17, utc_time(not_after).as_bytes()),
    ]);
    let mut serial = [0u8; 8];
    getrandom::getrandom(&mut serial).expect("random serial");
    serial[0] = (serial[0] & 0x7f) | 0x01; // positive, minimal
    let spki = key
        .verifying_key()
        .to_public_key_der()
        .expect("public key DER")
        .as_bytes()
        .to_vec();
    let tbs = seq(&[
        der(0xa0, &der(0x02, &[2])), // [0] EXPLICIT version v3
        der(0x02, &serial),
        ecdsa_sha256.clone(),
        name.clone(),
        validity,
        name,
        spki,
    ]);
    let signature: Signature = key.sign(&tbs);
    let signature = signature.to_der();
    let bit_string = der(0x03, &[&[0u8][..], signature.as_bytes()].concat());
    seq(&[tbs, ecdsa_sha256, bit_string])
}
