//! The console edge: server-rendered pages (askama templates in `templates/`), hoist's own
//! stylesheet and script in `static/`, embedded in the binary. Beside `http`, it asks
//! `auth` through the same gate and calls the same domain (`registry`, `sync`, `auth`); it
//! never touches the store. Every page works without JavaScript and carries a
//! Content-Security-Policy that allows no inline script or style.
//!
//! Each group of pages is a module with its routes (`configure`) and their entries in the
//! endpoint table (`ENDPOINTS`); [`endpoints`] lists them all for the route-walk test.

/// A group of pages' routes. Each line both registers a handler and enters the endpoint
/// table with real example paths, so no console route exists outside the table the
/// route-walk test reads; a unit test checks each example reaches its own line.
macro_rules! routes {
    ($($method:ident $pattern:literal [$($example:expr),+ $(,)?] $access:ident => $handler:path;)*) => {
        pub(super) const ROUTES: &[$crate::admin::Route] = &[$($crate::admin::Route {
            method: stringify!($method),
            pattern: $pattern,
            examples: &[$($example),+],
            access: $crate::http::endpoints::Access::$access,
        }),*];

        pub(super) fn configure(cfg: &mut actix_web::web::ServiceConfig) {
            $(cfg.route($pattern, routes!(@method $method).to($handler));)*
        }
    };
    (@method GET) => { actix_web::web::get() };
    (@method POST) => { actix_web::web::post() };
}

mod access;
mod assets;
mod dashboard;
mod format;
mod forms;
mod login;
mod mirrors;
mod render;
mod repos;
mod settings;
mod svg;
mod viewer;

use crate::http::endpoints::{Access, Endpoint};
use actix_web::{web, HttpRequest, HttpResponse};

pub use render::{ConsoleError, Layout};
pub use settings::ConsoleInfo;
pub use viewer::{AdminViewer, Viewer};

/// No inline script, no inline style, no third party, no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'; object-src 'none'";

/// A console route: its actix pattern, method, access class and example paths.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub pattern: &'static str,
    pub examples: &'static [&'static str],
    pub access: Access,
}

/// The console's own routes: signing in and out, the static files.
mod own {
    use super::{css, favicon, js, login};
    routes! {
        GET "/login" ["/login"] Open => login::form;
        POST "/login" ["/login"] Open => login::submit;
        POST "/logout" ["/logout"] Open => login::logout;
        GET "/static/hoist.css" ["/static/hoist.css"] Open => css;
        GET "/static/hoist.js" ["/static/hoist.js"] Open => js;
        GET "/static/favicon.svg" ["/static/favicon.svg"] Open => favicon;
    }
}

/// A group's routes and the function that registers them.
type Group = (&'static [Route], fn(&mut web::ServiceConfig));

/// Every group's routes, in the order they are registered (which decides between
/// patterns that both match, like `/access/users/new` and `/access/users/{name}`).
fn groups() -> [Group; 6] {
    [
        (own::ROUTES, own::configure),
        (dashboard::ROUTES, dashboard::configure),
        (repos::ROUTES, repos::configure),
        (mirrors::ROUTES, mirrors::configure),
        (access::ROUTES, access::configure),
        (settings::ROUTES, settings::configure),
    ]
}

/// Every console endpoint: each route's example paths with its method.
pub fn endpoints() -> Vec<Endpoint> {
    groups()
        .iter()
        .flat_map(|(routes, _)| routes.iter())
        .flat_map(|r| {
            r.examples.iter().map(move |path| Endpoint {
                path,
                methods: std::slice::from_ref(&r.method),
                access: r.access,
            })
        })
        .collect()
}

/// Mount the console on an actix app (it needs the `Gate`, `Registry` and `Syncer` data).
pub fn configure(cfg: &mut web::ServiceConfig) {
    for (_, configure) in groups() {
        configure(cfg);
    }
}

async fn css(req: HttpRequest) -> HttpResponse {
    assets::serve(&req, assets::css())
}

async fn js(req: HttpRequest) -> HttpResponse {
    assets::serve(&req, assets::js())
}

async fn favicon(req: HttpRequest) -> HttpResponse {
    assets::serve(&req, assets::favicon())
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
            actix_web::http::header::LOCATION,
            format!("/login?next={}", format::percent_encode_path(next)),
        ))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::dev::ResourceDef;

    #[test]
    fn every_example_reaches_its_own_route() {
        let all: Vec<Route> = groups()
            .iter()
            .flat_map(|(routes, _)| routes.iter().copied())
            .collect();
        for (i, route) in all.iter().enumerate() {
            assert!(
                route.examples.iter().all(|e| e.starts_with('/')),
                "{route:?}"
            );
            for example in route.examples {
                // The first route of the method whose pattern matches is the one that answers.
                let first = all
                    .iter()
                    .position(|r| {
                        r.method == route.method && ResourceDef::new(r.pattern).is_match(example)
                    })
                    .expect("some route matches");
                assert_eq!(
                    first, i,
                    "{} {example} is answered by {:?}, not by {:?}",
                    route.method, all[first].pattern, route.pattern
                );
            }
        }
    }
}
