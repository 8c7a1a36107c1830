//! Signing in and out of the console. The login form carries a CSRF token that must match
//! a cookie set with the form (double submit); a session's forms carry the session's own.
//! Failed logins are throttled like Basic and `/token` ones (the same `auth::login`).

use super::render::{html, Layout};
use super::to_login;
use crate::http::gate::{Gate, SESSION_COOKIE};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use std::net::IpAddr;

const LOGIN_CSRF_COOKIE: &str = "hoist_login_csrf";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    layout: Layout,
    csrf: &'a str,
    next: &'a str,
    username: &'a str,
    message: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Cookies: HttpOnly, SameSite=Strict, and Secure when the request came over TLS.
pub(super) fn cookie<'a>(req: &HttpRequest, name: &'a str, value: String) -> Cookie<'a> {
    let secure = req.connection_info().scheme() == "https";
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .finish()
}

fn safe_next(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") {
        next
    } else {
        "/"
    }
}

pub async fn form(req: HttpRequest) -> HttpResponse {
    let csrf = crate::auth::random_token();
    let next = super::forms::query_value(req.query_string(), "next");
    let next = safe_next(next.as_deref().unwrap_or("/")).to_owned();
    show(&req, &csrf, &next, "", None)
}

fn show(
    req: &HttpRequest,
    csrf: &str,
    next: &str,
    username: &str,
    message: Option<String>,
) -> HttpResponse {
    let mut response = html(
        actix_web::http::StatusCode::OK,
        LoginPage {
            layout: Layout::bare("Sign in"),
            csrf,
            next,
            username,
            message,
        }
        .render(),
    );
    let _ = response.add_cookie(&cookie(req, LOGIN_CSRF_COOKIE, csrf.to_owned()));
    response
}

pub async fn submit(
    req: HttpRequest,
    form: web::Form<LoginForm>,
    gate: web::Data<Gate>,
) -> HttpResponse {
    let expected = req.cookie(LOGIN_CSRF_COOKIE).map(|c| c.value().to_owned());
    if form.csrf.is_empty() || expected.as_deref() != Some(form.csrf.as_str()) {
        return HttpResponse::Forbidden()
            .content_type("text/plain; charset=utf-8")
            .body("the form's CSRF token is missing or wrong; reload the page");
    }
    let address = Gate::address(&req).unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let next = safe_next(&form.next).to_owned();
    match gate
        .auth
        .login(&form.username, &form.password, address)
        .await
    {
        Ok(crate::auth::Subject::User { name, .. }) => match gate.auth.start_session(&name).await {
            Ok(session) => {
                let mut response = HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, next))
                    .finish();
                let _ = response.add_cookie(&cookie(&req, SESSION_COOKIE, session.id));
                let mut gone = cookie(&req, LOGIN_CSRF_COOKIE, String::new());
                gone.make_removal();
                let _ = response.add_cookie(&gone);
                response
            }
            Err(e) => {
                tracing::error!(error = %e, "starting a session failed");
                HttpResponse::InternalServerError().finish()
            }
        },
        Ok(_) => {
            let csrf = crate::auth::random_token();
            show(
                &req,
                &csrf,
                &next,
                &form.username,
                Some("sign in with a user's password, not an access token".into()),
            )
        }
        Err(crate::auth::AuthError::Locked { for_secs }) => {
            let csrf = crate::auth::random_token();
            let mut response = show(
                &req,
                &csrf,
                &next,
                &form.username,
                Some(format!(
                    "Too many failed attempts. Try again in {for_secs} seconds."
                )),
            );
            *response.status_mut() = actix_web::http::StatusCode::TOO_MANY_REQUESTS;
            response
        }
        Err(_) => {
            let csrf = crate::auth::random_token();
            let mut response = show(
                &req,
                &csrf,
                &next,
                &form.username,
                Some("Wrong user name or password.".into()),
            );
            *response.status_mut() = actix_web::http::StatusCode::UNAUTHORIZED;
            response
        }
    }
}

pub async fn logout(
    req: HttpRequest,
    form: web::Form<CsrfForm>,
    gate: web::Data<Gate>,
) -> HttpResponse {
    let Some(id) = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
        return to_login("/");
    };
    match gate.auth.session(&id).await {
        Ok(Some(session)) if session.csrf == form.csrf => {
            let _ = gate.auth.end_session(&id).await;
        }
        Ok(Some(_)) => {
            return HttpResponse::Forbidden()
                .content_type("text/plain; charset=utf-8")
                .body("the form's CSRF token is missing or wrong");
        }
        _ => {}
    }
    let mut response = to_login("/");
    let mut gone = cookie(&req, SESSION_COOKIE, String::new());
    gone.make_removal();
    let _ = response.add_cookie(&gone);
    response
}
