//! Users (admins only): the list with groups, admin flag, creation, last sign-in and
//! token count; creating one (a password given twice, or one generated and shown once);
//! changing groups, the admin flag or the password; deleting one through a confirmation
//! page. `auth` refuses to leave no admin at all; its message is shown.

use super::{form_error, off_page, record, tabs, Tab, Time};
use crate::admin::format;
use crate::admin::forms;
use crate::admin::render::{
    redirect, render, render_status, Confirm, ConsoleError, Layout, PageResult,
};
use crate::admin::viewer::{AdminViewer, Viewer};
use crate::auth::rules::Who;
use crate::auth::{TokenView, UserView};
use crate::http::gate::Gate;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;
use std::collections::HashMap;

/// Audit entries looked through for each user's last sign-in.
const LOGIN_SCAN: usize = 20_000;

pub struct UserRow {
    pub name: String,
    pub href: String,
    pub delete_href: String,
    pub groups: Vec<(String, String)>,
    pub admin: bool,
    pub created: Time,
    pub last_login: Option<Time>,
    pub tokens: usize,
    pub me: bool,
}

#[derive(Template)]
#[template(path = "access/users.html")]
struct UsersPage {
    layout: Layout,
    tabs: Vec<Tab>,
    users: Vec<UserRow>,
}

fn user_href(name: &str) -> String {
    format!("/access/users/{}", format::percent_encode(name))
}

/// The link to a group on the groups page.
pub(super) fn group_anchor(name: &str) -> String {
    format!("g-{}", format::percent_encode(name))
}

fn active(t: &TokenView, now: u64) -> bool {
    !t.revoked && t.expires_at.is_none_or(|e| e > now)
}

/// The rows of the users table, sorted by name.
fn rows(
    users: Vec<UserView>,
    tokens: &[TokenView],
    logins: &HashMap<String, u64>,
    me: &str,
    now: u64,
) -> Vec<UserRow> {
    let mut rows: Vec<UserRow> = users
        .into_iter()
        .map(|u| UserRow {
            href: user_href(&u.name),
            delete_href: format!("{}/delete", user_href(&u.name)),
            groups: u
                .groups
                .iter()
                .map(|g| (g.clone(), format!("/access/groups#{}", group_anchor(g))))
                .collect(),
            admin: u.admin,
            created: Time::at(u.created_at, now),
            last_login: logins.get(&u.name).map(|at| Time::at(*at, now)),
            tokens: tokens
                .iter()
                .filter(|t| t.owner == u.name && active(t, now))
                .count(),
            me: u.name == me,
            name: u.name,
        })
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    rows
}

/// `GET /access`: the users, for admins; others go to their tokens.
pub async fn list(viewer: Viewer, gate: web::Data<Gate>) -> PageResult {
    if let Some(off) = off_page(&viewer) {
        return Ok(off);
    }
    if !viewer.is_admin() {
        return Ok(redirect("/access/tokens", ""));
    }
    let users = gate.auth.users().await?;
    let tokens = gate.auth.tokens(None).await?;
    let logins = gate.auth.last_logins(LOGIN_SCAN).await?;
    let page = UsersPage {
        layout: Layout::new(&viewer, "Users"),
        tabs: tabs(&viewer, "/access"),
        users: rows(users, &tokens, &logins, &viewer.name(), format::now()),
    };
    Ok(render(&viewer, &page))
}

/// What the new-user form holds (never the passwords).
#[derive(Debug, Default)]
struct NewUserValues {
    name: String,
    groups: String,
    admin: bool,
    generate: bool,
}

#[derive(Template)]
#[template(path = "access/user_new.html")]
struct NewUserPage {
    layout: Layout,
    tabs: Vec<Tab>,
    values: NewUserValues,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "access/user_created.html")]
struct UserCreatedPage {
    layout: Layout,
    tabs: Vec<Tab>,
    name: String,
    password: String,
}

