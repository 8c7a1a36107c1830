//! `GET /repositories/<name>/-/tags/<tag>`: every digest the tag answers to (the stored
//! manifest, a list's platform manifests, each form hoist made of them, an upstream's own
//! schema 1) with pull commands, which client gets which form (from the registry's own walk,
//! see `clients`), and the tag's history. A deleted tag's page is a 404 with its history.

use super::clients::CLIENTS;
use super::view::{kind_label, pull_host, DigestLink, Time};
use super::{no_repository, no_tag, Gate};
use crate::admin::format;
use crate::admin::render::{render_status, Layout, PageResult};
use crate::admin::viewer::Viewer;
use crate::auth::Action;
use crate::oci::{RepoName, Tag};
use crate::registry::{ClientForm, HistoryEntry, Registry, RegistryError, VariantInfo};
use actix_web::http::StatusCode;
use actix_web::HttpRequest;
use askama::Template;
use std::collections::HashMap;

/// How many of a tag's changes the page shows.
const HISTORY: usize = 100;

/// A pull command with what it pulls.
pub struct Command {
    pub label: String,
    pub text: String,
}

/// One digest the tag answers to.
pub struct FormLine {
    pub role: String,
    pub origin: String,
    pub kind: &'static str,
    pub media_type: String,
    pub size: String,
    pub digest: DigestLink,
    pub docker: String,
    pub podman: String,
}

/// One row of the Accept table.
pub struct ClientLine {
    pub client: &'static str,
    /// The header as sent (one line), and its media types one to a line.
    pub accept: String,
    pub accept_lines: Vec<String>,
    /// The digest served now; empty when none is.
    pub digest: Option<DigestLink>,
    pub gets: String,
    pub note: String,
    pub refused: bool,
}

pub struct HistoryLine {
    pub time: Time,
    pub digest: Option<DigestLink>,
    pub stored: bool,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "repos/tag.html")]
struct TagPage {
    layout: Layout,
    name: String,
    repo_href: String,
    host: String,
    tag: String,
    /// The tag exists now (else: a page for a deleted tag, with its history).
    exists: bool,
    digest: Option<DigestLink>,
    kind: &'static str,
    upstream: Option<String>,
    pulls: Vec<Command>,
    forms: Vec<FormLine>,
    clients: Vec<ClientLine>,
    history: Vec<HistoryLine>,
    delete_href: Option<String>,
}

pub async fn page(
    viewer: &Viewer,
    req: &HttpRequest,
    registry: &Registry,
    gate: &Gate,
    repo: &RepoName,
    tag: &Tag,
) -> PageResult {
    let name = repo.as_str();
    let variants = match registry.tag_variants(repo, tag).await {
        Ok(v) => Some(v),
        Err(RegistryError::ManifestUnknown(_)) => None,
        Err(RegistryError::NameUnknown(_)) => return Err(no_repository(name)),
        Err(e) => return Err(e.into()),
    };
    let history = registry
        .tag_history_entries(repo, tag.as_str(), HISTORY)
        .await?;
    if variants.is_none() && history.is_empty() {
        return Err(no_tag(name, tag.as_str()));
    }
    let host = pull_host(req);
    let now = format::now();
    let variants = variants.unwrap_or_default();
    let root = variants.first();
    // A list's entries (the stored list's and those of its other forms) carry the platform
    // the forms table names them by.
    let mut platforms: HashMap<String, String> = HashMap::new();
    for list in variants.iter().filter(|v| is_list(&v.media_type)) {
        let Ok(d) = crate::oci::Digest::parse(&list.digest) else {
            continue;
        };
        if let Some(view) = registry.manifest_view(repo, &d).await? {
            for child in view.children {
                if let Some(p) = child.platform {
                    platforms.insert(child.digest, p);
                }
            }
        }
    }
    let clients = if root.is_some() {
        let forms = registry
            .client_forms(repo, tag, CLIENTS.iter().map(|c| c.parsed()).collect())
            .await?;
        CLIENTS
            .iter()
            .zip(forms)
            .map(|(c, form)| client_line(name, c.name, c.header(), form))
            .collect()
    } else {
        Vec::new()
    };
    let current = root.map(|r| r.digest.clone());
    let reference = format!("{host}/{name}:{tag}");
    let page_view = TagPage {
        layout: Layout::new(viewer, format!("{name}:{tag}")),
        name: name.to_owned(),
        repo_href: format::repo_href(name),
        host: host.clone(),
        tag: tag.to_string(),
        exists: root.is_some(),
        digest: root.map(|r| DigestLink::new(name, &r.digest)),
        kind: root.map_or("", |r| kind_label(&r.media_type)),
        upstream: root.and_then(|r| r.upstream.clone()),
        pulls: vec![
            Command {
                label: "Docker".into(),
                text: format!("docker pull {reference}"),
            },
            Command {
                label: "Podman".into(),
                text: format!("podman pull {reference}"),
            },
        ],
        forms: variants
            .iter()
            .map(|v| form_line(name, &host, v, &variants, &platforms))
            .collect(),
        clients,
        history: history
            .into_iter()
            .enumerate()
            .map(|(i, e)| history_line(name, e, i == 0 && current.is_some(), now))
            .collect(),
        delete_href: (root.is_some() && viewer.may(gate, Action::Delete, name))
            .then(|| format!("{}/delete", format::tag_href(name, tag.as_str()))),
    };
    let status = if page_view.exists {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    Ok(render_status(viewer, status, &page_view))
}

/// `OCI` or `Docker`, the family a media type belongs to.
fn family(media_type: &str) -> &'static str {
    if media_type.starts_with("application/vnd.oci.") {
        "OCI"
    } else {
        "Docker"
    }
}

