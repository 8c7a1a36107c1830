//! Access tokens: every signed-in user sees and manages their own, admins everyone's (with
//! an owner column, and may make one for another user). A new token's secret is shown on
//! the page that answers the form, once, with how to use it; lists never show it again.
//! Revoking goes through a confirmation page.

use super::rules::{actions_text, repos_text};
use super::{form_error, off_page, own_name, record, tabs, Tab, Time};
use crate::admin::format;
use crate::admin::forms;
use crate::admin::render::{
    redirect, render, render_status, Confirm, ConsoleError, Layout, PageResult,
};
use crate::admin::settings::ConsoleInfo;
use crate::admin::viewer::Viewer;
use crate::auth::rules::{Action, RepoGlob, Scope};
use crate::auth::TokenView;
use crate::http::gate::Gate;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;
use std::time::Duration;

/// The expiries the form offers (value, label); `never` has none.
const EXPIRIES: &[(&str, &str)] = &[
    ("1d", "in a day"),
    ("7d", "in a week"),
    ("30d", "in 30 days"),
    ("90d", "in 90 days"),
    ("365d", "in a year"),
    ("never", "never"),
];

pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub scopes: Vec<String>,
    pub created: Time,
    pub last_used: Option<Time>,
    pub expires: Option<Time>,
    /// `active`, `expired` or `revoked`.
    pub status: &'static str,
    pub revoke_href: Option<String>,
}

fn scope_text(s: &Scope) -> String {
    format!(
        "{} on {}",
        actions_text(s.actions.iter().copied()),
        repos_text(&s.repos)
    )
}

fn revoke_href(id: &str) -> String {
    format!("/access/tokens/{}/revoke", format::percent_encode(id))
}

fn status(t: &TokenView, now: u64) -> &'static str {
    if t.revoked {
        "revoked"
    } else if t.expires_at.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "active"
    }
}

