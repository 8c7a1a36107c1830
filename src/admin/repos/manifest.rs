//! `GET /repositories/<name>/-/manifests/<digest>`: a manifest's kind, origin and tags; an
//! image's layers (a proportional bar and a table) and config (platform, entrypoint, env,
//! labels, the history of commands); a list's platforms; referrers; annotations; the raw
//! JSON. Manifests and configs are whatever was pushed: every value is escaped by the
//! template and cut to a size a page can hold.

use super::view::{clip, kind_label, thousands, DigestLink, Time};
use super::{no_manifest, Gate};
use crate::admin::format;
use crate::admin::render::{render, Layout, PageResult};
use crate::admin::svg;
use crate::admin::viewer::Viewer;
use crate::auth::Action;
use crate::oci::{Digest, RepoName};
use crate::registry::{ManifestView, Registry};
use actix_web::HttpRequest;
use askama::Template;
use serde_json::Value;

/// Characters of one value (a label, an env entry) shown before it is cut.
const VALUE_CHARS: usize = 500;
/// Characters of a history command (`RUN …` lines are long, and worth reading).
const COMMAND_CHARS: usize = 2_000;
/// Entries of a list (env, labels, history, annotations) shown before the rest is counted.
const ITEMS: usize = 300;
/// Characters of the raw manifest shown.
const RAW_CHARS: usize = 200_000;

