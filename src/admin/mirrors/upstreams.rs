//! Upstream registries: create, edit (the password source stays when the form leaves it
//! empty), delete through a confirmation page. Those from the config file are shown
//! read-only.

use super::forms::{password_status, UpstreamForm};
use super::refused;
use super::views::{rule_href, upstream_href, Time};
use crate::admin::format;
use crate::admin::forms;
use crate::admin::render::{
    redirect, render, render_status, Confirm, ConsoleError, Layout, PageResult,
};
use crate::admin::viewer::AdminViewer;
use crate::sync::{Source, Syncer, UpstreamView};
use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;

#[derive(Template)]
#[template(path = "mirrors/upstream.html")]
struct UpstreamPage {
    layout: Layout,
    heading: String,
    /// Where the form posts.
    action: String,
    editing: bool,
    /// From the config file: shown, not changed here.
    read_only: bool,
    form: UpstreamForm,
    /// Whether a password is set, and from where (edit only).
    password_status: Option<String>,
    message: Option<String>,
    delete_href: String,
    /// Mirror rules and proxies that use it.
    users: Vec<(String, String)>,
    /// How its newest finished run ended.
    last_run: Option<LastRun>,
}

struct LastRun {
    ok: bool,
    href: String,
    at: Option<Time>,
    error: Option<String>,
}

fn find(syncer: &Syncer, name: &str) -> Result<UpstreamView, ConsoleError> {
    syncer
        .upstreams()
        .into_iter()
        .find(|u| u.settings.name == name)
        .ok_or_else(|| ConsoleError::NotFound(format!("There is no upstream named {name:?}.")))
}

/// What uses upstream `name`: (label, link).
fn users_of(syncer: &Syncer, name: &str) -> Vec<(String, String)> {
    let rules = syncer
        .mirrors()
        .into_iter()
        .filter(|m| m.settings.upstream == name)
        .map(|m| {
            (
                format!("mirror rule {}", m.settings.name),
                rule_href(&m.settings.name),
            )
        });
    let proxies = syncer
        .proxies()
        .into_iter()
        .filter(|p| p.settings.upstream == name && !p.implicit)
        .map(|p| {
            (
                format!("pull-through prefix {}", p.settings.prefix),
                super::views::proxy_href(&p.settings.prefix),
            )
        });
    rules.chain(proxies).collect()
}

fn new_page(viewer: &AdminViewer, form: UpstreamForm, message: Option<String>) -> UpstreamPage {
    UpstreamPage {
        layout: Layout::new(viewer, "New upstream"),
        heading: "New upstream".into(),
        action: "/mirrors/upstreams".into(),
        editing: false,
        read_only: false,
        form,
        password_status: None,
        message,
        delete_href: String::new(),
        users: Vec::new(),
        last_run: None,
    }
}

async fn edit_page(
    viewer: &AdminViewer,
    syncer: &Syncer,
    view: &UpstreamView,
    form: UpstreamForm,
    message: Option<String>,
) -> Result<UpstreamPage, ConsoleError> {
    let name = &view.settings.name;
    let runs = syncer.runs(None, 200).await?;
    let now = format::now();
    let last_run = syncer
        .upstream_statuses(&runs)
        .into_iter()
        .find(|s| s.upstream == *name)
        .and_then(|s| {
            Some(LastRun {
                ok: s.ok?,
                href: super::views::run_href(s.last_run?),
                at: s.finished_at.map(|t| Time::at(t, now)),
                error: s.error,
            })
        });
    Ok(UpstreamPage {
        layout: Layout::new(viewer, format!("Upstream {name}")),
        heading: format!("Upstream {name}"),
        action: upstream_href(name),
        editing: true,
        read_only: view.source == Source::Config,
        form,
        password_status: Some(password_status(&view.settings)),
        message,
        delete_href: format!("{}/delete", upstream_href(name)),
        users: users_of(syncer, name),
        last_run,
    })
}

pub async fn new_form(viewer: AdminViewer) -> PageResult {
    let page = new_page(&viewer, UpstreamForm::blank(), None);
    Ok(render(&viewer, &page))
}

