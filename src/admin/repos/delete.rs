//! Deleting a tag or a manifest: a confirmation page saying what goes (`render::Confirm`,
//! no script needed), then the POST, which checks the form's CSRF token and that the viewer
//! may delete in the repository, deletes through the registry (as `DELETE /v2/…` does), notes
//! it in the audit log and goes back to the repository with a message.

use super::{no_manifest, no_tag, Gate};
use crate::admin::format;
use crate::admin::forms;
use crate::admin::render::{redirect, render, Confirm, Layout, PageResult};
use crate::admin::viewer::Viewer;
use crate::auth::Action;
use crate::oci::{Digest, Reference, RepoName, Tag};
use crate::registry::{Registry, RegistryError};
use actix_web::HttpRequest;
use serde::Deserialize;

#[derive(Deserialize)]
struct DeleteForm {
    #[serde(default)]
    csrf: String,
}

/// `GET …/-/tags/<tag>/delete`.
pub async fn confirm_tag(
    viewer: &Viewer,
    registry: &Registry,
    gate: &Gate,
    repo: &RepoName,
    tag: &Tag,
) -> PageResult {
    let name = repo.as_str();
    viewer.require(gate, Action::Delete, name)?;
    let digest = tag_digest(registry, repo, tag).await?;
    let others: Vec<String> = registry
        .manifest_view(repo, &digest)
        .await?
        .map(|v| v.tags)
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t != tag.as_str())
        .collect();
    let mut consequences = vec![format!(
        "Only the tag goes. The manifest {digest} stays, reachable by its digest \
         ({name}@{}), until it is deleted too.",
        format::short_digest(&digest.to_string())
    )];
    if !others.is_empty() {
        consequences.push(format!(
            "Other tags on the same manifest stay: {}.",
            others.join(", ")
        ));
    }
    consequences.push(format!(
        "Clients pulling {name}:{tag} get \"manifest unknown\" until the tag is pushed again."
    ));
    let page = Confirm {
        layout: Layout::new(viewer, format!("Delete {name}:{tag}")),
        question: format!("Delete the tag {tag} of {name}?"),
        consequences,
        action: format!("{}/delete", format::tag_href(name, tag.as_str())),
        button: "Delete tag".into(),
        cancel: format::tag_href(name, tag.as_str()),
        hidden: Vec::new(),
    };
    Ok(render(viewer, &page))
}

/// `POST …/-/tags/<tag>/delete`.
pub async fn tag(
    viewer: &Viewer,
    req: &HttpRequest,
    body: &[u8],
    registry: &Registry,
    gate: &Gate,
    repo: &RepoName,
    tag: &Tag,
) -> PageResult {
    let form: DeleteForm = forms::parse(body)?;
    viewer.check_csrf(&form.csrf)?;
    let name = repo.as_str();
    viewer.require(gate, Action::Delete, name)?;
    let digest = tag_digest(registry, repo, tag).await?;
    registry
        .delete_manifest(repo, &Reference::Tag(tag.clone()))
        .await
        .map_err(|e| gone_or(e, || no_tag(name, tag.as_str())))?;
    audit(
        viewer,
        req,
        gate,
        &format!("{name}:{tag}"),
        &digest.to_string(),
    )
    .await;
    Ok(redirect(
        &format::repo_href(name),
        &format!(
            "Deleted the tag {tag} of {name}. Its manifest {} stays, reachable by digest.",
            format::short_digest(&digest.to_string())
        ),
    ))
}

