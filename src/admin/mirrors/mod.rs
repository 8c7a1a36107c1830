//! The mirrors pages (admins only): the overview (upstreams, rules, proxies, charts, recent
//! runs), forms for upstreams, rules and pull-through prefixes that go through the same
//! `Syncer` calls as the JSON API, a preview of what a rule would fetch before it is saved,
//! "sync now", runs with their events (live over server-sent events with
//! `static/js/progress.js`), and drift of a rule's mirrored tags.

mod drift;
mod forms;
mod overview;
mod preview;
mod proxies;
mod rules;
mod runs;
mod upstreams;
mod views;

use super::render::ConsoleError;
use crate::sync::SyncError;
use actix_web::http::StatusCode;

routes! {
    GET "/mirrors" ["/mirrors"] Console => overview::page;
    GET "/mirrors/upstreams/new" ["/mirrors/upstreams/new"] Console => upstreams::new_form;
    POST "/mirrors/upstreams" ["/mirrors/upstreams"] Console => upstreams::create;
    GET "/mirrors/upstreams/{name}" ["/mirrors/upstreams/hub"] Console => upstreams::edit;
    POST "/mirrors/upstreams/{name}" ["/mirrors/upstreams/hub"] Console => upstreams::update;
    GET "/mirrors/upstreams/{name}/delete" ["/mirrors/upstreams/hub/delete"] Console => upstreams::confirm_delete;
    POST "/mirrors/upstreams/{name}/delete" ["/mirrors/upstreams/hub/delete"] Console => upstreams::delete;
    GET "/mirrors/rules/new" ["/mirrors/rules/new"] Console => rules::new_form;
    POST "/mirrors/rules" ["/mirrors/rules"] Console => rules::create;
    GET "/mirrors/rules/{name}" ["/mirrors/rules/alpine"] Console => rules::edit;
    POST "/mirrors/rules/{name}" ["/mirrors/rules/alpine"] Console => rules::update;
    GET "/mirrors/rules/{name}/delete" ["/mirrors/rules/alpine/delete"] Console => rules::confirm_delete;
    POST "/mirrors/rules/{name}/delete" ["/mirrors/rules/alpine/delete"] Console => rules::delete;
    POST "/mirrors/rules/{name}/sync" ["/mirrors/rules/alpine/sync"] Console => rules::sync_now;
    GET "/mirrors/rules/{name}/drift" ["/mirrors/rules/alpine/drift"] Console => drift::page;
    GET "/mirrors/proxies/new" ["/mirrors/proxies/new"] Console => proxies::new_form;
    POST "/mirrors/proxies" ["/mirrors/proxies"] Console => proxies::create;
    // A prefix may contain `/`: one pattern per method, told apart in `proxies`.
    GET "/mirrors/proxies/{tail:.+}" ["/mirrors/proxies/hub", "/mirrors/proxies/hub/delete"] Console => proxies::get;
    POST "/mirrors/proxies/{tail:.+}" ["/mirrors/proxies/hub", "/mirrors/proxies/hub/delete"] Console => proxies::post;
    GET "/mirrors/runs" ["/mirrors/runs"] Console => runs::list;
    GET "/mirrors/runs/{id}" ["/mirrors/runs/1"] Console => runs::page;
}

/// A form the domain refused: the status and message to show it again with, or the error
/// page for what a form cannot fix.
fn refused(e: SyncError) -> Result<(StatusCode, String), ConsoleError> {
    match e {
        SyncError::Settings(m) => Ok((StatusCode::UNPROCESSABLE_ENTITY, m)),
        SyncError::Conflict(m) => Ok((StatusCode::CONFLICT, m)),
        other => Err(other.into()),
    }
}
