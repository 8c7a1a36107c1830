//! The access pages: users, groups, access tokens, permission rules, the audit log and
//! one's own password, over `auth`. Users, groups, rules and the audit log are for admins;
//! every signed-in user manages their own tokens and password. With access control off
//! each page says so and how to turn it on, instead of forms that could not work.

mod audit;
mod groups;
mod password;
mod rules;
mod tokens;
mod users;

use super::format;
use super::render::{render, Layout};
use super::viewer::Viewer;
use crate::auth::AuthError;
use crate::http::gate::Gate;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

// `new` before `{name}`: a user called `new` is edited through the API.
routes! {
    GET "/access" ["/access"] Console => users::list;
    GET "/access/users/new" ["/access/users/new"] Console => users::new_form;
    POST "/access/users" ["/access/users"] Console => users::create;
    GET "/access/users/{name}" ["/access/users/bob"] Console => users::edit_form;
    POST "/access/users/{name}" ["/access/users/bob"] Console => users::update;
    GET "/access/users/{name}/delete" ["/access/users/bob/delete"] Console => users::confirm_delete;
    POST "/access/users/{name}/delete" ["/access/users/bob/delete"] Console => users::delete;
    GET "/access/groups" ["/access/groups"] Console => groups::page;
    GET "/access/tokens" ["/access/tokens"] Console => tokens::list;
    POST "/access/tokens" ["/access/tokens"] Console => tokens::create;
    GET "/access/tokens/new" ["/access/tokens/new"] Console => tokens::new_form;
    GET "/access/tokens/{id}/revoke" ["/access/tokens/0123456789abcdef/revoke"] Console => tokens::confirm_revoke;
    POST "/access/tokens/{id}/revoke" ["/access/tokens/0123456789abcdef/revoke"] Console => tokens::revoke;
    GET "/access/rules" ["/access/rules"] Console => rules::list;
    POST "/access/rules" ["/access/rules"] Console => rules::create;
    GET "/access/rules/new" ["/access/rules/new"] Console => rules::new_form;
    GET "/access/rules/{id}/delete" ["/access/rules/abc/delete"] Console => rules::confirm_delete;
    POST "/access/rules/{id}/delete" ["/access/rules/abc/delete"] Console => rules::delete;
    GET "/access/audit" ["/access/audit"] Console => audit::page;
    GET "/access/password" ["/access/password"] Console => password::form;
    POST "/access/password" ["/access/password"] Console => password::submit;
}

/// One link of the access pages' own navigation.
#[derive(Debug, Clone)]
pub struct Tab {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// The access pages a viewer may use, `current` marked.
pub(crate) fn tabs(viewer: &Viewer, current: &str) -> Vec<Tab> {
    const ALL: &[(&str, &str, bool)] = &[
        ("/access", "Users", true),
        ("/access/groups", "Groups", true),
        ("/access/tokens", "Access tokens", false),
        ("/access/rules", "Rules", true),
        ("/access/audit", "Audit log", true),
        ("/access/password", "Password", false),
    ];
    ALL.iter()
        .filter(|(_, _, admin_only)| !admin_only || viewer.is_admin())
        .map(|&(href, label, _)| Tab {
            href,
            label,
            current: href == current,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "access/off.html")]
struct Off {
    layout: Layout,
}

/// With access control off: the page saying so (every access page, whatever the method).
pub(crate) fn off_page(viewer: &Viewer) -> Option<HttpResponse> {
    if viewer.auth_enabled {
        return None;
    }
    Some(render(
        viewer,
        &Off {
            layout: Layout::new(viewer, "Access control is off"),
        },
    ))
}

/// A time as pages show it (the `ago` macro of `templates/time.html`):
/// `<time datetime=iso title=when>ago</time>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Time {
    pub iso: String,
    pub when: String,
    pub ago: String,
}

impl Time {
    /// `unix` seconds, told relative to `now` ("3 days ago", or "in 3 days" ahead).
    pub fn at(unix: u64, now: u64) -> Time {
        let ago = if unix > now + 59 {
            format!("in {}", format::ago(now, unix).trim_end_matches(" ago"))
        } else {
            format::ago(unix, now)
        };
        Time {
            iso: format::iso(unix),
            when: format::when(unix),
            ago,
        }
    }
}

/// The status a form re-rendered after `e` gets, and the message it shows.
pub(crate) fn form_error(e: &AuthError) -> (StatusCode, String) {
    let status = match e {
        AuthError::Conflict(_) => StatusCode::CONFLICT,
        AuthError::NotFound(_) => StatusCode::NOT_FOUND,
        AuthError::Locked { .. } => StatusCode::TOO_MANY_REQUESTS,
        AuthError::Forbidden(_) => StatusCode::FORBIDDEN,
        AuthError::Unauthorized(_) | AuthError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        AuthError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let message = match e {
        // The store's words are for the log, not the page.
        AuthError::Store(inner) => {
            tracing::error!(error = %inner, "an access-control change failed");
            "The change could not be saved; the server log has the details.".to_owned()
        }
        other => sentence(&other.to_string()),
    };
    (status, message)
}

/// `the last admin …` -> `The last admin ….`
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// Record a change made through the console, as the API records its own.
pub(crate) async fn record(
    gate: &Gate,
    req: &HttpRequest,
    viewer: &Viewer,
    action: &str,
    target: &str,
) {
    gate.auth
        .audit(&viewer.name(), Gate::address(req), action, target, "ok", "")
        .await;
}

/// The signed-in user's own name (the console has no other kind of viewer with access
/// control on).
pub(crate) fn own_name(viewer: &Viewer) -> Option<&str> {
    match &viewer.subject {
        crate::auth::Subject::User { name, .. } => Some(name),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Subject;

    fn viewer(admin: bool) -> Viewer {
        Viewer {
            subject: Subject::User {
                name: "amy".into(),
                groups: vec![],
                admin,
            },
            csrf: "x".into(),
            auth_enabled: true,
            flash: None,
            path: "/access/tokens".into(),
        }
    }

    #[test]
    fn non_admins_see_only_their_tokens_and_password() {
        let labels = |admin| -> Vec<&str> {
            tabs(&viewer(admin), "/access/tokens")
                .iter()
                .map(|t| t.label)
                .collect()
        };
        assert_eq!(labels(false), ["Access tokens", "Password"]);
        assert_eq!(labels(true).len(), 6);
        let t = tabs(&viewer(true), "/access/tokens");
        assert!(t
            .iter()
            .filter(|t| t.current)
            .all(|t| t.href == "/access/tokens"));
    }

    #[test]
    fn times_read_both_ways_and_errors_read_as_sentences() {
        assert_eq!(Time::at(0, 7200).ago, "2 hours ago");
        assert_eq!(Time::at(3 * 86_400, 0).ago, "in 3 days");
        assert_eq!(Time::at(10, 0).ago, "just now");
        assert_eq!(Time::at(0, 0).iso, "1970-01-01T00:00:00Z");
        let (status, message) = form_error(&AuthError::Conflict(
            "the last admin cannot be removed".into(),
        ));
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(message, "The last admin cannot be removed.");
        assert_eq!(form_error(&AuthError::Invalid("x?".into())).1, "X?");
    }
}
