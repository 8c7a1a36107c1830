//! `/api/v1/users`, `/api/v1/tokens`, `/api/v1/rules` and `/api/v1/audit`: access control
//! through the API. Admins manage everything; a user may change their own password and
//! manage their own access tokens. Every change goes to the audit log.

use super::{body, only};
use crate::auth::rules::{Rule, Scope};
use crate::auth::{AuditFilter, Subject};
use crate::http::gate::Gate;
use crate::http::{query_param, ApiError};
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    password: String,
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    groups: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserChange {
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    admin: Option<bool>,
    #[serde(default)]
    groups: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    scopes: Vec<Scope>,
    /// `30d`, `12h`; none: no expiry.
    #[serde(default)]
    expires_in: Option<String>,
    /// Admins may make tokens for another user.
    #[serde(default)]
    owner: Option<String>,
}

/// Who is asking, for the audit log.
struct Actor<'a> {
    gate: &'a Gate,
    req: &'a HttpRequest,
    subject: &'a Subject,
}

impl Actor<'_> {
    async fn record(&self, action: &str, target: &str) {
        self.gate
            .auth
            .audit(
                &self.subject.label(),
                Gate::address(self.req),
                action,
                target,
                "ok",
                "",
            )
            .await;
    }

    fn admin_or(&self, user: &str) -> Result<(), ApiError> {
        let me = matches!(self.subject, Subject::User { name, .. } if name == user);
        if self.subject.is_admin() || me {
            Ok(())
        } else {
            Err(ApiError::Denied(
                "only an admin, or the user themself".into(),
            ))
        }
    }

    fn admin(&self) -> Result<(), ApiError> {
        if self.subject.is_admin() {
            Ok(())
        } else {
            Err(ApiError::Denied("an admin only".into()))
        }
    }

    fn user_name(&self) -> Option<&str> {
        match self.subject {
            Subject::User { name, .. } => Some(name),
            _ => None,
        }
    }
}