/// The table's rows: live tokens first, newest first within each kind.
fn rows(mut tokens: Vec<TokenView>, now: u64) -> Vec<TokenRow> {
    tokens.sort_by_key(|t| (status(t, now) != "active", std::cmp::Reverse(t.created_at)));
    tokens
        .into_iter()
        .map(|t| {
            let status = status(&t, now);
            TokenRow {
                revoke_href: (status == "active").then(|| revoke_href(&t.id)),
                scopes: t.scopes.iter().map(scope_text).collect(),
                created: Time::at(t.created_at, now),
                last_used: t.last_used.map(|at| Time::at(at, now)),
                expires: t.expires_at.map(|at| Time::at(at, now)),
                status,
                id: t.id,
                name: t.name,
                owner: t.owner,
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "access/tokens.html")]
struct TokensPage {
    layout: Layout,
    tabs: Vec<Tab>,
    rows: Vec<TokenRow>,
    show_owner: bool,
}

/// The tokens `viewer` may see: an admin's are everyone's.
async fn visible(viewer: &Viewer, gate: &Gate) -> Result<Vec<TokenView>, ConsoleError> {
    let owner = if viewer.is_admin() {
        None
    } else {
        Some(own_name(viewer).unwrap_or_default())
    };
    Ok(gate.auth.tokens(owner).await?)
}

/// `GET /access/tokens`
pub async fn list(viewer: Viewer, gate: web::Data<Gate>) -> PageResult {
    if let Some(off) = off_page(&viewer) {
        return Ok(off);
    }
    let page = TokensPage {
        layout: Layout::new(&viewer, "Access tokens"),
        tabs: tabs(&viewer, "/access/tokens"),
        rows: rows(visible(&viewer, &gate).await?, format::now()),
        show_owner: viewer.is_admin(),
    };
    Ok(render(&viewer, &page))
}

#[derive(Debug, Clone)]
struct TokenValues {
    name: String,
    repos: String,
    actions: Vec<String>,
    expires: String,
    owner: String,
}

struct Choice {
    value: String,
    label: String,
    selected: bool,
}

struct ActionBox {
    value: &'static str,
    checked: bool,
}

#[derive(Template)]
#[template(path = "access/token_new.html")]
struct NewTokenPage {
    layout: Layout,
    tabs: Vec<Tab>,
    values: TokenValues,
    actions: Vec<ActionBox>,
    expiries: Vec<Choice>,
    /// Users an admin may make the token for (empty for others).
    owners: Vec<Choice>,
    error: Option<String>,
}

async fn new_token_page(
    viewer: &Viewer,
    gate: &Gate,
    values: TokenValues,
    error: Option<String>,
) -> Result<NewTokenPage, ConsoleError> {
    let owners = if viewer.is_admin() {
        let mut names: Vec<String> = gate
            .auth
            .users()
            .await?
            .into_iter()
            .map(|u| u.name)
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|n| Choice {
                selected: n == values.owner,
                label: n.clone(),
                value: n,
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(NewTokenPage {
        layout: Layout::new(viewer, "New access token"),
        tabs: tabs(viewer, "/access/tokens"),
        actions: Action::ALL
            .iter()
            .map(|a| ActionBox {
                value: a.as_str(),
                checked: values.actions.iter().any(|v| v == a.as_str()),
            })
            .collect(),
        expiries: EXPIRIES
            .iter()
            .map(|&(v, l)| Choice {
                value: v.into(),
                label: l.into(),
                selected: v == values.expires,
            })
            .collect(),
        owners,
        values,
        error,
    })
}

/// `GET /access/tokens/new`
pub async fn new_form(viewer: Viewer, gate: web::Data<Gate>) -> PageResult {
    if let Some(off) = off_page(&viewer) {
        return Ok(off);
    }
    let values = TokenValues {
        name: String::new(),
        repos: String::new(),
        actions: vec!["pull".into()],
        expires: "90d".into(),
        owner: viewer.name(),
    };
    let page = new_token_page(&viewer, &gate, values, None).await?;
    Ok(render(&viewer, &page))
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    repos: String,
    #[serde(default)]
    expires: String,
    #[serde(default)]
    owner: String,
}

/// The scope and expiry a form describes, or what is wrong with it.
fn parse_token(values: &TokenValues) -> Result<(Scope, Option<Duration>), String> {
    let repos = forms::lines(&values.repos)
        .iter()
        .map(|p| RepoGlob::parse(p))
        .collect::<Result<Vec<_>, _>>()?;
    if repos.is_empty() {
        return Err("Give at least one repository pattern (** for all).".into());
    }
    let actions = values
        .actions
        .iter()
        .map(|a| Action::parse(a).ok_or_else(|| format!("{a:?} is not an action")))
        .collect::<Result<std::collections::BTreeSet<_>, _>>()?;
    if actions.is_empty() {
        return Err("Tick at least one action.".into());
    }
    let expires = match values.expires.as_str() {
        "never" => None,
        text => Some(crate::sync::rules::parse_duration(text)?),
    };
    Ok((Scope { repos, actions }, expires))
}

#[derive(Template)]
#[template(path = "access/token_created.html")]
struct TokenCreatedPage {
    layout: Layout,
    tabs: Vec<Tab>,
    name: String,
    id: String,
    owner: String,
    scope: String,
    expires: Option<Time>,
    secret: String,
    login: String,
    login_stdin: String,
}

/// The form again, with what was wrong.
async fn refused(
    viewer: &Viewer,
    gate: &Gate,
    values: TokenValues,
    status: StatusCode,
    message: String,
) -> PageResult {
    let page = new_token_page(viewer, gate, values, Some(message)).await?;
    Ok(render_status(viewer, status, &page))
}

/// The host `docker login` should name: the public URL's, else the one the browser used.
fn registry_host(req: &HttpRequest) -> String {
    let public = req
        .app_data::<web::Data<ConsoleInfo>>()
        .and_then(|info| info.public_url.clone());
    match public {
        Some(url) => {
            let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
            rest.split('/').next().unwrap_or(rest).to_owned()
        }
        None => req.connection_info().host().to_owned(),
    }
}

/// `POST /access/tokens`: make one and show its secret, this once.
pub async fn create(
    viewer: Viewer,
    req: HttpRequest,
    gate: web::Data<Gate>,
    body: web::Bytes,
) -> PageResult {
    if let Some(off) = off_page(&viewer) {
        return Ok(off);
    }
    let form: TokenForm = forms::parse(&body)?;
    viewer.check_csrf(&form.csrf)?;
    let me = own_name(&viewer).unwrap_or_default().to_owned();
    let values = TokenValues {
        name: form.name.trim().to_owned(),
        repos: form.repos,
        actions: forms::all_values(&body, "actions"),
        expires: form.expires,
        owner: if viewer.is_admin() && !form.owner.is_empty() {
            form.owner
        } else {
            me
        },
    };
    let (scope, expires) = match parse_token(&values) {
        Ok(parsed) => parsed,
        Err(message) => {
            return refused(
                &viewer,
                &gate,
                values,
                StatusCode::UNPROCESSABLE_ENTITY,
                message,
            )
            .await;
        }
    };
    let scope_label = scope_text(&scope);
    let (token, secret) = match gate
        .auth
        .create_token(&values.owner, &values.name, vec![scope], expires)
        .await
    {
        Ok(made) => made,
        Err(e) => {
            let (status, message) = form_error(&e);
            return refused(&viewer, &gate, values, status, message).await;
        }
    };
    record(
        &gate,
        &req,
        &viewer,
        "token.create",
        &format!("{} ({})", token.name, token.id),
    )
    .await;
    let host = registry_host(&req);
    let page = TokenCreatedPage {
        layout: Layout::new(&viewer, "Access token created"),
        tabs: tabs(&viewer, "/access/tokens"),
        login: format!("docker login {host} -u {}", token.owner),
        login_stdin: format!(
            "echo \"$HOIST_TOKEN\" | docker login {host} -u {} --password-stdin",
            token.owner
        ),
        expires: token.expires_at.map(|at| Time::at(at, format::now())),
        scope: scope_label,
        name: token.name,
        id: token.id,
        owner: token.owner,
        secret,
    };
    Ok(render(&viewer, &page))
}

/// The token `id`, if `viewer` may see it (others' look missing to non-admins).
async fn find_token(viewer: &Viewer, gate: &Gate, id: &str) -> Result<TokenView, ConsoleError> {
    visible(viewer, gate)
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| ConsoleError::NotFound(format!("There is no access token {id:?} of yours.")))
}

/// `GET /access/tokens/<id>/revoke`
pub async fn confirm_revoke(
    viewer: Viewer,
    gate: web::Data<Gate>,
    id: web::Path<String>,
) -> PageResult {
    if let Some(off) = off_page(&viewer) {
        return Ok(off);
    }
    let token = find_token(&viewer, &gate, &id).await?;
    if token.revoked {
        return Err(ConsoleError::Conflict(format!(
            "The access token {} is already revoked.",
            token.name
        )));
    }
    let page = Confirm {
        layout: Layout::new(&viewer, "Revoke access token"),
        question: format!(
            "Revoke the access token {} ({}) of {}?",
            token.name, token.id, token.owner
        ),
        consequences: vec![
            "Every client using it is refused from now on, bearer tokens issued for it included."
                .into(),
            "It stays in the list as revoked; its name can be used for a new token.".into(),
        ],
        action: revoke_href(&token.id),
        button: "Revoke token".into(),
        cancel: "/access/tokens".into(),
        hidden: Vec::new(),
    };
    Ok(render(&viewer, &page))
}

/// `POST /access/tokens/<id>/revoke`
pub async fn revoke(
    viewer: Viewer,
    req: HttpRequest,
    gate: web::Data<Gate>,
    id: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    if let Some(off) = off_page(&viewer) {
        return Ok(off);
    }
    viewer.check_posted(&body)?;
    let token = find_token(&viewer, &gate, &id).await?;
    gate.auth.revoke_token(&token.id).await?;
    record(
        &gate,
        &req,
        &viewer,
        "token.revoke",
        &format!("{} ({})", token.name, token.id),
    )
    .await;
    Ok(redirect(
        "/access/tokens",
        &format!("Revoked the access token {}.", token.name),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(id: &str, created_at: u64, revoked: bool, expires_at: Option<u64>) -> TokenView {
        TokenView {
            id: id.into(),
            name: format!("t{id}"),
            owner: "bob".into(),
            scopes: vec![Scope {
                repos: vec![RepoGlob::parse("team/*").expect("glob")],
                actions: [Action::Pull, Action::Push].into(),
            }],
            created_at,
            expires_at,
            last_used: None,
            revoked,
        }
    }

    #[test]
    fn live_tokens_come_first_and_only_they_can_be_revoked() {
        let rows = rows(
            vec![
                token("a", 10, true, None),
                token("b", 20, false, Some(50)),
                token("c", 30, false, None),
                token("d", 40, false, Some(500)),
            ],
            100,
        );
        let order: Vec<(&str, &str)> = rows.iter().map(|r| (r.id.as_str(), r.status)).collect();
        assert_eq!(
            order,
            [
                ("d", "active"),
                ("c", "active"),
                ("b", "expired"),
                ("a", "revoked")
            ]
        );
        assert_eq!(
            rows[0].revoke_href.as_deref(),
            Some("/access/tokens/d/revoke")
        );
        assert!(rows[2].revoke_href.is_none());
        assert_eq!(rows[0].scopes, ["pull, push on team/*"]);
    }

    #[test]
    fn forms_make_scopes_and_expiries() {
        let values = |repos: &str, actions: &[&str], expires: &str| TokenValues {
            name: "ci".into(),
            repos: repos.into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
            expires: expires.into(),
            owner: "bob".into(),
        };
        let (scope, expires) = parse_token(&values("team/*, b", &["pull"], "7d")).expect("ok");
        assert_eq!(scope.repos.len(), 2);
        assert_eq!(expires, Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(
            parse_token(&values("**", &["push"], "never"))
                .expect("ok")
                .1,
            None
        );
        assert!(parse_token(&values("", &["pull"], "7d")).is_err());
        assert!(parse_token(&values("a", &[], "7d")).is_err());
        assert!(parse_token(&values("a", &["pull"], "soon")).is_err());
    }
}