#[derive(Deserialize)]
struct NewUserForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password2: String,
    #[serde(default)]
    groups: String,
    #[serde(default)]
    admin: Option<String>,
    #[serde(default)]
    generate: Option<String>,
}

/// `GET /access/users/new`
pub async fn new_form(viewer: AdminViewer) -> PageResult {
    if let Some(off) = off_page(&viewer) {
        return Ok(off);
    }
    let page = NewUserPage {
        layout: Layout::new(&viewer, "New user"),
        tabs: tabs(&viewer, "/access"),
        values: NewUserValues::default(),
        error: None,
    };
    Ok(render(&viewer, &page))
}

/// `POST /access/users`
pub async fn create(
    viewer: AdminViewer,
    req: HttpRequest,
    gate: web::Data<Gate>,
    body: web::Bytes,
) -> PageResult {
    if let Some(off) = off_page(&viewer) {
        return Ok(off);
    }
    let form: NewUserForm = forms::parse(&body)?;
    viewer.check_csrf(&form.csrf)?;
    let values = NewUserValues {
        name: form.name.trim().to_owned(),
        groups: form.groups.clone(),
        admin: form.admin.is_some(),
        generate: form.generate.is_some(),
    };
    let again = |values: NewUserValues, status: StatusCode, message: String| {
        let page = NewUserPage {
            layout: Layout::new(&viewer, "New user"),
            tabs: tabs(&viewer, "/access"),
            values,
            error: Some(message),
        };
        Ok(render_status(&viewer, status, &page))
    };
    let password = if values.generate {
        crate::auth::random_token()
    } else if form.password != form.password2 {
        let message = "The two passwords differ; type the same one twice.".to_owned();
        return again(values, StatusCode::UNPROCESSABLE_ENTITY, message);
    } else {
        form.password.clone()
    };
    let groups = forms::lines(&values.groups);
    if let Err(e) = gate
        .auth
        .add_user(&values.name, &password, values.admin, groups)
        .await
    {
        let (status, message) = form_error(&e);
        return again(values, status, message);
    }
    record(&gate, &req, &viewer, "user.add", &values.name).await;
    if !values.generate {
        return Ok(redirect(
            "/access",
            &format!("Created the user {}.", values.name),
        ));
    }
    let page = UserCreatedPage {
        layout: Layout::new(&viewer, "User created"),
        tabs: tabs(&viewer, "/access"),
        name: values.name,
        password,
    };
    Ok(render(&viewer, &page))
}

#[derive(Template)]
#[template(path = "access/user_edit.html")]
struct EditUserPage {
    layout: Layout,
    tabs: Vec<Tab>,
    name: String,
    href: String,
    delete_href: String,
    admin: bool,
    groups: String,
    me: bool,
    created: Time,
    tokens: usize,
    roles_error: Option<String>,
    password_error: Option<String>,
}

#[derive(Deserialize)]
struct EditUserForm {
    #[serde(default)]
    csrf: String,
    /// `roles` or `password`: which of the page's two forms.
    #[serde(default)]
    what: String,
    #[serde(default)]
    groups: String,
    #[serde(default)]
    admin: Option<String>,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password2: String,
}

async fn find_user(gate: &Gate, name: &str) -> Result<UserView, ConsoleError> {
    gate.auth
        .users()
        .await?
        .into_iter()
        .find(|u| u.name == name)
        .ok_or_else(|| ConsoleError::NotFound(format!("There is no user named {name:?}.")))
}

async fn active_tokens(gate: &Gate, name: &str) -> Result<usize, ConsoleError> {
    let now = format::now();
    Ok(gate
        .auth
        .tokens(Some(name))
        .await?
        .iter()
        .filter(|t| active(t, now))
        .count())
}

