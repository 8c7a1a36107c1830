//! The Docker token flow: a client that was challenged asks `/token` for the scopes it
//! needs (`repository:team/app:pull,push`, `registry:catalog:*`) and gets a short-lived JWT
//! whose `access` claim holds only what it may do; `offline_token` adds a refresh token
//! (containerd and docker trade it for new access tokens). Verifying a bearer token is
//! cached, but revoking an access token or changing a password ends its tokens at once.

use super::jwt::{self, Access, Claims};
use super::rules::{Action, Subject};
use super::{now_unix, Auth, AuthError};
use serde::Serialize;
use std::sync::Arc;

/// A scope a client asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestedScope {
    Repository { name: String, actions: Vec<String> },
    Catalog,
}

impl RequestedScope {
    /// `repository:<name>:<actions>` (comma-separated) or `registry:catalog:*`. Several
    /// scopes may come space-separated in one parameter.
    pub fn parse_all(s: &str) -> Vec<RequestedScope> {
        s.split(' ').filter_map(Self::parse).collect()
    }

    fn parse(s: &str) -> Option<RequestedScope> {
        let (kind, rest) = s.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        match kind {
            "repository" => Some(RequestedScope::Repository {
                name: name.to_owned(),
                actions: actions.split(',').map(str::to_owned).collect(),
            }),
            "registry" if name == "catalog" => Some(RequestedScope::Catalog),
            _ => None,
        }
    }
}

/// What `/token` answers (both `token` and `access_token`, as clients read either).
#[derive(Debug, Clone, Serialize)]
pub struct TokenAnswer {
    pub token: String,
    pub access_token: String,
    pub expires_in: u64,
    pub issued_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

fn to_action(s: &str) -> Option<Action> {
    match s {
        "*" => Some(Action::Admin),
        other => Action::parse(other),
    }
}

impl Auth {
    /// A token for `subject` holding the requested actions it may do.
    pub async fn issue(
        &self,
        subject: &Subject,
        scopes: &[RequestedScope],
        offline: bool,
    ) -> Result<TokenAnswer, AuthError> {
        let rules = self.rules();
        let mut access = Vec::new();
        for scope in scopes {
            match scope {
                RequestedScope::Repository { name, actions } => {
                    let granted: Vec<String> = actions
                        .iter()
                        .filter(|a| {
                            to_action(a).is_some_and(|act| {
                                !self.enabled() || super::rules::allowed(&rules, subject, act, name)
                            })
                        })
                        .cloned()
                        .collect();
                    if !granted.is_empty() {
                        access.push(Access {
                            kind: "repository".into(),
                            name: name.clone(),
                            actions: granted,
                        });
                    }
                }
                // The catalog is filtered by what the caller may pull; anyone may ask.
                RequestedScope::Catalog => access.push(Access {
                    kind: "registry".into(),
                    name: "catalog".into(),
                    actions: vec!["*".into()],
                }),
            }
        }
        let (user, token_id) = match subject {
            Subject::User { name, .. } => (Some(name.as_str()), None),
            Subject::Token { id, owner, .. } => (
                match owner.as_ref() {
                    Subject::User { name, .. } => Some(name.as_str()),
                    _ => None,
                },
                Some(id.clone()),
            ),
            Subject::Anonymous => (None, None),
        };
        let gen = user.map_or(0, |u| self.generation(u));
        let now = now_unix();
        let claims = |typ: Option<&str>, ttl: u64, access: Vec<Access>| Claims {
            iss: self.config.service.clone(),
            sub: subject.label(),
            aud: self.config.service.clone(),
            exp: now + ttl,
            nbf: now,
            iat: now,
            jti: super::password::random_secret(12).unwrap_or_default(),
            access,
            typ: typ.map(str::to_owned),
            tok: token_id.clone(),
            gen,
        };
        let ttl = self.config.token_ttl.as_secs();
        let token = jwt::encode(&self.key, &claims(None, ttl, access));
        let refresh_token = (offline && !matches!(subject, Subject::Anonymous)).then(|| {
            jwt::encode(
                &self.key,
                &claims(
                    Some("refresh"),
                    self.config.refresh_ttl.as_secs(),
                    Vec::new(),
                ),
            )
        });
        Ok(TokenAnswer {
            access_token: token.clone(),
            token,
            expires_in: ttl,
            issued_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            refresh_token,
        })
    }