fn is_list(media_type: &str) -> bool {
    crate::oci::ManifestKind::from_media_type(media_type).is_some_and(|k| k.is_index())
}

/// What a form is, in words: the tag's own manifest, a list entry, or a form made of one.
fn role(v: &VariantInfo, all: &[VariantInfo], platforms: &HashMap<String, String>) -> String {
    let of = |source: &Option<String>| {
        let source = source.as_deref().unwrap_or("");
        match all.iter().position(|x| x.digest == source) {
            Some(0) => "the tag's manifest".to_owned(),
            _ => match platforms.get(source) {
                Some(p) => format!("the {p} manifest"),
                None => format::short_digest(source),
            },
        }
    };
    match v.kind.as_str() {
        "source" => "The tag's manifest".to_owned(),
        // A list entry made by mapping a whole list is named by what it was made of.
        "child" if v.transform.is_some() => {
            format!("{} form of {}", family(&v.media_type), of(&v.source))
        }
        "child" => {
            let entry = match platforms.get(&v.digest) {
                Some(p) => format!("List entry for {p}"),
                None => "List entry".to_owned(),
            };
            match all
                .iter()
                .position(|x| Some(&x.digest) == v.source.as_ref())
            {
                Some(i) if i > 0 => format!("{entry} in the {}", kind_label(&all[i].media_type)),
                _ => entry,
            }
        }
        "map:oci" => format!("OCI form of {}", of(&v.source)),
        "map:docker" => format!("Docker form of {}", of(&v.source)),
        "schema2" => format!("Schema 2 form of {}", of(&v.source)),
        k => match k.strip_prefix("schema1:") {
            Some(t) => format!("Signed schema 1 of {} for the tag {t}", of(&v.source)),
            None => format!("{k} form of {}", of(&v.source)),
        },
    }
}

fn form_line(
    repo: &str,
    host: &str,
    v: &VariantInfo,
    all: &[VariantInfo],
    platforms: &HashMap<String, String>,
) -> FormLine {
    let origin = match (&v.upstream, &v.transform) {
        (Some(u), _) if v.kind.starts_with("schema1:") => format!("the upstream {u}'s own"),
        (Some(u), _) => format!("mirrored from {u}"),
        (None, Some(t)) => format!(
            "made by hoist ({t} v{})",
            v.transform_version.unwrap_or_default()
        ),
        (None, None) => "pushed".to_owned(),
    };
    let at = format!("{host}/{repo}@{}", v.digest);
    FormLine {
        role: role(v, all, platforms),
        origin,
        kind: kind_label(&v.media_type),
        media_type: v.media_type.clone(),
        size: format::bytes(v.size),
        digest: DigestLink::new(repo, &v.digest),
        docker: format!("docker pull {at}"),
        podman: format!("podman pull {at}"),
    }
}

