//! Registry auth as Docker clients do it, without the network: parsing `WWW-Authenticate`
//! challenges, the token request a Bearer challenge calls for, the token service's answer, and
//! the cache of tokens per scope set. The exchange itself is in `transport.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::header::HeaderValue;
use reqwest::Url;
use tokio::time::Instant;

use super::headers::read_quoted;
use super::{Secret, UpstreamError};

/// One challenge of a `WWW-Authenticate` header: its scheme and its parameters (names
/// lower-cased, values unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn is(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }
}

/// Every challenge in the `WWW-Authenticate` header lines (RFC 9110 §11.6.1: several
/// challenges may share a line; quoted values may hold commas).
pub fn parse_challenges<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut challenges = Vec::new();
    for line in lines {
        parse_line(line, &mut challenges);
    }
    challenges
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn take_token(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !is_token_char(c)).unwrap_or(s.len());
    s.split_at(end)
}

fn skip_ws(s: &str) -> &str {
    s.trim_start_matches([' ', '\t'])
}

fn parse_line(line: &str, out: &mut Vec<Challenge>) {
    let mut rest = line;
    loop {
        rest = rest.trim_start_matches([',', ' ', '\t']);
        let (scheme, after_scheme) = take_token(rest);
        if scheme.is_empty() {
            // Not a challenge: skip past the next comma, if any, and try again.
            match rest.find(',') {
                Some(i) => {
                    rest = &rest[i + 1..];
                    continue;
                }
                None => return,
            }
        }
        let mut challenge = Challenge {
            scheme: scheme.to_owned(),
            params: Vec::new(),
        };
        rest = after_scheme;
        if let Some(after) = token68(rest) {
            let value = skip_ws(rest);
            let value = value[..value.len() - after.len()].trim_end();
            challenge.params.push((String::new(), value.to_owned()));
            rest = after;
        } else {
            rest = parse_params(rest, &mut challenge.params);
        }
        out.push(challenge);
    }
}

/// A token68 after the scheme (`Basic dXNlcg==`): what follows it, if there is one that
/// ends the challenge.
fn token68(s: &str) -> Option<&str> {
    let body = skip_ws(s);
    if body.len() == s.len() {
        return None;
    }
    let end = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || "-._~+/".contains(c)))
        .unwrap_or(body.len());
    if end == 0 {
        return None;
    }
    let after = body[end..].trim_start_matches('=');
    let next = skip_ws(after);
    (next.is_empty() || next.starts_with(',')).then_some(next)
}

/// `name = value` pairs separated by commas, up to the end or the next challenge's scheme;
/// returns what follows them.
fn parse_params<'a>(s: &'a str, params: &mut Vec<(String, String)>) -> &'a str {
    let mut rest = s;
    loop {
        let here = skip_ws(rest);
        let (name, after_name) = take_token(here);
        let Some(value_start) = skip_ws(after_name).strip_prefix('=') else {
            return here;
        };
        if name.is_empty() {
            return here;
        }
        let value_start = skip_ws(value_start);
        let (value, after_value) = match value_start.strip_prefix('"') {
            Some(quoted) => read_quoted(quoted),
            None => {
                let (v, after) = take_token(value_start);
                (v.to_owned(), after)
            }
        };
        params.push((name.to_ascii_lowercase(), value));
        let after_value = skip_ws(after_value);
        if !after_value.starts_with(',') {
            return after_value;
        }
        // After a comma: another parameter (`name =`), or the next challenge.
        let next = after_value.trim_start_matches([',', ' ', '\t']);
        let (next_name, after_next) = take_token(next);
        if next_name.is_empty() || !skip_ws(after_next).starts_with('=') {
            return after_value;
        }
        rest = next;
    }
}

/// What a Bearer challenge asks for: where to get a token, and for what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub realm: Url,
    pub service: Option<String>,
    /// Sorted and without duplicates, so one scope set has one cache key.
    pub scopes: Vec<String>,
}

