//! Who is asking, and may they: turns a request's `Authorization` header (Basic, or a
//! bearer token from `/token`) or console session cookie into a caller, and answers what
//! `auth` decides with the challenges clients expect: 401 with `WWW-Authenticate: Bearer
//! realm=…,service=…,scope=…` (and `error="insufficient_scope"` when a token lacks one).

use super::ApiError;
use crate::auth::jwt::Claims;
use crate::auth::{Action, Auth, AuthError, Subject};
use actix_web::HttpRequest;
use std::net::IpAddr;
use std::sync::Arc;

/// The session cookie of the console.
pub const SESSION_COOKIE: &str = "hoist_session";

/// Access control as the edges see it.
pub struct Gate {
    pub auth: Arc<Auth>,
    /// `<public url>/token`, or `/token` on the request's own host when no public URL.
    public_url: Option<String>,
}

/// Who sent a request.
#[derive(Debug, Clone)]
pub enum Caller {
    Anonymous,
    /// Basic credentials, or a console session.
    Subject(Subject),
    /// A bearer token from `/token`: its claims say what it may do.
    Bearer(Arc<Claims>),
}

impl Caller {
    pub fn label(&self) -> String {
        match self {
            Caller::Anonymous => "anonymous".into(),
            Caller::Subject(s) => s.label(),
            Caller::Bearer(c) => c.sub.clone(),
        }
    }

    pub fn is_anonymous(&self) -> bool {
        matches!(self, Caller::Anonymous)
    }
}

impl Gate {
    pub fn new(auth: Arc<Auth>, public_url: Option<String>) -> Gate {
        Gate { auth, public_url }
    }

    pub fn enabled(&self) -> bool {
        self.auth.enabled()
    }

    /// The client's address (the TCP peer; with a reverse proxy in front, the proxy's).
    pub fn address(req: &HttpRequest) -> Option<IpAddr> {
        req.peer_addr().map(|a| a.ip())
    }

    /// The caller behind `req`'s credentials. Wrong credentials are an error (401), not
    /// anonymous: a client should hear that its password is wrong.
    pub async fn caller(&self, req: &HttpRequest) -> Result<Caller, ApiError> {
        let Some(value) = req.headers().get("authorization") else {
            return Ok(Caller::Anonymous);
        };
        // Not `HeaderValue::to_str`: it checks a bearer token's hundreds of bytes one by one,
        // a cost paid on every pull (bench/compare.sh, bearer against no auth). UTF-8 is
        // checked a word at a time, and a token or Basic value is ASCII either way.
        let Ok(value) = std::str::from_utf8(value.as_bytes()) else {
            return Err(self.unauthorized(req, None, "malformed Authorization header"));
        };
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            return match self.auth.verify_bearer(rest.trim()) {
                Ok(claims) => Ok(Caller::Bearer(claims)),
                Err(e) => Err(self.unauthorized(req, None, &e.to_string())),
            };
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let (user, password) = basic(rest.trim())
                .ok_or_else(|| self.unauthorized(req, None, "malformed Basic credentials"))?;
            let address = Self::address(req).unwrap_or(IpAddr::from([0, 0, 0, 0]));
            return match self.auth.login(&user, &password, address).await {
                Ok(subject) => Ok(Caller::Subject(subject)),
                Err(AuthError::Locked { for_secs }) => Err(ApiError::Locked { for_secs }),
                Err(e) => Err(self.unauthorized(req, None, &e.to_string())),
            };
        }
        Err(self.unauthorized(req, None, "unsupported Authorization scheme"))
    }

    /// Whether `caller` may do `action` to `repo`.
    pub fn may(&self, caller: &Caller, action: Action, repo: &str) -> bool {
        if !self.enabled() {
            return true;
        }
        match caller {
            Caller::Anonymous => self.auth.allowed(&Subject::Anonymous, action, repo),
            Caller::Subject(s) => self.auth.allowed(s, action, repo),
            Caller::Bearer(c) => crate::auth::bearer_allows(c, action, repo),
        }
    }

    /// Fail unless `caller` may do `action` to `repo`: anonymous callers and tokens lacking
    /// the scope get a 401 challenge naming it; a signed-in user without the right, 403.
    pub fn require(
        &self,
        req: &HttpRequest,
        caller: &Caller,
        action: Action,
        repo: &str,
    ) -> Result<(), ApiError> {
        if self.may(caller, action, repo) {
            return Ok(());
        }
        let scope = scope_for(repo, action);
        match caller {
            Caller::Subject(s) => Err(ApiError::Denied(format!(
                "{} may not {action} {repo}",
                s.label()
            ))),
            Caller::Bearer(_) => {
                Err(self.challenge(req, Some(&scope), true, "the token does not allow this"))
            }
            Caller::Anonymous => {
                Err(self.challenge(req, Some(&scope), false, "authentication required"))
            }
        }
    }

    /// 401 asking for credentials (for `/v2/` itself, or wrong credentials).
    pub fn unauthorized(&self, req: &HttpRequest, scope: Option<&str>, message: &str) -> ApiError {
        self.challenge(req, scope, false, message)
    }

    fn challenge(
        &self,
        req: &HttpRequest,
        scope: Option<&str>,
        insufficient: bool,
        message: &str,
    ) -> ApiError {
        let mut header = format!(
            "Bearer realm=\"{}\",service=\"{}\"",
            self.realm(req),
            self.auth.config().service
        );
        if let Some(scope) = scope {
            header.push_str(&format!(",scope=\"{scope}\""));
        }
        if insufficient {
            header.push_str(",error=\"insufficient_scope\"");
        }
        ApiError::Unauthorized {
            challenge: header,
            message: message.to_owned(),
        }
    }

    /// Where clients get tokens: the public URL's `/token`, else this host's.
    pub fn realm(&self, req: &HttpRequest) -> String {
        match &self.public_url {
            Some(url) => format!("{url}/token"),
            None => {
                let info = req.connection_info();
                format!("{}://{}/token", info.scheme(), info.host())
            }
        }
    }

    /// The subject behind a caller, for what claims cannot say (the catalog's filter).
    pub async fn subject_of(&self, caller: &Caller) -> Subject {
        match caller {
            Caller::Anonymous => Subject::Anonymous,
            Caller::Subject(s) => s.clone(),
            Caller::Bearer(c) => {
                if c.tok.is_none() {
                    if let Ok(Some(s)) = self.auth.user_subject(&c.sub).await {
                        return s;
                    }
                }
                Subject::Anonymous
            }
        }
    }
}

/// The scope a client must ask for to do `action` to `repo` (pushing needs pull too).
pub fn scope_for(repo: &str, action: Action) -> String {
    let actions = match action {
        Action::Pull => "pull",
        Action::Push => "pull,push",
        Action::Delete => "delete",
        Action::Admin => "*",
    };
    format!("repository:{repo}:{actions}")
}

/// `user:password` of a Basic credential.
pub fn basic(encoded: &str) -> Option<(String, String)> {
    let bytes = data_encoding::BASE64.decode(encoded.as_bytes()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_and_scopes() {
        assert_eq!(
            basic("YWxpY2U6czNjcjp0"),
            Some(("alice".into(), "s3cr:t".into()))
        );
        assert_eq!(basic("!!"), None);
        assert_eq!(
            scope_for("team/app", Action::Push),
            "repository:team/app:pull,push"
        );
    }
}