pub async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    gate: &Gate,
    subject: &Subject,
    kind: &str,
    rest: &str,
) -> Result<HttpResponse, ApiError> {
    let actor = Actor { gate, req, subject };
    let auth = &gate.auth;
    let rest = rest.trim_end_matches('/');
    match (kind, rest.is_empty()) {
        ("users", true) => {
            only(req, &[Method::GET, Method::POST])?;
            actor.admin()?;
            if req.method() == Method::GET {
                return Ok(
                    HttpResponse::Ok().json(serde_json::json!({"users": auth.users().await?}))
                );
            }
            let u: NewUser = body::json(payload).await?;
            auth.add_user(&u.name, &u.password, u.admin, u.groups)
                .await?;
            actor.record("user.add", &u.name).await;
            Ok(HttpResponse::Created().finish())
        }
        ("users", false) => {
            only(req, &[Method::GET, Method::PUT, Method::DELETE])?;
            match *req.method() {
                Method::GET => {
                    actor.admin_or(rest)?;
                    let user = auth
                        .users()
                        .await?
                        .into_iter()
                        .find(|u| u.name == rest)
                        .ok_or(ApiError::NotFound)?;
                    Ok(HttpResponse::Ok().json(user))
                }
                Method::PUT => {
                    let change: UserChange = body::json(payload).await?;
                    if let Some(password) = &change.password {
                        actor.admin_or(rest)?;
                        auth.set_password(rest, password).await?;
                        actor.record("user.passwd", rest).await;
                    }
                    if change.admin.is_some() || change.groups.is_some() {
                        actor.admin()?;
                        let current = auth
                            .users()
                            .await?
                            .into_iter()
                            .find(|u| u.name == rest)
                            .ok_or(ApiError::NotFound)?;
                        auth.set_roles(
                            rest,
                            change.admin.unwrap_or(current.admin),
                            change.groups.unwrap_or(current.groups),
                        )
                        .await?;
                        actor.record("user.roles", rest).await;
                    }
                    Ok(HttpResponse::NoContent().finish())
                }
                _ => {
                    actor.admin()?;
                    auth.remove_user(rest).await?;
                    actor.record("user.remove", rest).await;
                    Ok(HttpResponse::NoContent().finish())
                }
            }
        }
        ("tokens", true) => {
            only(req, &[Method::GET, Method::POST])?;
            let mine = actor.user_name().map(str::to_owned);
            if req.method() == Method::GET {
                let owner = if subject.is_admin() {
                    None
                } else {
                    mine.as_deref()
                };
                if owner.is_none() && !subject.is_admin() {
                    return Err(ApiError::Denied("a signed-in user only".into()));
                }
                return Ok(HttpResponse::Ok()
                    .json(serde_json::json!({"tokens": auth.tokens(owner).await?})));
            }
            let t: NewToken = body::json(payload).await?;
            let owner = match (&t.owner, mine) {
                (Some(o), _) => {
                    actor.admin_or(o)?;
                    o.clone()
                }
                (None, Some(me)) => me,
                (None, None) => return Err(ApiError::Denied("a signed-in user only".into())),
            };
            let expires = t
                .expires_in
                .as_deref()
                .map(crate::sync::rules::parse_duration)
                .transpose()
                .map_err(ApiError::BadRequest)?;
            let (view, secret) = auth
                .create_token(&owner, &t.name, t.scopes, expires)
                .await?;
            actor
                .record("token.create", &format!("{} ({})", view.name, view.id))
                .await;
            Ok(HttpResponse::Created().json(serde_json::json!({"token": view, "secret": secret})))
        }
        ("tokens", false) => {
            only(req, &[Method::DELETE])?;
            let token = auth
                .tokens(None)
                .await?
                .into_iter()
                .find(|t| t.id == rest)
                .ok_or(ApiError::NotFound)?;
            actor.admin_or(&token.owner)?;
            auth.revoke_token(rest).await?;
            actor
                .record("token.revoke", &format!("{} ({rest})", token.name))
                .await;
            Ok(HttpResponse::NoContent().finish())
        }
        ("rules", true) => {
            only(req, &[Method::GET, Method::POST])?;
            actor.admin()?;
            if req.method() == Method::GET {
                let rules: Vec<serde_json::Value> = auth
                    .rule_list()
                    .await?
                    .into_iter()
                    .map(|(id, rule)| {
                        let mut v = serde_json::to_value(&rule).unwrap_or_default();
                        v["id"] = id.clone().into();
                        v["source"] = if id.is_some() { "api" } else { "config" }.into();
                        v
                    })
                    .collect();
                return Ok(HttpResponse::Ok().json(serde_json::json!({"rules": rules})));
            }
            let rule: Rule = body::json(payload).await?;
            let label = format!(
                "{} {:?}",
                rule.who,
                rule.repos.iter().map(|g| g.as_str()).collect::<Vec<_>>()
            );
            let id = auth.add_rule(rule).await?;
            actor.record("rule.add", &format!("{id}: {label}")).await;
            Ok(HttpResponse::Created().json(serde_json::json!({"id": id})))
        }
        ("rules", false) => {
            only(req, &[Method::DELETE])?;
            actor.admin()?;
            auth.remove_rule(rest).await?;
            actor.record("rule.remove", rest).await;
            Ok(HttpResponse::NoContent().finish())
        }
        ("audit", true) => {
            only(req, &[Method::GET])?;
            actor.admin()?;
            let number = |n: &str| query_param(req, n).and_then(|v| v.parse::<u64>().ok());
            let filter = AuditFilter {
                who: query_param(req, "who"),
                action: query_param(req, "action"),
                before: number("before"),
                limit: number("limit").map_or(100, |n| n as usize),
            };
            Ok(HttpResponse::Ok()
                .json(serde_json::json!({"entries": auth.audit_log(filter).await?})))
        }
        _ => Err(ApiError::NotFound),
    }
}
