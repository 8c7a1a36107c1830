//! The console's pages for a signed-in user. Without a session (access control on), every
//! page redirects to the login page.

use super::{page, to_login};
use crate::auth::Subject;
use crate::http::gate::{Gate, SESSION_COOKIE};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

#[derive(Template)]
#[template(path = "home.html")]
struct Home<'a> {
    user: &'a str,
    admin: bool,
    csrf: &'a str,
}

/// The signed-in user's subject and session CSRF token, or the redirect to sign in.
async fn signed_in(req: &HttpRequest, gate: &Gate) -> Result<(Subject, String), HttpResponse> {
    if !gate.enabled() {
        let everyone = Subject::User {
            name: "anonymous".into(),
            groups: Vec::new(),
            admin: true,
        };
        return Ok((everyone, String::new()));
    }
    let id = req
        .cookie(SESSION_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    match gate.auth.session(&id).await {
        Ok(Some(s)) => Ok((s.subject, s.csrf)),
        _ => Err(to_login(req.uri().path())),
    }
}

pub async fn home(req: HttpRequest, gate: web::Data<Gate>) -> HttpResponse {
    let (subject, csrf) = match signed_in(&req, &gate).await {
        Ok(s) => s,
        Err(redirect) => return redirect,
    };
    let user = subject.label();
    page(
        Home {
            user: &user,
            admin: subject.is_admin(),
            csrf: &csrf,
        }
        .render(),
    )
}