async fn edit_page(
    viewer: &Viewer,
    gate: &Gate,
    user: UserView,
) -> Result<EditUserPage, ConsoleError> {
    let tokens = active_tokens(gate, &user.name).await?;
    Ok(EditUserPage {
        layout: Layout::new(viewer, format!("User {}", user.name)),
        tabs: tabs(viewer, "/access"),
        href: user_href(&user.name),
        delete_href: format!("{}/delete", user_href(&user.name)),
        admin: user.admin,
        groups: user.groups.join(", "),
        me: user.name == viewer.name(),
        created: Time::at(user.created_at, format::now()),
        tokens,
        roles_error: None,
        password_error: None,
        name: user.name,
    })
}

/// `GET /access/users/<name>`
pub async fn edit_form(
    viewer: AdminViewer,
    gate: web::Data<Gate>,
    name: web::Path<String>,
) -> PageResult {
    if let Some(off) = off_page(&viewer) {
        return Ok(off);
    }
    let user = find_user(&gate, &name).await?;
    let page = edit_page(&viewer, &gate, user).await?;
    Ok(render(&viewer, &page))
}

/// `POST /access/users/<name>`: groups and admin flag, or a new password.
pub async fn update(
    viewer: AdminViewer,
    req: HttpRequest,
    gate: web::Data<Gate>,
    name: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    if let Some(off) = off_page(&viewer) {
        return Ok(off);
    }
    let form: EditUserForm = forms::parse(&body)?;
    viewer.check_csrf(&form.csrf)?;
    let user = find_user(&gate, &name).await?;
    let mut page = edit_page(&viewer, &gate, user).await?;
    if form.what == "password" {
        let outcome = if form.password != form.password2 {
            Err((
                StatusCode::UNPROCESSABLE_ENTITY,
                "The two passwords differ; type the same one twice.".to_owned(),
            ))
        } else {
            gate.auth
                .set_password(&page.name, &form.password)
                .await
                .map_err(|e| form_error(&e))
        };
        return match outcome {
            Ok(()) => {
                record(&gate, &req, &viewer, "user.passwd", &page.name).await;
                Ok(redirect(
                    &page.href,
                    &format!("Set a new password for {}.", page.name),
                ))
            }
            Err((status, message)) => {
                page.password_error = Some(message);
                Ok(render_status(&viewer, status, &page))
            }
        };
    }
    let admin = form.admin.is_some();
    let groups = forms::lines(&form.groups);
    match gate.auth.set_roles(&page.name, admin, groups).await {
        Ok(()) => {
            record(&gate, &req, &viewer, "user.roles", &page.name).await;
            Ok(redirect(
                "/access",
                &format!("Saved the groups and admin flag of {}.", page.name),
            ))
        }
        Err(e) => {
            let (status, message) = form_error(&e);
            page.roles_error = Some(message);
            page.groups = form.groups;
            page.admin = admin;
            Ok(render_status(&viewer, status, &page))
        }
    }
}

/// What deleting `user` means, in sentences.
fn delete_consequences(
    user: &UserView,
    users: &[UserView],
    tokens: usize,
    rules: usize,
    me: bool,
) -> Vec<String> {
    let name = &user.name;
    let mut out = vec![format!(
        "{name} can no longer sign in, and their console sessions end at once."
    )];
    out.push(match tokens {
        0 => "They have no active access tokens.".to_owned(),
        1 => "Their access token is deleted and stops working at once.".to_owned(),
        n => format!("Their {n} access tokens are deleted and stop working at once."),
    });
    if rules > 0 {
        out.push(format!(
            "{rules} rule{} naming user:{name} stay{}; they would apply to a new user of that name.",
            if rules == 1 { "" } else { "s" },
            if rules == 1 { "s" } else { "" },
        ));
    }
    if user.admin && users.iter().filter(|u| u.admin).count() == 1 {
        out.push(format!(
            "{name} is the last admin, so hoist will refuse: make another user an admin first."
        ));
    } else if me {
        out.push("This is you: you will be signed out.".to_owned());
    }
    out
}