impl TokenRequest {
    /// From a Bearer challenge; a challenge without a scope gets `default_scope`
    /// (`repository:<repo>:pull` for a repository request).
    pub fn from_challenge(
        challenge: &Challenge,
        default_scope: &str,
    ) -> Result<TokenRequest, UpstreamError> {
        let realm = challenge
            .param("realm")
            .ok_or_else(|| UpstreamError::Invalid("Bearer challenge without a realm".into()))?;
        let realm = Url::parse(realm).map_err(|e| {
            UpstreamError::Invalid(format!("Bearer challenge realm {realm:?}: {e}"))
        })?;
        if !matches!(realm.scheme(), "http" | "https") {
            return Err(UpstreamError::Invalid(format!(
                "Bearer challenge realm has scheme {:?}",
                realm.scheme()
            )));
        }
        let mut scopes: Vec<String> = match challenge.param("scope") {
            Some(s) if !s.trim().is_empty() => s.split_whitespace().map(str::to_owned).collect(),
            _ => vec![default_scope.to_owned()],
        };
        scopes.sort();
        scopes.dedup();
        Ok(TokenRequest {
            realm,
            service: challenge
                .param("service")
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            scopes,
        })
    }

    /// `<realm>?service=<service>&scope=<scope>&scope=<scope2>`, keeping any query the realm
    /// already had.
    pub fn url(&self) -> Url {
        let mut url = self.realm.clone();
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = &self.service {
                query.append_pair("service", service);
            }
            for scope in &self.scopes {
                query.append_pair("scope", scope);
            }
        }
        url
    }

    /// The token cache's key: one per realm, service and scope set.
    pub fn cache_key(&self) -> String {
        format!(
            "{} {} {}",
            self.realm,
            self.service.as_deref().unwrap_or(""),
            self.scopes.join(" ")
        )
    }
}

/// A token service's answer: the token and how long it lives.
pub fn parse_token_response(body: &[u8]) -> Result<(Secret, Duration), UpstreamError> {
    #[derive(serde::Deserialize)]
    struct Answer {
        token: Option<String>,
        access_token: Option<String>,
        expires_in: Option<i64>,
    }
    let answer: Answer = serde_json::from_slice(body).map_err(|e| {
        UpstreamError::Invalid(format!("token service answered something not JSON: {e}"))
    })?;
    let token = answer
        .token
        .filter(|t| !t.is_empty())
        .or(answer.access_token.filter(|t| !t.is_empty()))
        .ok_or(UpstreamError::Unauthorized)?;
    // The token spec: missing or under 60 s means 60 s.
    let lifetime = answer
        .expires_in
        .and_then(|s| u64::try_from(s).ok())
        .filter(|s| *s >= DEFAULT_TOKEN_LIFETIME.as_secs())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TOKEN_LIFETIME);
    Ok((Secret::from(token), lifetime))
}

pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// How long before its expiry a token stops being used: a fifth of its life, at most 30 s.
pub fn usable_for(lifetime: Duration) -> Duration {
    lifetime - (lifetime / 5).min(Duration::from_secs(30))
}

/// What goes in the `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub enum Authorization {
    Basic { username: String, password: Secret },
    Bearer(Secret),
}

impl Authorization {
    /// The header value, marked sensitive so the HTTP stack never logs it.
    pub fn header_value(&self) -> Result<HeaderValue, UpstreamError> {
        let text = match self {
            Authorization::Basic { username, password } => {
                let pair = format!("{username}:{}", password.expose());
                format!("Basic {}", data_encoding::BASE64.encode(pair.as_bytes()))
            }
            Authorization::Bearer(token) => format!("Bearer {}", token.expose()),
        };
        let mut value = HeaderValue::from_str(&text).map_err(|_| {
            UpstreamError::Invalid("credentials or token hold characters a header cannot".into())
        })?;
        value.set_sensitive(true);
        Ok(value)
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Authorization::Basic { .. } => "basic",
            Authorization::Bearer(_) => "bearer",
        }
    }
}

impl std::fmt::Debug for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ***", self.kind())
    }
}

#[derive(Debug)]
struct CachedToken {
    token: Secret,
    usable_until: Instant,
}

