//! Permission rules (admins only): the list, with where each comes from (the config
//! file's are read-only here), a form for a new one beside a short account of the rule
//! language, and deleting one through a confirmation page.

use super::{form_error, off_page, record, tabs, Tab};
use crate::admin::format;
use crate::admin::forms;
use crate::admin::render::{
    redirect, render, render_status, Confirm, ConsoleError, Layout, PageResult,
};
use crate::admin::viewer::AdminViewer;
use crate::auth::rules::{Action, RepoGlob, Rule, Who};
use crate::http::gate::Gate;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;

/// A rule as tables show it.
#[derive(Debug, Clone)]
pub struct RuleRow {
    pub who: String,
    pub repos: String,
    pub actions: String,
    pub source: &'static str,
    pub delete_href: Option<String>,
}

pub(super) fn actions_text(actions: impl IntoIterator<Item = Action>) -> String {
    actions
        .into_iter()
        .map(Action::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn repos_text(repos: &[RepoGlob]) -> String {
    repos
        .iter()
        .map(RepoGlob::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn rule_row(id: Option<String>, rule: &Rule) -> RuleRow {
    RuleRow {
        who: rule.who.to_string(),
        repos: repos_text(&rule.repos),
        actions: actions_text(rule.actions.iter().copied()),
        source: if id.is_some() {
            "console or API"
        } else {
            "config file"
        },
        delete_href: id.map(|id| format!("/access/rules/{}/delete", format::percent_encode(&id))),
    }
}

#[derive(Template)]
#[template(path = "access/rules.html")]
struct RulesPage {
    layout: Layout,
    tabs: Vec<Tab>,
    rules: Vec<RuleRow>,
}

/// `GET /access/rules`
pub async fn list(viewer: AdminViewer, gate: web::Data<Gate>) -> PageResult {
    if let Some(off) = off_page(&viewer) {
        return Ok(off);
    }
    let rules = gate
        .auth
        .rule_list()
        .await?
        .into_iter()
        .map(|(id, r)| rule_row(id, &r))
        .collect();
    let page = RulesPage {
        layout: Layout::new(&viewer, "Rules"),
        tabs: tabs(&viewer, "/access/rules"),
        rules,
    };
    Ok(render(&viewer, &page))
}

/// What the new-rule form holds.
#[derive(Debug, Clone)]
struct RuleValues {
    kind: String,
    name: String,
    repos: String,
    actions: Vec<String>,
}

impl Default for RuleValues {
    fn default() -> Self {
        RuleValues {
            kind: "group".into(),
            name: String::new(),
            repos: String::new(),
            actions: vec!["pull".into()],
        }
    }
}

/// One checkbox of the actions.
struct ActionBox {
    value: &'static str,
    label: &'static str,
    checked: bool,
}

#[derive(Template)]
#[template(path = "access/rule_new.html")]
struct NewRulePage {
    layout: Layout,
    tabs: Vec<Tab>,
    values: RuleValues,
    kinds: Vec<(&'static str, &'static str, bool)>,
    actions: Vec<ActionBox>,
    error: Option<String>,
}

const KINDS: &[(&str, &str)] = &[
    ("user", "a user"),
    ("group", "a group"),
    ("token", "an access token (by name)"),
    ("anonymous", "anyone, signed in or not"),
];

fn new_rule_page(viewer: &AdminViewer, values: RuleValues, error: Option<String>) -> NewRulePage {
    let actions = [
        ("pull", "pull"),
        ("push", "push"),
        ("delete", "delete"),
        ("admin", "admin (all of them)"),
    ]
    .into_iter()
    .map(|(value, label)| ActionBox {
        value,
        label,
        checked: values.actions.iter().any(|a| a == value),
    })
    .collect();
    NewRulePage {
        layout: Layout::new(viewer, "New rule"),
        tabs: tabs(viewer, "/access/rules"),
        kinds: KINDS
            .iter()
            .map(|&(v, l)| (v, l, v == values.kind))
            .collect(),
        actions,
        values,
        error,
    }
}

/// `GET /access/rules/new`
pub async fn new_form(viewer: AdminViewer) -> PageResult {
    if let Some(off) = off_page(&viewer) {
        return Ok(off);
    }
    Ok(render(
        &viewer,
        &new_rule_page(&viewer, RuleValues::default(), None),
    ))
}

#[derive(Deserialize)]
struct RuleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    repos: String,
}

/// The rule a form describes, or what is wrong with it.
fn parse_rule(values: &RuleValues) -> Result<Rule, String> {
    let who = if values.kind == "anonymous" {
        Who::Anonymous
    } else if values.name.trim().is_empty() {
        return Err(format!("Name the {} the rule is for.", values.kind));
    } else {
        Who::parse(&format!("{}:{}", values.kind, values.name.trim()))?
    };
    let repos = forms::lines(&values.repos)
        .iter()
        .map(|p| RepoGlob::parse(p))
        .collect::<Result<Vec<_>, _>>()?;
    if repos.is_empty() {
        return Err("Give at least one repository pattern.".into());
    }
    let actions = values
        .actions
        .iter()
        .map(|a| Action::parse(a).ok_or_else(|| format!("{a:?} is not an action")))
        .collect::<Result<_, _>>()?;
    let rule = Rule {
        who,
        repos,
        actions,
    };
    if rule.actions.is_empty() {
        return Err("Tick at least one action.".into());
    }
    Ok(rule)
}

/// `POST /access/rules`
pub async fn create(
    viewer: AdminViewer,
    req: HttpRequest,
    gate: web::Data<Gate>,
    body: web::Bytes,
) -> PageResult {
    if let Some(off) = off_page(&viewer) {
        return Ok(off);
    }
    let form: RuleForm = forms::parse(&body)?;
    viewer.check_csrf(&form.csrf)?;
    let values = RuleValues {
        kind: form.kind,
        name: form.name,
        repos: form.repos,
        actions: forms::all_values(&body, "actions"),
    };
    let rule = match parse_rule(&values) {
        Ok(rule) => rule,
        Err(message) => {
            let page = new_rule_page(&viewer, values, Some(message));
            return Ok(render_status(
                &viewer,
                StatusCode::UNPROCESSABLE_ENTITY,
                &page,
            ));
        }
    };
    let label = format!("{} {}", rule.who, repos_text(&rule.repos));
    match gate.auth.add_rule(rule).await {
        Ok(id) => {
            record(&gate, &req, &viewer, "rule.add", &format!("{id}: {label}")).await;
            Ok(redirect(
                "/access/rules",
                &format!("Added the rule for {label}."),
            ))
        }
        Err(e) => {
            let (status, message) = form_error(&e);
            let page = new_rule_page(&viewer, values, Some(message));
            Ok(render_status(&viewer, status, &page))
        }
    }
}

async fn api_rule(gate: &Gate, id: &str) -> Result<Rule, ConsoleError> {
    gate.auth
        .rule_list()
        .await?
        .into_iter()
        .find_map(|(rid, rule)| (rid.as_deref() == Some(id)).then_some(rule))
        .ok_or_else(|| {
            ConsoleError::NotFound(format!(
                "There is no rule {id:?} made through the console or the API (the config file's rules are changed there)."
            ))
        })
}

/// `GET /access/rules/<id>/delete`
pub async fn confirm_delete(
    viewer: AdminViewer,
    gate: web::Data<Gate>,
    id: web::Path<String>,
) -> PageResult {
    if let Some(off) = off_page(&viewer) {
        return Ok(off);
    }
    let rule = api_rule(&gate, &id).await?;
    let ttl = gate.auth.config().token_ttl.as_secs();
    let page = Confirm {
        layout: Layout::new(&viewer, "Delete rule"),
        question: format!(
            "Delete the rule that lets {} {} {}?",
            rule.who,
            actions_text(rule.actions.iter().copied()),
            repos_text(&rule.repos)
        ),
        consequences: vec![
            format!(
                "{} loses what only this rule granted, at once for passwords and access tokens.",
                rule.who
            ),
            format!(
                "Bearer tokens Docker clients already hold keep their rights until they expire (within {}).",
                format::duration_ms(ttl * 1000)
            ),
        ],
        action: format!("/access/rules/{}/delete", format::percent_encode(&id)),
        button: "Delete rule".into(),
        cancel: "/access/rules".into(),
        hidden: Vec::new(),
    };
    Ok(render(&viewer, &page))
}

/// `POST /access/rules/<id>/delete`
pub async fn delete(
    viewer: AdminViewer,
    req: HttpRequest,
    gate: web::Data<Gate>,
    id: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    if let Some(off) = off_page(&viewer) {
        return Ok(off);
    }
    viewer.check_posted(&body)?;
    let rule = api_rule(&gate, &id).await?;
    gate.auth.remove_rule(&id).await?;
    record(&gate, &req, &viewer, "rule.remove", &id).await;
    Ok(redirect(
        "/access/rules",
        &format!(
            "Deleted the rule for {} {}.",
            rule.who,
            repos_text(&rule.repos)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(kind: &str, name: &str, repos: &str, actions: &[&str]) -> RuleValues {
        RuleValues {
            kind: kind.into(),
            name: name.into(),
            repos: repos.into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        }
    }

    #[test]
    fn forms_make_rules_or_say_what_is_missing() {
        let rule = parse_rule(&values(
            "group",
            " ci ",
            "team/*\nteam/**",
            &["pull", "push"],
        ))
        .expect("a rule");
        assert_eq!(rule.who, Who::Group("ci".into()));
        assert_eq!(repos_text(&rule.repos), "team/*, team/**");
        let row = rule_row(Some("a b".into()), &rule);
        assert_eq!(row.actions, "pull, push");
        assert_eq!(
            row.delete_href.as_deref(),
            Some("/access/rules/a%20b/delete")
        );
        assert_eq!(rule_row(None, &rule).source, "config file");
        let anyone = parse_rule(&values("anonymous", "", "public/**", &["pull"])).expect("rule");
        assert_eq!(anyone.who, Who::Anonymous);
        for (bad, why) in [
            (values("user", "", "a", &["pull"]), "Name the user"),
            (
                values("user", "x", "", &["pull"]),
                "at least one repository",
            ),
            (values("user", "x", "a", &[]), "at least one action"),
            (
                values("user", "x", "te*m", &["pull"]),
                "not a repository pattern",
            ),
            (values("robot", "x", "a", &["pull"]), "write user:"),
            (values("user", "x", "a", &["fly"]), "not an action"),
        ] {
            let e = parse_rule(&bad).expect_err("refused");
            assert!(e.contains(why), "{e}");
        }
    }
}
