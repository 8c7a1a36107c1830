//! Turning pages into responses: the layout every page shares (navigation, the signed-in
//! user, the one-time message), the console's headers, error pages, the confirmation page
//! every delete goes through, and redirects after a form that leave a message behind.

use super::viewer::{Viewer, FLASH_COOKIE};
use super::CSP;
use crate::http::ApiError;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

/// One link of the main navigation.
#[derive(Debug, Clone)]
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// What `templates/base.html` needs: every page template has a `layout` field.
#[derive(Debug, Clone)]
pub struct Layout {
    pub title: String,
    pub user: String,
    pub admin: bool,
    pub csrf: String,
    pub auth_enabled: bool,
    pub flash: Option<String>,
    pub nav: Vec<NavItem>,
    /// The stylesheet's and script's URLs, with their versions.
    pub css_href: String,
    pub js_href: String,
}

/// The sections, with the path prefix that marks each as current. Non-admins see only
/// what they may use.
const SECTIONS: &[(&str, &str, bool)] = &[
    ("/", "Dashboard", false),
    ("/repositories", "Repositories", false),
    ("/mirrors", "Mirrors", true),
    ("/access", "Access", false),
    ("/settings", "Settings", true),
];

impl Layout {
    pub fn new(viewer: &Viewer, title: impl Into<String>) -> Layout {
        let nav = SECTIONS
            .iter()
            .filter(|(_, _, admin_only)| !admin_only || viewer.is_admin())
            .filter(|(href, _, _)| *href != "/access" || viewer.auth_enabled)
            .map(|(href, label, _)| NavItem {
                href,
                label,
                current: if *href == "/" {
                    viewer.path == "/"
                } else {
                    viewer.path == *href || viewer.path.starts_with(&format!("{href}/"))
                },
            })
            .collect();
        Layout {
            title: title.into(),
            user: viewer.name(),
            admin: viewer.is_admin(),
            csrf: viewer.csrf.clone(),
            auth_enabled: viewer.auth_enabled,
            flash: viewer.flash.clone(),
            nav,
            ..Layout::bare("")
        }
    }

    /// A page for nobody in particular (errors, signing in): no navigation, no user.
    pub fn bare(title: impl Into<String>) -> Layout {
        Layout {
            title: title.into(),
            user: String::new(),
            admin: false,
            csrf: String::new(),
            auth_enabled: false,
            flash: None,
            nav: Vec::new(),
            css_href: format!("/static/hoist.css?v={}", super::assets::css().version),
            js_href: format!("/static/hoist.js?v={}", super::assets::js().version),
        }
    }
}

/// A rendered page with the console's headers; a message shown on it is cleared.
pub fn render(viewer: &Viewer, page: &impl Template) -> HttpResponse {
    render_status(viewer, StatusCode::OK, page)
}

pub fn render_status(viewer: &Viewer, status: StatusCode, page: &impl Template) -> HttpResponse {
    let mut response = html(status, page.render());
    if viewer.flash.is_some() {
        let mut gone = flash_cookie(String::new());
        gone.make_removal();
        let _ = response.add_cookie(&gone);
    }
    response
}

/// An HTML response with the headers every console page carries.
pub fn html(status: StatusCode, body: Result<String, askama::Error>) -> HttpResponse {
    match body {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((header::REFERRER_POLICY, "same-origin"))
            .insert_header((header::X_FRAME_OPTIONS, "DENY"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("rendering this page failed; the server log has the details")
        }
    }
}

/// After a form: to `to` (a path of ours), with `message` shown once there.
pub fn redirect(to: &str, message: &str) -> HttpResponse {
    let to = if to.starts_with('/') && !to.starts_with("//") {
        to
    } else {
        "/"
    };
    let mut response = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish();
    if !message.is_empty() {
        let _ = response.add_cookie(&flash_cookie(super::format::percent_encode(message)));
    }
    response
}

fn flash_cookie(value: String) -> Cookie<'static> {
    Cookie::build(FLASH_COOKIE, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .finish()
}

/// The page every delete goes through: what goes, what that means, a button that posts
/// to `action` with the viewer's CSRF token, and a way back. Works without JavaScript.
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct Confirm {
    pub layout: Layout,
    /// "Delete the tag latest of team/app?"
    pub question: String,
    /// What happens, in a sentence or two.
    pub consequences: Vec<String>,
    /// Where the form posts.
    pub action: String,
    /// The button's label ("Delete tag").
    pub button: String,
    /// Where "Cancel" goes.
    pub cancel: String,
    /// Extra hidden form fields (name, value).
    pub hidden: Vec<(String, String)>,
}

/// An error page: what went wrong, in words, with the right status.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    /// A form that cannot be used as it is (shown with the form, where a page can).
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    /// What the domain said, with the status the API would give it.
    #[error("{}", .0.status_and_message().1)]
    Api(ApiError),
}

impl From<ApiError> for ConsoleError {
    fn from(e: ApiError) -> Self {
        ConsoleError::Api(e)
    }
}

impl From<crate::registry::RegistryError> for ConsoleError {
    fn from(e: crate::registry::RegistryError) -> Self {
        ConsoleError::Api(e.into())
    }
}

impl From<crate::sync::SyncError> for ConsoleError {
    fn from(e: crate::sync::SyncError) -> Self {
        ConsoleError::Api(e.into())
    }
}

impl From<crate::auth::AuthError> for ConsoleError {
    fn from(e: crate::auth::AuthError) -> Self {
        ConsoleError::Api(e.into())
    }
}

impl From<crate::oci::NameError> for ConsoleError {
    fn from(e: crate::oci::NameError) -> Self {
        ConsoleError::BadRequest(e.to_string())
    }
}

impl ConsoleError {
    fn status_and_message(&self) -> (StatusCode, String) {
        match self {
            ConsoleError::NotFound(m) => (StatusCode::NOT_FOUND, m.clone()),
            ConsoleError::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
            ConsoleError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
            ConsoleError::Conflict(m) => (StatusCode::CONFLICT, m.clone()),
            ConsoleError::Api(e) => e.status_and_message(),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    status: u16,
    reason: String,
    message: String,
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        self.status_and_message().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, message) = self.status_and_message();
        // Without the viewer at hand: the page offers the way home and nothing that needs
        // to know who is signed in.
        let layout = Layout::bare(status.canonical_reason().unwrap_or("Error"));
        html(
            status,
            ErrorPage {
                layout,
                status: status.as_u16(),
                reason: status.canonical_reason().unwrap_or("Error").to_owned(),
                message,
            }
            .render(),
        )
    }
}

/// What a console handler returns.
pub type PageResult = Result<HttpResponse, ConsoleError>;