const IMAGE_CONFIGS: &[&str] = &[
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

pub struct LayerLine {
    pub number: usize,
    pub digest: String,
    pub short: String,
    pub media_type: String,
    pub size: String,
    pub share: String,
}

pub struct ChildLine {
    pub platform: String,
    pub digest: DigestLink,
    pub kind: &'static str,
    pub size: String,
}

pub struct ReferrerLine {
    pub artifact_type: String,
    pub digest: DigestLink,
    pub kind: &'static str,
    pub size: String,
    pub annotations: Vec<(String, String)>,
}

/// A list cut to [`ITEMS`], with how many were left out.
pub struct Items<T> {
    pub shown: Vec<T>,
    pub more: usize,
}

impl<T> Items<T> {
    fn of(all: impl IntoIterator<Item = T>) -> Items<T> {
        let mut shown = Vec::new();
        let mut more = 0;
        for item in all {
            if shown.len() < ITEMS {
                shown.push(item);
            } else {
                more += 1;
            }
        }
        Items { shown, more }
    }

    pub fn more_text(&self) -> String {
        thousands(self.more as u64)
    }
}

pub struct HistoryStep {
    pub created: String,
    pub created_by: String,
    pub comment: String,
    pub empty_layer: bool,
    /// The layer (1-based) this step made.
    pub layer: Option<usize>,
}

/// An image config as the page shows it.
pub struct ConfigView {
    pub created: String,
    pub platform: String,
    pub author: String,
    pub entrypoint: String,
    pub cmd: String,
    pub workdir: String,
    pub user: String,
    pub ports: String,
    pub env: Items<String>,
    pub labels: Items<(String, String)>,
    pub history: Items<HistoryStep>,
}

#[derive(Template)]
#[template(path = "repos/manifest.html")]
struct ManifestPage {
    layout: Layout,
    name: String,
    repo_href: String,
    digest: String,
    short: String,
    kind: &'static str,
    kind_word: &'static str,
    media_type: String,
    size: String,
    origin: String,
    derived_from: Option<DigestLink>,
    stored: Time,
    tags: Vec<(String, String)>,
    variants: Vec<(String, DigestLink)>,
    subject: Option<DigestLink>,
    layers: Vec<LayerLine>,
    layers_total: String,
    layer_bar: String,
    config_digest: Option<String>,
    config: Option<ConfigView>,
    config_note: String,
    children: Vec<ChildLine>,
    referrers: Vec<ReferrerLine>,
    annotations: Items<(String, String)>,
    raw: String,
    delete_href: Option<String>,
}

pub async fn page(
    viewer: &Viewer,
    _req: &HttpRequest,
    registry: &Registry,
    gate: &Gate,
    repo: &RepoName,
    digest: &Digest,
) -> PageResult {
    let name = repo.as_str();
    let view = registry
        .manifest_view(repo, digest)
        .await?
        .ok_or_else(|| no_manifest(name, &digest.to_string()))?;
    let (config, config_note) = match &view.config {
        Some(c) if IMAGE_CONFIGS.contains(&c.media_type.as_str()) => {
            let parsed = match Digest::parse(&c.digest) {
                Ok(d) => registry.image_config(repo, &d).await?,
                Err(_) => None,
            };
            match parsed {
                Some(v) => (Some(config_view(&v)), String::new()),
                None => (
                    None,
                    "The config is not stored in this repository, is too large, or is not JSON."
                        .to_owned(),
                ),
            }
        }
        Some(c) => (
            None,
            format!(
                "The config is of type {}, not an image config.",
                c.media_type
            ),
        ),
        None => (None, String::new()),
    };
    let referrers = registry.referrers(repo, digest, None).await?;
    let now = format::now();
    let page_view = ManifestPage {
        layout: Layout::new(
            viewer,
            format!("{name}@{}", format::short_digest(&view.digest)),
        ),
        name: name.to_owned(),
        repo_href: format::repo_href(name),
        short: format::short_digest(&view.digest),
        kind: kind_label(&view.media_type),
        kind_word: view.kind,
        media_type: view.media_type.clone(),
        size: format::bytes(view.size),
        origin: view.origin.clone(),
        derived_from: view
            .derived_from
            .as_deref()
            .map(|d| DigestLink::new(name, d)),
        stored: Time::at(view.pushed_at, now),
        tags: view
            .tags
            .iter()
            .map(|t| (t.clone(), format::tag_href(name, t)))
            .collect(),
        variants: view
            .variants
            .iter()
            .map(|(k, d)| (k.clone(), DigestLink::new(name, d)))
            .collect(),
        subject: view.subject.as_deref().map(|d| DigestLink::new(name, d)),
        layers_total: format::bytes(view.layers.iter().map(|l| l.size).sum()),
        layer_bar: layer_bar(&view),
        layers: layer_lines(&view),
        config_digest: view.config.as_ref().map(|c| c.digest.clone()),
        config,
        config_note,
        children: view
            .children
            .iter()
            .map(|c| ChildLine {
                platform: c.platform.clone().unwrap_or_else(|| "—".into()),
                digest: DigestLink::new(name, &c.digest),
                kind: kind_label(&c.media_type),
                size: format::bytes(c.size),
            })
            .collect(),
        referrers: referrers
            .into_iter()
            .map(|r| ReferrerLine {
                artifact_type: r
                    .artifact_type
                    .clone()
                    .unwrap_or_else(|| "(none)".to_owned()),
                digest: DigestLink::new(name, &r.digest),
                kind: kind_label(&r.media_type),
                size: format::bytes(r.size),
                annotations: r
                    .annotations
                    .unwrap_or_default()
                    .into_iter()
                    .take(ITEMS)
                    .map(|(k, v)| (clip(&k, VALUE_CHARS), clip(&v, VALUE_CHARS)))
                    .collect(),
            })
            .collect(),
        annotations: Items::of(
            view.annotations
                .iter()
                .map(|(k, v)| (clip(k, VALUE_CHARS), clip(v, VALUE_CHARS))),
        ),
        raw: clip(&view.body, RAW_CHARS),
        delete_href: viewer
            .may(gate, Action::Delete, name)
            .then(|| format!("{}/delete", format::manifest_href(name, &view.digest))),
        digest: view.digest,
    };
    Ok(render(viewer, &page_view))
}

fn layer_lines(view: &ManifestView) -> Vec<LayerLine> {
    let total: u64 = view.layers.iter().map(|l| l.size).sum();
    view.layers
        .iter()
        .enumerate()
        .map(|(i, l)| LayerLine {
            number: i + 1,
            digest: l.digest.clone(),
            short: format::short_digest(&l.digest),
            media_type: l.media_type.clone(),
            size: format::bytes(l.size),
            share: match total {
                0 => "—".to_owned(),
                t => format!("{:.1} %", l.size as f64 * 100.0 / t as f64),
            },
        })
        .collect()
}

fn layer_bar(view: &ManifestView) -> String {
    let segments: Vec<svg::Segment> = view
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| svg::Segment {
            title: format!("layer {}: {}", i + 1, format::bytes(l.size)),
            value: l.size,
        })
        .collect();
    svg::proportional_bar("Layers by size, in order", &segments)
}

fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => clip(s, VALUE_CHARS),
        Some(other) => clip(&other.to_string(), VALUE_CHARS),
    }
}