/// `GET …/-/manifests/<digest>/delete`.
pub async fn confirm_manifest(
    viewer: &Viewer,
    registry: &Registry,
    gate: &Gate,
    repo: &RepoName,
    digest: &Digest,
) -> PageResult {
    let name = repo.as_str();
    viewer.require(gate, Action::Delete, name)?;
    let view = registry
        .manifest_view(repo, digest)
        .await?
        .ok_or_else(|| no_manifest(name, &digest.to_string()))?;
    let mut consequences = vec![format!(
        "The manifest {digest} goes: pulls by this digest get \"manifest unknown\"."
    )];
    consequences.push(match view.tags.len() {
        0 => "No tag points at it.".to_owned(),
        1 => format!("The tag pointing at it goes too: {}.", view.tags[0]),
        n => format!(
            "The {n} tags pointing at it go too: {}.",
            view.tags.join(", ")
        ),
    });
    if !view.variants.is_empty() {
        let kinds: Vec<&str> = view.variants.iter().map(|(k, _)| k.as_str()).collect();
        consequences.push(format!(
            "The forms hoist made of it for other clients go too ({}); they are made again if it is pushed again.",
            kinds.join(", ")
        ));
    }
    let referrers = registry.referrers(repo, digest, None).await?.len();
    if referrers > 0 {
        consequences.push(format!(
            "{referrers} signature{} or other artifact{} referring to it stay, referring to nothing; delete them on their own pages.",
            if referrers == 1 { "" } else { "s" },
            if referrers == 1 { "" } else { "s" },
        ));
    }
    if !view.children.is_empty() {
        consequences.push(
            "Its platform manifests stay, reachable by their digests (delete them on their own pages)."
                .to_owned(),
        );
    }
    let page = Confirm {
        layout: Layout::new(
            viewer,
            format!("Delete {name}@{}", format::short_digest(&view.digest)),
        ),
        question: format!(
            "Delete the manifest {} of {name}?",
            format::short_digest(&view.digest)
        ),
        consequences,
        action: format!("{}/delete", format::manifest_href(name, &view.digest)),
        button: "Delete manifest".into(),
        cancel: format::manifest_href(name, &view.digest),
        hidden: Vec::new(),
    };
    Ok(render(viewer, &page))
}

/// `POST …/-/manifests/<digest>/delete`.
pub async fn manifest(
    viewer: &Viewer,
    req: &HttpRequest,
    body: &[u8],
    registry: &Registry,
    gate: &Gate,
    repo: &RepoName,
    digest: &Digest,
) -> PageResult {
    let form: DeleteForm = forms::parse(body)?;
    viewer.check_csrf(&form.csrf)?;
    let name = repo.as_str();
    viewer.require(gate, Action::Delete, name)?;
    let tags = registry
        .manifest_view(repo, digest)
        .await?
        .map(|v| v.tags)
        .unwrap_or_default();
    registry
        .delete_manifest(repo, &Reference::Digest(digest.clone()))
        .await
        .map_err(|e| gone_or(e, || no_manifest(name, &digest.to_string())))?;
    audit(
        viewer,
        req,
        gate,
        &format!("{name}:{digest}"),
        &digest.to_string(),
    )
    .await;
    let with = match tags.len() {
        0 => String::new(),
        1 => format!(" with its tag {}", tags[0]),
        _ => format!(" with its tags {}", tags.join(", ")),
    };
    Ok(redirect(
        &format::repo_href(name),
        &format!(
            "Deleted the manifest {} of {name}{with}.",
            format::short_digest(&digest.to_string())
        ),
    ))
}

/// The digest `tag` points at, or the 404 page saying which tag is missing.
async fn tag_digest(
    registry: &Registry,
    repo: &RepoName,
    tag: &Tag,
) -> Result<Digest, crate::admin::render::ConsoleError> {
    let variants = registry
        .tag_variants(repo, tag)
        .await
        .map_err(|e| gone_or(e, || no_tag(repo.as_str(), tag.as_str())))?;
    variants
        .first()
        .and_then(|v| Digest::parse(&v.digest).ok())
        .ok_or_else(|| no_tag(repo.as_str(), tag.as_str()))
}

/// "Not there" from the registry as the page's own 404; anything else as it is.
fn gone_or(
    e: RegistryError,
    missing: impl FnOnce() -> crate::admin::render::ConsoleError,
) -> crate::admin::render::ConsoleError {
    match e {
        RegistryError::ManifestUnknown(_) | RegistryError::NameUnknown(_) => missing(),
        other => other.into(),
    }
}

/// Console deletes go to the audit log like `DELETE /v2/…` ones (with access control on).
async fn audit(viewer: &Viewer, req: &HttpRequest, gate: &Gate, target: &str, digest: &str) {
    if viewer.auth_enabled {
        gate.auth
            .audit(
                &viewer.name(),
                Gate::address(req),
                "delete",
                target,
                "ok",
                digest,
            )
            .await;
    }
}