/// Tokens per scope set, which scope set a request's own scope was last answered with, and
/// one lock per scope set so concurrent requests fetch a token once.
#[derive(Debug, Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<String, CachedToken>>,
    /// Request scope (`repository:x:pull`) -> cache key of the challenge that answered it.
    keys: Mutex<HashMap<String, String>>,
    fetching: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl TokenCache {
    /// A token still usable for what a request of `request_scope` was last challenged for.
    pub fn for_request(&self, request_scope: &str) -> Option<Secret> {
        let key = lock(&self.keys).get(request_scope).cloned()?;
        self.get(&key)
    }

    pub fn get(&self, key: &str) -> Option<Secret> {
        let mut tokens = lock(&self.tokens);
        match tokens.get(key) {
            Some(t) if Instant::now() < t.usable_until => Some(t.token.clone()),
            Some(_) => {
                tokens.remove(key);
                None
            }
            None => None,
        }
    }

    pub fn put(&self, request_scope: &str, key: &str, token: Secret, lifetime: Duration) {
        lock(&self.tokens).insert(
            key.to_owned(),
            CachedToken {
                token,
                usable_until: Instant::now() + usable_for(lifetime),
            },
        );
        self.link(request_scope, key);
    }

    /// Answer requests of `request_scope` with the token of `key` from now on.
    pub fn link(&self, request_scope: &str, key: &str) {
        lock(&self.keys).insert(request_scope.to_owned(), key.to_owned());
    }

    /// Drop the token `key` holds if it is still `token` (another task may have replaced it).
    pub fn forget(&self, key: &str, token: &Secret) {
        let mut tokens = lock(&self.tokens);
        if tokens.get(key).is_some_and(|t| t.token == *token) {
            tokens.remove(key);
        }
    }

    /// Drop whatever token answers requests of `request_scope`, if it is still `token`.
    pub fn forget_for_request(&self, request_scope: &str, token: &Secret) {
        let key = lock(&self.keys).get(request_scope).cloned();
        if let Some(key) = key {
            self.forget(&key, token);
        }
    }

    /// The lock that serialises fetching the token of `key`.
    pub fn fetch_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(lock(&self.fetching).entry(key.to_owned()).or_default())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(c: &Challenge) -> Vec<(&str, &str)> {
        c.params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn docker_hub_bearer() {
        let c = parse_challenges([
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
        ]);
        assert_eq!(c.len(), 1);
        assert!(c[0].is("bearer"));
        assert_eq!(
            params(&c[0]),
            [
                ("realm", "https://auth.docker.io/token"),
                ("service", "registry.docker.io"),
                ("scope", "repository:library/alpine:pull"),
            ]
        );
    }

    #[test]
    fn quoted_commas_and_spaces_and_escapes() {
        let c = parse_challenges([
            r#"Bearer realm = "https://a.example/token?x=1,2" , service="svc", scope="repository:a/b:pull,push repository:c:pull", error="insufficient_scope", note="say \"hi\"""#,
        ]);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].param("realm"), Some("https://a.example/token?x=1,2"));
        assert_eq!(
            c[0].param("scope"),
            Some("repository:a/b:pull,push repository:c:pull")
        );
        assert_eq!(c[0].param("error"), Some("insufficient_scope"));
        assert_eq!(c[0].param("note"), Some(r#"say "hi""#));
    }

    #[test]
    fn several_challenges_on_one_line_and_on_several() {
        let c = parse_challenges([
            r#"Basic realm="Registry Realm", Bearer realm="https://t.example/token",service=reg"#,
            r#"Negotiate"#,
            r#"Digest realm="x", nonce="a,b", qop=auth, Basic realm="y""#,
        ]);
        let schemes: Vec<&str> = c.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["Basic", "Bearer", "Negotiate", "Digest", "Basic"]);
        assert_eq!(params(&c[0]), [("realm", "Registry Realm")]);
        assert_eq!(
            params(&c[1]),
            [("realm", "https://t.example/token"), ("service", "reg")]
        );
        assert!(c[2].params.is_empty());
        assert_eq!(c[3].param("nonce"), Some("a,b"));
        assert_eq!(c[3].param("qop"), Some("auth"));
        assert_eq!(c[4].param("realm"), Some("y"));
    }

    #[test]
    fn token68_and_odd_input() {
        let c = parse_challenges(["Basic dXNlcjpwYXNz==, Bearer realm=\"r\""]);
        assert_eq!(c.len(), 2);
        assert_eq!(params(&c[0]), [("", "dXNlcjpwYXNz==")]);
        assert_eq!(c[1].param("realm"), Some("r"));
        // Names are case-insensitive; garbage does not panic or loop.
        let c = parse_challenges([r#"BEARER Realm="r", SCOPE="s""#]);
        assert!(c[0].is("Bearer"));
        assert_eq!(c[0].param("realm"), Some("r"));
        assert_eq!(c[0].param("scope"), Some("s"));
        for junk in [
            "",
            ",,,",
            "=",
            "\"",
            "Bearer realm=\"unterminated",
            "a=b=c",
            "@@, ,=x",
        ] {
            let _ = parse_challenges([junk]);
        }
        assert!(parse_challenges([""]).is_empty());
        assert_eq!(
            parse_challenges(["Bearer realm=\"unterminated"])[0].param("realm"),
            Some("unterminated")
        );
    }

    #[test]
    fn token_request_with_scopes() {
        let c = &parse_challenges([
            r#"Bearer realm="https://auth.example/token?tenant=1",service="reg.example",scope="repository:b:pull repository:a:pull repository:b:pull""#,
        ])[0];
        let t = TokenRequest::from_challenge(c, "repository:x:pull").unwrap();
        assert_eq!(t.scopes, ["repository:a:pull", "repository:b:pull"]);
        assert_eq!(
            t.url().as_str(),
            "https://auth.example/token?tenant=1&service=reg.example&scope=repository%3Aa%3Apull&scope=repository%3Ab%3Apull"
        );
    }

    #[test]
    fn token_request_without_scope_uses_the_request_scope() {
        let c = &parse_challenges([r#"Bearer realm="http://127.0.0.1:1/token""#])[0];
        let t = TokenRequest::from_challenge(c, "repository:library/alpine:pull").unwrap();
        assert_eq!(t.scopes, ["repository:library/alpine:pull"]);
        assert_eq!(t.service, None);
        assert_eq!(
            t.url().as_str(),
            "http://127.0.0.1:1/token?scope=repository%3Alibrary%2Falpine%3Apull"
        );
        let no_realm = &parse_challenges([r#"Bearer service="x""#])[0];
        assert!(matches!(
            TokenRequest::from_challenge(no_realm, "s"),
            Err(UpstreamError::Invalid(_))
        ));
        let bad_realm = &parse_challenges([r#"Bearer realm="file:///etc/passwd""#])[0];
        assert!(TokenRequest::from_challenge(bad_realm, "s").is_err());
    }

    #[test]
    fn token_answers() {
        let (t, life) = parse_token_response(br#"{"token":"abc","expires_in":300}"#).unwrap();
        assert_eq!((t.expose(), life), ("abc", Duration::from_secs(300)));
        let (t, life) = parse_token_response(br#"{"access_token":"xyz"}"#).unwrap();
        assert_eq!((t.expose(), life), ("xyz", DEFAULT_TOKEN_LIFETIME));
        let (t, life) =
            parse_token_response(br#"{"token":"","access_token":"xyz","expires_in":5}"#).unwrap();
        assert_eq!((t.expose(), life), ("xyz", DEFAULT_TOKEN_LIFETIME));
        assert!(matches!(
            parse_token_response(br#"{"expires_in":60}"#),
            Err(UpstreamError::Unauthorized)
        ));
        assert!(matches!(
            parse_token_response(b"<html>"),
            Err(UpstreamError::Invalid(_))
        ));
        assert_eq!(usable_for(Duration::from_secs(60)), Duration::from_secs(48));
        assert_eq!(
            usable_for(Duration::from_secs(3600)),
            Duration::from_secs(3570)
        );
    }

    #[test]
    fn authorization_headers_are_sensitive_and_never_printed() {
        let basic = Authorization::Basic {
            username: "user".into(),
            password: Secret::new("pass"),
        };
        let v = basic.header_value().unwrap();
        assert_eq!(v.to_str().unwrap(), "Basic dXNlcjpwYXNz");
        assert!(v.is_sensitive());
        let bearer = Authorization::Bearer(Secret::new("tok"));
        assert_eq!(
            bearer.header_value().unwrap().to_str().unwrap(),
            "Bearer tok"
        );
        assert_eq!(format!("{bearer:?} {basic:?}"), "bearer *** basic ***");
        assert!(Authorization::Bearer(Secret::new("a\nb"))
            .header_value()
            .is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn cache_per_scope_set_until_shortly_before_expiry() {
        let cache = TokenCache::default();
        assert!(cache.for_request("repository:a:pull").is_none());
        cache.put(
            "repository:a:pull",
            "k1",
            Secret::new("t1"),
            Duration::from_secs(60),
        );
        assert_eq!(
            cache.for_request("repository:a:pull").unwrap().expose(),
            "t1"
        );
        assert!(cache.for_request("repository:b:pull").is_none());
        tokio::time::advance(Duration::from_secs(47)).await;
        assert!(cache.get("k1").is_some());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(cache.get("k1").is_none(), "stale before it expires");

        cache.put("r", "k2", Secret::new("t2"), Duration::from_secs(300));
        cache.forget("k2", &Secret::new("other"));
        assert!(cache.get("k2").is_some(), "a newer token stays");
        cache.forget_for_request("r", &Secret::new("t2"));
        assert!(cache.get("k2").is_none());
        assert!(Arc::ptr_eq(&cache.fetch_lock("k"), &cache.fetch_lock("k")));
    }
}