/// `GET /access/users/<name>/delete`
pub async fn confirm_delete(
    viewer: AdminViewer,
    gate: web::Data<Gate>,
    name: web::Path<String>,
) -> PageResult {
    if let Some(off) = off_page(&viewer) {
        return Ok(off);
    }
    let users = gate.auth.users().await?;
    let user = users
        .iter()
        .find(|u| u.name == *name)
        .ok_or_else(|| ConsoleError::NotFound(format!("There is no user named {:?}.", *name)))?;
    let tokens = active_tokens(&gate, &user.name).await?;
    let rules = gate
        .auth
        .rule_list()
        .await?
        .iter()
        .filter(|(_, r)| r.who == Who::User(user.name.clone()))
        .count();
    let href = user_href(&user.name);
    let page = Confirm {
        layout: Layout::new(&viewer, format!("Delete {}", user.name)),
        question: format!("Delete the user {}?", user.name),
        consequences: delete_consequences(user, &users, tokens, rules, user.name == viewer.name()),
        action: format!("{href}/delete"),
        button: "Delete user".into(),
        cancel: href,
        hidden: Vec::new(),
    };
    Ok(render(&viewer, &page))
}

/// `POST /access/users/<name>/delete`
pub async fn delete(
    viewer: AdminViewer,
    req: HttpRequest,
    gate: web::Data<Gate>,
    name: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    if let Some(off) = off_page(&viewer) {
        return Ok(off);
    }
    viewer.check_posted(&body)?;
    gate.auth.remove_user(&name).await?;
    record(&gate, &req, &viewer, "user.remove", &name).await;
    Ok(redirect("/access", &format!("Deleted the user {}.", *name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, admin: bool, groups: &[&str]) -> UserView {
        UserView {
            name: name.into(),
            admin,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            created_at: 100,
        }
    }

    fn token(owner: &str, revoked: bool, expires_at: Option<u64>) -> TokenView {
        TokenView {
            id: "1".into(),
            name: "t".into(),
            owner: owner.into(),
            scopes: vec![],
            created_at: 0,
            expires_at,
            last_used: None,
            revoked,
        }
    }

    #[test]
    fn rows_count_live_tokens_and_know_last_sign_ins() {
        let tokens = [
            token("bob", false, None),
            token("bob", true, None),
            token("bob", false, Some(50)),
            token("bob", false, Some(5000)),
        ];
        let logins = HashMap::from([("bob".to_owned(), 40)]);
        let rows = rows(
            vec![user("bob", false, &["ci"]), user("amy", true, &[])],
            &tokens,
            &logins,
            "amy",
            100,
        );
        assert_eq!(rows[0].name, "amy");
        assert!(rows[0].me && rows[0].last_login.is_none());
        assert_eq!(rows[1].tokens, 2, "revoked and expired ones do not count");
        assert_eq!(rows[1].groups[0].1, "/access/groups#g-ci");
        assert_eq!(
            rows[1].last_login.as_ref().map(|t| t.ago.as_str()),
            Some("1 minute ago")
        );
        assert_eq!(rows[1].delete_href, "/access/users/bob/delete");
    }

    #[test]
    fn deleting_says_what_goes_and_warns_about_the_last_admin() {
        let amy = user("amy", true, &[]);
        let bob = user("bob", false, &[]);
        let users = [amy.clone(), bob.clone()];
        let said = delete_consequences(&bob, &users, 3, 1, false).join(" ");
        assert!(said.contains("3 access tokens are deleted"), "{said}");
        assert!(said.contains("sessions end"), "{said}");
        assert!(said.contains("1 rule naming user:bob stays"), "{said}");
        let said = delete_consequences(&amy, &users, 0, 0, true).join(" ");
        assert!(said.contains("last admin"), "{said}");
        let two = [amy.clone(), user("cy", true, &[])];
        let said = delete_consequences(&amy, &two, 0, 0, true).join(" ");
        assert!(said.contains("signed out"), "{said}");
    }
}
