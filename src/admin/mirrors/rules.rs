//! Mirror rules: create and edit with a preview of what the rule would fetch (the form's
//! "Preview" button renders the form again with it, saving nothing), delete through a
//! confirmation page, and "sync now". Rules from the config file are shown read-only (they
//! can still be synced).

use super::forms::{choices, Choice, RuleForm};
use super::preview::PreviewView;
use super::refused;
use super::views::{rule_href, run_href, upstream_href, RunRow};
use crate::admin::format;
use crate::admin::forms;
use crate::admin::render::{
    redirect, render, render_status, Confirm, ConsoleError, Layout, PageResult,
};
use crate::admin::viewer::AdminViewer;
use crate::sync::settings::MirrorSettings;
use crate::sync::{MirrorView, Source, SyncError, Syncer, Trigger};
use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;

/// Runs of the rule its page lists.
const RULE_RUNS: usize = 10;

#[derive(Template)]
#[template(path = "mirrors/rule.html")]
struct RulePage {
    layout: Layout,
    heading: String,
    action: String,
    editing: bool,
    read_only: bool,
    form: RuleForm,
    upstreams: Vec<Choice>,
    modes: Vec<Choice>,
    deleted: Vec<Choice>,
    message: Option<String>,
    preview: Option<PreviewView>,
    /// The upstream could not answer the preview.
    preview_error: Option<String>,
    /// Links and forms of a saved rule.
    upstream_href: String,
    sync_action: String,
    drift_href: String,
    delete_href: String,
    runs: Vec<RunRow>,
}

impl RulePage {
    fn new(viewer: &AdminViewer, syncer: &Syncer, form: RuleForm) -> RulePage {
        let names: Vec<String> = syncer
            .upstreams()
            .into_iter()
            .map(|u| u.settings.name)
            .collect();
        let option = |value: &str, label: &str, current: &str| Choice {
            value: value.into(),
            label: label.into(),
            selected: value == current,
        };
        RulePage {
            layout: Layout::new(viewer, "New mirror rule"),
            heading: "New mirror rule".into(),
            action: "/mirrors/rules".into(),
            editing: false,
            read_only: false,
            upstreams: choices(&names, &form.upstream),
            modes: vec![
                option("immediate", "immediate: every blob now", &form.mode),
                option(
                    "on-demand",
                    "on demand: manifests now, layers on first pull",
                    &form.mode,
                ),
            ],
            deleted: vec![
                option("keep", "keep them here", &form.deleted_upstream),
                option("remove", "remove them here too", &form.deleted_upstream),
            ],
            form,
            message: None,
            preview: None,
            preview_error: None,
            upstream_href: String::new(),
            sync_action: String::new(),
            drift_href: String::new(),
            delete_href: String::new(),
            runs: Vec::new(),
        }
    }

    /// The page of saved rule `rule`, with its recent runs.
    async fn saved(
        viewer: &AdminViewer,
        syncer: &Syncer,
        rule: &MirrorView,
        form: RuleForm,
    ) -> Result<RulePage, ConsoleError> {
        let name = &rule.settings.name;
        let now = format::now();
        let runs = syncer
            .runs(None, 200)
            .await?
            .iter()
            .filter(|r| r.rule == *name)
            .take(RULE_RUNS)
            .map(|r| RunRow::new(r, now))
            .collect();
        let href = rule_href(name);
        Ok(RulePage {
            layout: Layout::new(viewer, format!("Mirror rule {name}")),
            heading: format!("Mirror rule {name}"),
            action: href.clone(),
            editing: true,
            read_only: rule.source == Source::Config,
            upstream_href: upstream_href(&rule.settings.upstream),
            sync_action: format!("{href}/sync"),
            drift_href: format!("{href}/drift"),
            delete_href: format!("{href}/delete"),
            runs,
            ..RulePage::new(viewer, syncer, form)
        })
    }
}

fn find(syncer: &Syncer, name: &str) -> Result<MirrorView, ConsoleError> {
    syncer
        .mirrors()
        .into_iter()
        .find(|m| m.settings.name == name)
        .ok_or_else(|| ConsoleError::NotFound(format!("There is no mirror rule named {name:?}.")))
}

pub async fn new_form(viewer: AdminViewer, syncer: web::Data<Syncer>) -> PageResult {
    let mut page = RulePage::new(&viewer, &syncer, RuleForm::blank());
    if page.upstreams.is_empty() {
        page.message = Some("There is no upstream yet: add one first.".into());
    }
    Ok(render(&viewer, &page))
}