    /// The subject a refresh token stands for, if it is still good.
    pub async fn refresh_subject(&self, refresh_token: &str) -> Result<Subject, AuthError> {
        let claims = self.verify_claims(refresh_token)?;
        if claims.typ.as_deref() != Some("refresh") {
            return Err(AuthError::Unauthorized("not a refresh token".into()));
        }
        let refused = || AuthError::Unauthorized("the refresh token's account is gone".into());
        if let Some(id) = &claims.tok {
            let token = self
                .tokens(None)
                .await?
                .into_iter()
                .find(|t| &t.id == id && !t.revoked)
                .ok_or_else(refused)?;
            let owner = self.user_subject(&token.owner).await?.ok_or_else(refused)?;
            return Ok(Subject::Token {
                id: id.clone(),
                name: token.name,
                owner: Box::new(owner),
                scopes: token.scopes,
            });
        }
        self.user_subject(&claims.sub).await?.ok_or_else(refused)
    }

    /// Verify a bearer token a client sent (not a refresh token).
    pub fn verify_bearer(&self, token: &str) -> Result<Arc<Claims>, AuthError> {
        let claims = self.verify_claims(token)?;
        if claims.typ.is_some() {
            return Err(AuthError::Unauthorized(
                "a refresh token is not an access token".into(),
            ));
        }
        Ok(claims)
    }

    fn verify_claims(&self, token: &str) -> Result<Arc<Claims>, AuthError> {
        let now = now_unix();
        if let Some(claims) = self.bearer_cache.get(token) {
            if now <= claims.exp {
                // Revocations and password changes clear the cache, so a hit is still good.
                return Ok(claims);
            }
        }
        let epoch = self.bearer_cache.epoch();
        let claims = jwt::decode(&self.key, token, &self.config.service, now)
            .map_err(|e| AuthError::Unauthorized(e.to_string()))?;
        self.still_current(&claims)?;
        let claims = Arc::new(claims);
        self.bearer_cache.insert(token, Arc::clone(&claims), epoch);
        Ok(claims)
    }

    /// What can end a token before it expires: its access token revoked, or its user's
    /// password changed or the user removed (a new generation).
    fn still_current(&self, claims: &Claims) -> Result<(), AuthError> {
        if let Some(id) = &claims.tok {
            if self
                .revoked
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains(id)
            {
                return Err(AuthError::Unauthorized(
                    "the access token was revoked".into(),
                ));
            }
        }
        if claims.sub != "anonymous" && claims.tok.is_none() {
            let current = self
                .generations
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(claims.sub.as_str())
                .copied();
            if current != Some(claims.gen) {
                return Err(AuthError::Unauthorized(
                    "the account changed; sign in again".into(),
                ));
            }
        }
        Ok(())
    }

    fn generation(&self, user: &str) -> u64 {
        self.generations
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(user)
            .copied()
            .unwrap_or(0)
    }
}

/// Whether a token's claims let it do `action` to `repo`.
pub fn claims_allow(claims: &Claims, action: Action, repo: &str) -> bool {
    claims.access.iter().any(|a| {
        a.kind == "repository"
            && a.name == repo
            && a.actions
                .iter()
                .any(|x| x == "*" || to_action(x) == Some(action))
    })
}

/// Whether a token's claims include the catalog.
pub fn claims_catalog(claims: &Claims) -> bool {
    claims
        .access
        .iter()
        .any(|a| a.kind == "registry" && a.name == "catalog")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_as_docker_sends_them() {
        assert_eq!(
            RequestedScope::parse_all("repository:team/app:pull,push"),
            vec![RequestedScope::Repository {
                name: "team/app".into(),
                actions: vec!["pull".into(), "push".into()],
            }]
        );
        assert_eq!(
            RequestedScope::parse_all("registry:catalog:* repository:a:pull").len(),
            2
        );
        assert!(RequestedScope::parse_all("nonsense").is_empty());
        // A name with a port-like colon keeps everything before the last one.
        assert_eq!(
            RequestedScope::parse_all("repository:a:b:pull"),
            vec![RequestedScope::Repository {
                name: "a:b".into(),
                actions: vec!["pull".into()],
            }]
        );
    }
}