pub async fn create(
    viewer: AdminViewer,
    syncer: web::Data<Syncer>,
    body: web::Bytes,
) -> PageResult {
    let form: UpstreamForm = forms::parse(&body)?;
    viewer.check_csrf(&form.csrf)?;
    let settings = match form.to_settings(None) {
        Ok(s) => s,
        Err(m) => return again_new(&viewer, form, StatusCode::UNPROCESSABLE_ENTITY, m),
    };
    let name = settings.name.clone();
    match syncer.put_upstream(settings, false).await {
        Ok(()) => Ok(redirect(
            &upstream_href(&name),
            &format!("Added the upstream {name}."),
        )),
        Err(e) => {
            let (status, m) = refused(e)?;
            again_new(&viewer, form, status, m)
        }
    }
}

fn again_new(
    viewer: &AdminViewer,
    form: UpstreamForm,
    status: StatusCode,
    m: String,
) -> PageResult {
    let page = new_page(viewer, form, Some(m));
    Ok(render_status(viewer, status, &page))
}

pub async fn edit(
    viewer: AdminViewer,
    syncer: web::Data<Syncer>,
    name: web::Path<String>,
) -> PageResult {
    let view = find(&syncer, &name)?;
    let form = UpstreamForm::from_settings(&view.settings);
    let page = edit_page(&viewer, &syncer, &view, form, None).await?;
    Ok(render(&viewer, &page))
}

pub async fn update(
    viewer: AdminViewer,
    syncer: web::Data<Syncer>,
    name: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    let mut form: UpstreamForm = forms::parse(&body)?;
    viewer.check_csrf(&form.csrf)?;
    let view = find(&syncer, &name)?;
    // The name is the page's; renaming is deleting and adding.
    form.name = view.settings.name.clone();
    let outcome = match form.to_settings(Some(&view.settings)) {
        Ok(settings) => syncer.put_upstream(settings, true).await.map_err(refused),
        Err(m) => Err(Ok((StatusCode::UNPROCESSABLE_ENTITY, m))),
    };
    match outcome {
        Ok(()) => Ok(redirect(
            &upstream_href(&view.settings.name),
            &format!("Saved the upstream {}.", view.settings.name),
        )),
        Err(refusal) => {
            let (status, m) = refusal?;
            // The password fields are not shown back.
            form.password_env.clear();
            form.password_file.clear();
            let page = edit_page(&viewer, &syncer, &view, form, Some(m)).await?;
            Ok(render_status(&viewer, status, &page))
        }
    }
}

pub async fn confirm_delete(
    viewer: AdminViewer,
    syncer: web::Data<Syncer>,
    name: web::Path<String>,
) -> PageResult {
    let view = find(&syncer, &name)?;
    if view.source == Source::Config {
        return Err(ConsoleError::Conflict(format!(
            "The upstream {} is set in the config file: remove it there.",
            view.settings.name
        )));
    }
    let mut consequences = vec![
        "hoist stops asking it for anything. Content already mirrored from it stays.".to_owned(),
    ];
    let users = users_of(&syncer, &view.settings.name);
    if !users.is_empty() {
        let names: Vec<String> = users.into_iter().map(|(label, _)| label).collect();
        consequences.push(format!(
            "It is used by {}; delete those first, or this will be refused.",
            names.join(", ")
        ));
    }
    let page = Confirm {
        layout: Layout::new(&viewer, format!("Delete upstream {}", view.settings.name)),
        question: format!("Delete the upstream {}?", view.settings.name),
        consequences,
        action: format!("{}/delete", upstream_href(&view.settings.name)),
        button: "Delete upstream".into(),
        cancel: upstream_href(&view.settings.name),
        hidden: Vec::new(),
    };
    Ok(render(&viewer, &page))
}

pub async fn delete(
    viewer: AdminViewer,
    syncer: web::Data<Syncer>,
    name: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    viewer.check_posted(&body)?;
    syncer.delete_upstream(&name).await?;
    Ok(redirect(
        "/mirrors",
        &format!("Deleted the upstream {}.", name.as_str()),
    ))
}