pub async fn create(
    viewer: AdminViewer,
    syncer: web::Data<Syncer>,
    body: web::Bytes,
) -> PageResult {
    let form: RuleForm = forms::parse(&body)?;
    viewer.check_csrf(&form.csrf)?;
    let page = RulePage::new(&viewer, &syncer, form.clone());
    submit(&viewer, &syncer, form, page, false).await
}

pub async fn edit(
    viewer: AdminViewer,
    syncer: web::Data<Syncer>,
    name: web::Path<String>,
) -> PageResult {
    let rule = find(&syncer, &name)?;
    let form = RuleForm::from_settings(&rule.settings);
    let page = RulePage::saved(&viewer, &syncer, &rule, form).await?;
    Ok(render(&viewer, &page))
}

pub async fn update(
    viewer: AdminViewer,
    syncer: web::Data<Syncer>,
    name: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    let mut form: RuleForm = forms::parse(&body)?;
    viewer.check_csrf(&form.csrf)?;
    let rule = find(&syncer, &name)?;
    form.name = rule.settings.name.clone();
    let page = RulePage::saved(&viewer, &syncer, &rule, form.clone()).await?;
    submit(&viewer, &syncer, form, page, true).await
}

/// Preview or save what the form says; `page` is the form's page to show it again on.
async fn submit(
    viewer: &AdminViewer,
    syncer: &Syncer,
    form: RuleForm,
    mut page: RulePage,
    replace: bool,
) -> PageResult {
    let settings = match form.to_settings() {
        Ok(s) => s,
        Err(m) => return again(viewer, page, StatusCode::UNPROCESSABLE_ENTITY, m),
    };
    if form.previews() {
        return preview(viewer, syncer, &settings, page).await;
    }
    let name = settings.name.clone();
    match syncer.put_mirror(settings, replace).await {
        Ok(()) => Ok(redirect(
            &rule_href(&name),
            &format!("Saved the mirror rule {name}."),
        )),
        Err(e) => {
            let (status, m) = refused(e)?;
            page.preview = None;
            again(viewer, page, status, m)
        }
    }
}

async fn preview(
    viewer: &AdminViewer,
    syncer: &Syncer,
    settings: &MirrorSettings,
    mut page: RulePage,
) -> PageResult {
    match syncer.preview(settings).await {
        Ok(p) => page.preview = Some(PreviewView::new(&p, settings.mode)),
        Err(SyncError::Settings(m)) => {
            return again(viewer, page, StatusCode::UNPROCESSABLE_ENTITY, m)
        }
        // The upstream's answer (unreachable, refused, not found) is the preview's result.
        Err(e @ (SyncError::Upstream(_) | SyncError::Content(_) | SyncError::NotFound(_))) => {
            page.preview_error = Some(format!("The upstream could not be read: {e}"))
        }
        Err(e) => return Err(e.into()),
    }
    Ok(render(viewer, &page))
}

fn again(viewer: &AdminViewer, mut page: RulePage, status: StatusCode, m: String) -> PageResult {
    page.message = Some(m);
    Ok(render_status(viewer, status, &page))
}

pub async fn sync_now(
    viewer: AdminViewer,
    syncer: web::Data<Syncer>,
    name: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    viewer.check_posted(&body)?;
    let rule = find(&syncer, &name)?;
    let ids = syncer
        .request_runs(std::slice::from_ref(&rule.settings.name), Trigger::Manual)
        .await?;
    let id = ids
        .first()
        .copied()
        .ok_or_else(|| ConsoleError::Conflict("No run was started.".into()))?;
    Ok(redirect(
        &run_href(id),
        &format!("Run {id} of {} is under way.", rule.settings.name),
    ))
}

pub async fn confirm_delete(
    viewer: AdminViewer,
    syncer: web::Data<Syncer>,
    name: web::Path<String>,
) -> PageResult {
    let rule = find(&syncer, &name)?;
    let name = &rule.settings.name;
    if rule.source == Source::Config {
        return Err(ConsoleError::Conflict(format!(
            "The mirror rule {name} is set in the config file: remove it there."
        )));
    }
    let page = Confirm {
        layout: Layout::new(&viewer, format!("Delete mirror rule {name}")),
        question: format!("Delete the mirror rule {name}?"),
        consequences: vec![
            format!(
                "{} stops being synced. The tags it mirrored stay in {} until you delete them.",
                rule.settings.from, rule.settings.to
            ),
            "Its past runs stay in the run history.".into(),
        ],
        action: format!("{}/delete", rule_href(name)),
        button: "Delete rule".into(),
        cancel: rule_href(name),
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
    syncer.delete_mirror(&name).await?;
    Ok(redirect(
        "/mirrors",
        &format!("Deleted the mirror rule {}.", name.as_str()),
    ))
}
