//! Pull-through prefixes: a pull of `<prefix>/<repo>` hoist lacks comes from the upstream's
//! `<repo>`. Create, edit, delete through a confirmation page. A prefix may hold slashes,
//! so one route takes the rest of the path: `<prefix>` or `<prefix>/delete`.

use super::forms::{choices, Choice, ProxyForm};
use super::refused;
use super::views::{proxy_href, upstream_href};
use crate::admin::format;
use crate::admin::forms;
use crate::admin::render::{
    redirect, render, render_status, Confirm, ConsoleError, Layout, PageResult,
};
use crate::admin::viewer::AdminViewer;
use crate::sync::{ProxyView, Source, Syncer};
use actix_web::web;
use askama::Template;

#[derive(Template)]
#[template(path = "mirrors/proxy.html")]
struct ProxyPage {
    layout: Layout,
    heading: String,
    action: String,
    editing: bool,
    read_only: bool,
    /// Why it is read-only, in words.
    read_only_why: String,
    form: ProxyForm,
    upstreams: Vec<Choice>,
    upstream_href: String,
    message: Option<String>,
    delete_href: String,
}

fn page(viewer: &AdminViewer, syncer: &Syncer, form: ProxyForm) -> ProxyPage {
    let names: Vec<String> = syncer
        .upstreams()
        .into_iter()
        .map(|u| u.settings.name)
        .collect();
    ProxyPage {
        layout: Layout::new(viewer, "New pull-through prefix"),
        heading: "New pull-through prefix".into(),
        action: "/mirrors/proxies".into(),
        editing: false,
        read_only: false,
        read_only_why: String::new(),
        upstreams: choices(&names, &form.upstream),
        upstream_href: upstream_href(&form.upstream),
        form,
        message: None,
        delete_href: String::new(),
    }
}

fn saved_page(viewer: &AdminViewer, syncer: &Syncer, p: &ProxyView, form: ProxyForm) -> ProxyPage {
    let prefix = p.settings.prefix.trim_matches('/');
    let read_only_why = if p.implicit {
        format!(
            "Made for the upstream {} (it answers for host names or is the default): pulls it serves are kept under {prefix}/. Add a prefix for that upstream to choose another.",
            p.settings.upstream
        )
    } else if p.source == Source::Config {
        "Set in the config file: it is shown here, and changed there.".into()
    } else {
        String::new()
    };
    ProxyPage {
        layout: Layout::new(viewer, format!("Pull-through prefix {prefix}")),
        heading: format!("Pull-through prefix {prefix}"),
        action: proxy_href(prefix),
        editing: true,
        read_only: !read_only_why.is_empty(),
        read_only_why,
        delete_href: format!("{}/delete", proxy_href(prefix)),
        ..page(viewer, syncer, form)
    }
}

/// The proxy whose prefix is `prefix`, implicit ones included.
fn find(syncer: &Syncer, prefix: &str) -> Option<ProxyView> {
    syncer
        .proxies()
        .into_iter()
        .find(|p| p.settings.prefix.trim_matches('/') == prefix)
}

/// What the rest of the path names: a proxy's page, or its delete page.
enum Target {
    Page(ProxyView),
    Delete(ProxyView),
}

fn target(syncer: &Syncer, tail: &str) -> Result<Target, ConsoleError> {
    let tail = format::percent_decode(tail);
    let tail = tail.trim_matches('/');
    if let Some(p) = find(syncer, tail) {
        return Ok(Target::Page(p));
    }
    if let Some(p) = tail.strip_suffix("/delete").and_then(|t| find(syncer, t)) {
        return Ok(Target::Delete(p));
    }
    Err(ConsoleError::NotFound(format!(
        "There is no pull-through prefix {tail:?}."
    )))
}

pub async fn new_form(viewer: AdminViewer, syncer: web::Data<Syncer>) -> PageResult {
    let mut p = page(&viewer, &syncer, ProxyForm::default());
    if p.upstreams.is_empty() {
        p.message = Some("There is no upstream yet: add one first.".into());
    }
    Ok(render(&viewer, &p))
}

pub async fn create(
    viewer: AdminViewer,
    syncer: web::Data<Syncer>,
    body: web::Bytes,
) -> PageResult {
    let form: ProxyForm = forms::parse(&body)?;
    viewer.check_csrf(&form.csrf)?;
    let settings = form.to_settings();
    let prefix = settings.prefix.clone();
    match syncer.put_proxy(settings, false).await {
        Ok(()) => Ok(redirect(
            &proxy_href(&prefix),
            &format!("Added the pull-through prefix {prefix}."),
        )),
        Err(e) => {
            let (status, m) = refused(e)?;
            let mut p = page(&viewer, &syncer, form);
            p.message = Some(m);
            Ok(render_status(&viewer, status, &p))
        }
    }
}

pub async fn get(
    viewer: AdminViewer,
    syncer: web::Data<Syncer>,
    tail: web::Path<String>,
) -> PageResult {
    match target(&syncer, &tail)? {
        Target::Page(p) => {
            let form = ProxyForm::from_settings(&p.settings);
            Ok(render(&viewer, &saved_page(&viewer, &syncer, &p, form)))
        }
        Target::Delete(p) => {
            let prefix = p.settings.prefix.trim_matches('/').to_owned();
            if p.implicit || p.source == Source::Config {
                return Err(ConsoleError::Conflict(format!(
                    "The pull-through prefix {prefix} is not one the console made: {}",
                    if p.implicit {
                        "it comes with its upstream's host names or default setting."
                    } else {
                        "it is set in the config file; remove it there."
                    }
                )));
            }
            let page = Confirm {
                layout: Layout::new(&viewer, format!("Delete pull-through prefix {prefix}")),
                question: format!("Delete the pull-through prefix {prefix}?"),
                consequences: vec![format!(
                    "Pulls of {prefix}/… that hoist lacks stop coming from {}. What was pulled through stays.",
                    p.settings.upstream
                )],
                action: format!("{}/delete", proxy_href(&prefix)),
                button: "Delete prefix".into(),
                cancel: proxy_href(&prefix),
                hidden: Vec::new(),
            };
            Ok(render(&viewer, &page))
        }
    }
}

pub async fn post(
    viewer: AdminViewer,
    syncer: web::Data<Syncer>,
    tail: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    match target(&syncer, &tail)? {
        Target::Page(p) => {
            let mut form: ProxyForm = forms::parse(&body)?;
            viewer.check_csrf(&form.csrf)?;
            form.prefix = p.settings.prefix.trim_matches('/').to_owned();
            match syncer.put_proxy(form.to_settings(), true).await {
                Ok(()) => Ok(redirect(
                    &proxy_href(&form.prefix),
                    &format!("Saved the pull-through prefix {}.", form.prefix),
                )),
                Err(e) => {
                    let (status, m) = refused(e)?;
                    let mut page = saved_page(&viewer, &syncer, &p, form);
                    page.message = Some(m);
                    Ok(render_status(&viewer, status, &page))
                }
            }
        }
        Target::Delete(p) => {
            viewer.check_posted(&body)?;
            let prefix = p.settings.prefix.trim_matches('/').to_owned();
            match syncer.delete_proxy(&prefix).await {
                Ok(()) => Ok(redirect(
                    "/mirrors",
                    &format!("Deleted the pull-through prefix {prefix}."),
                )),
                Err(e) => {
                    let (_, m) = refused(e)?;
                    Err(ConsoleError::Conflict(m))
                }
            }
        }
    }
}
