//! Who looks at a console page: the signed-in user (or, with access control off, everyone
//! as an admin), the CSRF token their forms carry, and a message left by the last action.
//! Handlers take a [`Viewer`] (any signed-in user) or an [`AdminViewer`] as an argument;
//! without a session the request never reaches them: it is sent to the login page.

use super::render::ConsoleError;
use super::to_login;
use crate::auth::{Action, Subject};
use crate::http::gate::{Gate, SESSION_COOKIE};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

/// The cookie carrying a one-time message to the next page (after POST, redirect, GET).
pub const FLASH_COOKIE: &str = "hoist_flash";

/// A signed-in user looking at the console.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub subject: Subject,
    /// What every state-changing form of theirs must send back as `csrf`.
    pub csrf: String,
    /// Whether access control is on (the page then shows "Sign out").
    pub auth_enabled: bool,
    /// The message the previous action left, shown once.
    pub flash: Option<String>,
    /// The request's path, so the navigation can mark where the viewer is.
    pub path: String,
}

/// A [`Viewer`] who is an admin; anyone else gets a 403 page.
#[derive(Debug, Clone)]
pub struct AdminViewer(pub Viewer);

impl std::ops::Deref for AdminViewer {
    type Target = Viewer;
    fn deref(&self) -> &Viewer {
        &self.0
    }
}

/// With access control off there is no session to hold a CSRF token; forms carry this
/// one, random per process, which a page on another site cannot read.
fn open_csrf() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(crate::auth::random_token)
}

impl Viewer {
    pub fn name(&self) -> String {
        self.subject.label()
    }

    pub fn is_admin(&self) -> bool {
        self.subject.is_admin()
    }

    /// Fail with 403 unless `csrf`, sent by a form, is this viewer's.
    pub fn check_csrf(&self, csrf: &str) -> Result<(), ConsoleError> {
        if !csrf.is_empty() && constant_time_eq(csrf.as_bytes(), self.csrf.as_bytes()) {
            return Ok(());
        }
        Err(ConsoleError::Forbidden(
            "The form's security token is missing or out of date. Go back, reload the page and try again."
                .into(),
        ))
    }

    /// Fail with 403 unless the form posted in `body` carries this viewer's CSRF token (for
    /// forms that carry nothing else, like a confirmation's).
    pub fn check_posted(&self, body: &[u8]) -> Result<(), ConsoleError> {
        let token = super::forms::all_values(body, "csrf").into_iter().next();
        self.check_csrf(token.as_deref().unwrap_or(""))
    }

    /// Whether this viewer may do `action` to `repo`.
    pub fn may(&self, gate: &Gate, action: Action, repo: &str) -> bool {
        !self.auth_enabled || gate.auth.allowed(&self.subject, action, repo)
    }

    /// Fail with 403 unless this viewer may do `action` to `repo`.
    pub fn require(&self, gate: &Gate, action: Action, repo: &str) -> Result<(), ConsoleError> {
        if self.may(gate, action, repo) {
            return Ok(());
        }
        Err(ConsoleError::Forbidden(format!(
            "{} may not {action} {repo}.",
            self.name()
        )))
    }

    async fn from_request(req: HttpRequest) -> Result<Viewer, actix_web::Error> {
        let gate = req
            .app_data::<web::Data<Gate>>()
            .ok_or_else(|| actix_web::error::ErrorInternalServerError("no gate"))?;
        let flash = req
            .cookie(FLASH_COOKIE)
            .map(|c| super::format::percent_decode(c.value()))
            .filter(|m| !m.is_empty());
        let path = req.path().to_owned();
        if !gate.enabled() {
            return Ok(Viewer {
                subject: Subject::User {
                    name: "anonymous".into(),
                    groups: Vec::new(),
                    admin: true,
                },
                csrf: open_csrf().to_owned(),
                auth_enabled: false,
                flash,
                path,
            });
        }
        let id = req
            .cookie(SESSION_COOKIE)
            .map(|c| c.value().to_owned())
            .unwrap_or_default();
        match gate.auth.session(&id).await {
            Ok(Some(session)) => Ok(Viewer {
                subject: session.subject,
                csrf: session.csrf,
                auth_enabled: true,
                flash,
                path,
            }),
            Ok(None) => {
                let back = match req.query_string() {
                    "" => path,
                    q => format!("{path}?{q}"),
                };
                // A form posted after the session ended goes back to the page it came from.
                let back = if req.method() == actix_web::http::Method::GET {
                    back
                } else {
                    "/".into()
                };
                Err(actix_web::error::InternalError::from_response(
                    "sign in first",
                    to_login(&back),
                )
                .into())
            }
            Err(e) => Err(ConsoleError::from(e).into()),
        }
    }
}

impl FromRequest for Viewer {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Viewer, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(Viewer::from_request(req.clone()))
    }
}

impl FromRequest for AdminViewer {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<AdminViewer, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let viewer = Viewer::from_request(req).await?;
            if !viewer.is_admin() {
                return Err(ConsoleError::Forbidden(format!(
                    "This page is for admins; {} is not one.",
                    viewer.name()
                ))
                .into());
            }
            Ok(AdminViewer(viewer))
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_must_match_exactly() {
        let viewer = Viewer {
            subject: Subject::Anonymous,
            csrf: "abc".into(),
            auth_enabled: true,
            flash: None,
            path: "/".into(),
        };
        assert!(viewer.check_csrf("abc").is_ok());
        assert!(viewer.check_csrf("abd").is_err());
        assert!(viewer.check_csrf("").is_err());
        assert!(viewer.check_csrf("abcd").is_err());
    }
}
