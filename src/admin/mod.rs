//! The console edge: server-rendered pages (askama templates in `templates/`), hoist's own
//! stylesheet in `static/`, embedded in the binary. Beside `http`, it asks `auth` through
//! the same gate and calls the same domain; it never touches the store. Every page carries
//! a Content-Security-Policy that allows no inline script.

mod login;
mod pages;

use actix_web::http::header;
use actix_web::{web, HttpResponse};

/// The stylesheet, embedded at build time.
const CSS: &str = include_str!("../../static/hoist.css");

/// No inline script, no third party, no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

/// The console's routes (path, method); the endpoint table lists each.
pub const ROUTES: &[(&str, &str)] = &[
    ("/login", "GET"),
    ("/login", "POST"),
    ("/logout", "POST"),
    ("/static/hoist.css", "GET"),
    ("/", "GET"),
];

/// Mount the console on an actix app (it needs `web::Data<Gate>`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    for (path, method) in ROUTES {
        let route = match (*path, *method) {
            ("/login", "GET") => web::get().to(login::form),
            ("/login", _) => web::post().to(login::submit),
            ("/logout", _) => web::post().to(login::logout),
            ("/static/hoist.css", _) => web::get().to(css),
            _ => web::get().to(pages::home),
        };
        cfg.route(path, route);
    }
}

async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "max-age=3600"))
        .body(CSS)
}

/// A rendered page with the console's headers.
fn page(html: Result<String, askama::Error>) -> HttpResponse {
    match html {
        Ok(body) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((header::REFERRER_POLICY, "same-origin"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// To the login page, coming back to `next` afterwards.
fn to_login(next: &str) -> HttpResponse {
    let next = if next.starts_with('/') && !next.starts_with("//") {
        next
    } else {
        "/"
    };
    HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            format!("/login?next={}", form_urlencoded_component(next)),
        ))
        .finish()
}

/// Percent-encode a query component.
fn form_urlencoded_component(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
