//! Changing one's own password (any signed-in user): the current one, then the new one
//! twice. The current one is checked like a login (throttled and audited), so this form
//! is no way around the lockout.

use super::{form_error, off_page, own_name, record, tabs, Tab};
use crate::admin::forms;
use crate::admin::render::{redirect, render, render_status, Layout, PageResult};
use crate::admin::viewer::Viewer;
use crate::auth::{AuthError, Subject};
use crate::http::gate::Gate;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;
use std::net::IpAddr;

#[derive(Template)]
#[template(path = "access/password.html")]
struct PasswordPage {
    layout: Layout,
    tabs: Vec<Tab>,
    error: Option<String>,
}

fn page(viewer: &Viewer, error: Option<String>) -> PasswordPage {
    PasswordPage {
        layout: Layout::new(viewer, "Change your password"),
        tabs: tabs(viewer, "/access/password"),
        error,
    }
}

/// `GET /access/password`
pub async fn form(viewer: Viewer) -> PageResult {
    if let Some(off) = off_page(&viewer) {
        return Ok(off);
    }
    Ok(render(&viewer, &page(&viewer, None)))
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password2: String,
}

/// `POST /access/password`
pub async fn submit(
    viewer: Viewer,
    req: HttpRequest,
    gate: web::Data<Gate>,
    body: web::Bytes,
) -> PageResult {
    if let Some(off) = off_page(&viewer) {
        return Ok(off);
    }
    let form: PasswordForm = forms::parse(&body)?;
    viewer.check_csrf(&form.csrf)?;
    let again = |status: StatusCode, message: &str| {
        Ok(render_status(
            &viewer,
            status,
            &page(&viewer, Some(message.to_owned())),
        ))
    };
    let Some(me) = own_name(&viewer) else {
        return again(
            StatusCode::FORBIDDEN,
            "Only a user has a password to change.",
        );
    };
    if form.password != form.password2 {
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The two new passwords differ; type the same one twice.",
        );
    }
    let address = Gate::address(&req).unwrap_or(IpAddr::from([0, 0, 0, 0]));
    match gate.auth.login(me, &form.current, address).await {
        Ok(Subject::User { name, .. }) if name == me => {}
        Err(e @ AuthError::Locked { .. }) => {
            let (status, message) = form_error(&e);
            return again(status, &message);
        }
        _ => {
            return again(
                StatusCode::UNPROCESSABLE_ENTITY,
                "The current password is wrong.",
            )
        }
    }
    if let Err(e) = gate.auth.set_password(me, &form.password).await {
        let (status, message) = form_error(&e);
        return again(status, &message);
    }
    record(&gate, &req, &viewer, "user.passwd", me).await;
    let mut response = redirect(
        "/access/password",
        "Changed your password. Sign in to Docker clients with the new one.",
    );
    // The change ended every session of this user, this one too (a stolen cookie must not
    // outlive the password); the person who made it stays signed in with a new one.
    let session = gate.auth.start_session(me).await?;
    let _ = response.add_cookie(&crate::admin::login::cookie(
        &req,
        crate::http::gate::SESSION_COOKIE,
        session.id,
    ));
    Ok(response)
}