/// An image config, however odd: fields of the wrong type show as JSON or not at all.
pub fn config_view(config: &Value) -> ConfigView {
    let inner = config
        .get("config")
        .or_else(|| config.get("container_config"));
    let field = |name: &str| inner.and_then(|c| c.get(name));
    let os = text(config.get("os"));
    let arch = text(config.get("architecture"));
    let variant = text(config.get("variant"));
    let platform = [os, arch, variant]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("/");
    let env = match field("Env") {
        Some(Value::Array(items)) => Items::of(items.iter().map(|e| text(Some(e)))),
        _ => Items::of(Vec::new()),
    };
    let labels = match field("Labels") {
        Some(Value::Object(map)) => Items::of(
            map.iter()
                .map(|(k, v)| (clip(k, VALUE_CHARS), text(Some(v)))),
        ),
        _ => Items::of(Vec::new()),
    };
    let ports = match field("ExposedPorts") {
        Some(Value::Object(map)) => clip(
            &map.keys().cloned().collect::<Vec<_>>().join(", "),
            VALUE_CHARS,
        ),
        _ => String::new(),
    };
    let mut layer = 0;
    let history = match config.get("history") {
        Some(Value::Array(steps)) => Items::of(steps.iter().map(|step| {
            let empty_layer = step.get("empty_layer").and_then(Value::as_bool) == Some(true);
            let made = (!empty_layer).then(|| {
                layer += 1;
                layer
            });
            HistoryStep {
                created: text(step.get("created")),
                created_by: match step.get("created_by") {
                    Some(Value::String(s)) => clip(s, COMMAND_CHARS),
                    other => text(other),
                },
                comment: text(step.get("comment")),
                empty_layer,
                layer: made,
            }
        })),
        _ => Items::of(Vec::new()),
    };
    ConfigView {
        created: text(config.get("created")),
        platform,
        author: text(config.get("author")),
        entrypoint: text(field("Entrypoint")),
        cmd: text(field("Cmd")),
        workdir: text(field("WorkingDir")),
        user: text(field("User")),
        ports,
        env,
        labels,
        history,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_are_read_whatever_their_shape() {
        let v: Value = serde_json::json!({
            "created": "2026-01-02T03:04:05Z",
            "os": "linux", "architecture": "arm64", "variant": "v8",
            "config": {
                "Env": ["PATH=/bin", 7],
                "Entrypoint": ["/bin/sh", "-c"],
                "Cmd": null,
                "Labels": {"a": "<script>alert(1)</script>", "b": 3},
                "ExposedPorts": {"80/tcp": {}},
                "User": "x".repeat(10_000),
            },
            "history": [
                {"created_by": "/bin/sh -c #(nop) ADD file", "created": "t1"},
                {"created_by": "ENV A=1", "empty_layer": true},
                {"created_by": ["not", "a", "string"]},
            ],
        });
        let c = config_view(&v);
        assert_eq!(c.platform, "linux/arm64/v8");
        assert_eq!(c.env.shown, ["PATH=/bin", "7"]);
        assert_eq!(c.entrypoint, r#"["/bin/sh","-c"]"#);
        assert_eq!(c.cmd, "");
        assert_eq!(c.labels.shown[0].1, "<script>alert(1)</script>");
        assert_eq!(c.labels.shown[1].1, "3");
        assert_eq!(c.ports, "80/tcp");
        assert!(c.user.chars().count() < 600 && c.user.ends_with("(9,500 more characters)"));
        let layers: Vec<Option<usize>> = c.history.shown.iter().map(|h| h.layer).collect();
        assert_eq!(layers, [Some(1), None, Some(2)]);
        assert!(c.history.shown[1].empty_layer);
        assert_eq!(c.history.shown[2].created_by, r#"["not","a","string"]"#);
    }

    #[test]
    fn junk_configs_show_nothing_rather_than_fail() {
        for v in [
            serde_json::json!(null),
            serde_json::json!([1, 2]),
            serde_json::json!({"config": "x", "history": {"a": 1}}),
        ] {
            let c = config_view(&v);
            assert!(c.env.shown.is_empty() && c.history.shown.is_empty());
        }
        let many = serde_json::json!({"config": {"Env": vec!["A=1"; ITEMS + 5]}});
        let c = config_view(&many);
        assert_eq!((c.env.shown.len(), c.env.more), (ITEMS, 5));
    }
}