fn client_line(repo: &str, client: &'static str, header: String, form: ClientForm) -> ClientLine {
    let accept_lines = header
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let (digest, gets, note, refused) = match form {
        ClientForm::Served { digest, media_type } => (
            Some(DigestLink::new(repo, &digest)),
            kind_label(&media_type).to_owned(),
            media_type,
            false,
        ),
        ClientForm::NotMade { from, step, result } => (
            None,
            kind_label(&result).to_owned(),
            format!(
                "Not made yet: the first such pull makes it ({step} from {}).",
                format::short_digest(&from)
            ),
            false,
        ),
        ClientForm::Refused { reason } => (
            None,
            "404 manifest unknown".to_owned(),
            super::view::clip(&reason, 400),
            true,
        ),
    };
    ClientLine {
        client,
        accept: header,
        accept_lines,
        digest,
        gets,
        note,
        refused,
    }
}

fn history_line(repo: &str, e: HistoryEntry, current: bool, now: u64) -> HistoryLine {
    HistoryLine {
        time: Time::at(e.at, now),
        digest: e.digest.as_deref().map(|d| DigestLink::new(repo, d)),
        stored: e.stored,
        current: current && e.digest.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(kind: &str, digest: &str, source: Option<&str>) -> VariantInfo {
        VariantInfo {
            kind: kind.into(),
            media_type: crate::oci::media_types::OCI_MANIFEST.into(),
            digest: digest.into(),
            size: 10,
            source: source.map(str::to_owned),
            transform: None,
            transform_version: None,
            upstream: None,
        }
    }

    #[test]
    fn forms_are_named_by_what_they_were_made_of() {
        let all = vec![
            info("source", "sha256:aa", None),
            info("child", "sha256:bb", Some("sha256:aa")),
            info("map:docker", "sha256:cc", Some("sha256:aa")),
            info("schema1:latest", "sha256:dd", Some("sha256:bb")),
            info("map:oci", "sha256:ee", Some("sha256:ff")),
            info("child", "sha256:11", Some("sha256:ee")),
            VariantInfo {
                transform: Some("map-family".into()),
                transform_version: Some(1),
                ..info("child", "sha256:12", Some("sha256:bb"))
            },
        ];
        let platforms = HashMap::from([("sha256:bb".to_owned(), "linux/amd64".to_owned())]);
        let roles: Vec<String> = all.iter().map(|v| role(v, &all, &platforms)).collect();
        assert_eq!(
            roles,
            [
                "The tag's manifest",
                "List entry for linux/amd64",
                "Docker form of the tag's manifest",
                "Signed schema 1 of the linux/amd64 manifest for the tag latest",
                "OCI form of sha256:ff",
                "List entry in the OCI image",
                "OCI form of the linux/amd64 manifest",
            ]
        );
    }

    #[test]
    fn the_accept_table_says_what_each_outcome_means() {
        let served = client_line(
            "a",
            "x",
            String::new(),
            ClientForm::Served {
                digest: "sha256:0123456789abcdef".into(),
                media_type: crate::oci::media_types::DOCKER_SCHEMA1_SIGNED.into(),
            },
        );
        assert!(served.accept_lines.is_empty());
        assert_eq!(served.gets, "Docker schema 1 (signed)");
        assert_eq!(
            served.digest.map(|d| d.href),
            Some("/repositories/a/-/manifests/sha256:0123456789abcdef".to_owned())
        );
        let later = client_line(
            "a",
            "x",
            "*/*".into(),
            ClientForm::NotMade {
                from: "sha256:0123456789abcdef".into(),
                step: "mapped to an OCI manifest".into(),
                result: crate::oci::media_types::OCI_MANIFEST.into(),
            },
        );
        assert!(later.digest.is_none());
        assert_eq!(later.gets, "OCI image");
        assert!(later.note.contains("first such pull"), "{}", later.note);
        let refused = client_line(
            "a",
            "x",
            "text/plain".into(),
            ClientForm::Refused {
                reason: "no".into(),
            },
        );
        assert!(refused.refused && refused.digest.is_none());
    }
}
