//! The repository pages: every repository the viewer may pull (search, sort, pages), a
//! repository's tags, a tag's every digest with pull commands, which client gets which form
//! and the tag's history, a manifest's layers, config, platforms and referrers, and deleting
//! tags and manifests through a confirmation page.
//!
//! Repository names hold slashes, so everything under a repository is one route,
//! `/repositories/{tail}`, split at `/-/` (which no name can contain).

mod clients;
mod delete;
mod list;
mod manifest;
mod repository;
mod tag;
mod view;

use super::render::{ConsoleError, PageResult};
use super::viewer::Viewer;
use crate::auth::Action;
use crate::http::gate::Gate;
use crate::oci::{Digest, RepoName, Tag};
use crate::registry::Registry;
use actix_web::{web, HttpRequest};

// Everything under a repository goes through one pattern per method (names have slashes);
// `parse` below tells the pages apart, and its test covers each example.
routes! {
    GET "/repositories" ["/repositories"] Console => list::page;
    GET "/repositories/{tail:.*}" [
        "/repositories/team/app",
        "/repositories/team/app/-/tags/latest",
        "/repositories/team/app/-/tags/latest/delete",
        concat!("/repositories/team/app/-/manifests/", "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"),
        concat!("/repositories/team/app/-/manifests/", "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae/delete"),
    ] Console => get;
    POST "/repositories/{tail:.*}" [
        "/repositories/team/app/-/tags/latest/delete",
        concat!("/repositories/team/app/-/manifests/", "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae/delete"),
    ] Console => post;
}

/// What a path under `/repositories/` names.
#[derive(Debug, PartialEq)]
enum Target {
    Repository(RepoName),
    Tag {
        repo: RepoName,
        tag: Tag,
        delete: bool,
    },
    Manifest {
        repo: RepoName,
        digest: Digest,
        delete: bool,
    },
}

/// `team/app`, `team/app/-/tags/1.0[/delete]`, `team/app/-/manifests/sha256:…[/delete]`.
fn parse(tail: &str) -> Result<Target, ConsoleError> {
    let tail = tail.trim_end_matches('/');
    let (name, rest) = tail.split_once("/-/").unwrap_or((tail, ""));
    let repo = RepoName::parse(name).map_err(|_| no_repository(name))?;
    if rest.is_empty() {
        return Ok(Target::Repository(repo));
    }
    let (what, rest) = rest.split_once('/').unwrap_or((rest, ""));
    let (reference, delete) = match rest.strip_suffix("/delete") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    match what {
        "tags" => match Tag::parse(reference) {
            Ok(tag) => Ok(Target::Tag { repo, tag, delete }),
            Err(_) => Err(no_tag(repo.as_str(), reference)),
        },
        "manifests" => match Digest::parse(reference) {
            Ok(digest) => Ok(Target::Manifest {
                repo,
                digest,
                delete,
            }),
            Err(_) => Err(no_manifest(repo.as_str(), reference)),
        },
        _ => Err(ConsoleError::NotFound(format!(
            "There is no page {tail} in the repositories."
        ))),
    }
}

async fn get(
    viewer: Viewer,
    req: HttpRequest,
    registry: web::Data<Registry>,
    gate: web::Data<Gate>,
) -> PageResult {
    let target = parse(req.match_info().get("tail").unwrap_or(""))?;
    let pull = |repo: &RepoName| visible(&viewer, &gate, repo);
    match target {
        Target::Repository(repo) => {
            pull(&repo)?;
            repository::page(&viewer, &req, &registry, &gate, &repo).await
        }
        Target::Tag { repo, tag, delete } => {
            pull(&repo)?;
            if delete {
                delete::confirm_tag(&viewer, &registry, &gate, &repo, &tag).await
            } else {
                tag::page(&viewer, &req, &registry, &gate, &repo, &tag).await
            }
        }
        Target::Manifest {
            repo,
            digest,
            delete,
        } => {
            pull(&repo)?;
            if delete {
                delete::confirm_manifest(&viewer, &registry, &gate, &repo, &digest).await
            } else {
                manifest::page(&viewer, &req, &registry, &gate, &repo, &digest).await
            }
        }
    }
}

async fn post(
    viewer: Viewer,
    req: HttpRequest,
    body: web::Bytes,
    registry: web::Data<Registry>,
    gate: web::Data<Gate>,
) -> PageResult {
    let target = parse(req.match_info().get("tail").unwrap_or(""))?;
    match target {
        Target::Tag {
            repo,
            tag,
            delete: true,
        } => delete::tag(&viewer, &req, &body, &registry, &gate, &repo, &tag).await,
        Target::Manifest {
            repo,
            digest,
            delete: true,
        } => delete::manifest(&viewer, &req, &body, &registry, &gate, &repo, &digest).await,
        _ => Err(ConsoleError::NotFound(
            "Nothing here takes a form; deleting goes through a tag's or a manifest's delete page."
                .into(),
        )),
    }
}

/// A repository the viewer may not pull is one they cannot see: 404, as if it did not exist,
/// so names cannot be probed.
fn visible(viewer: &Viewer, gate: &Gate, repo: &RepoName) -> Result<(), ConsoleError> {
    if viewer.may(gate, Action::Pull, repo.as_str()) {
        Ok(())
    } else {
        Err(no_repository(repo.as_str()))
    }
}

fn no_repository(name: &str) -> ConsoleError {
    ConsoleError::NotFound(format!("There is no repository {name}."))
}

fn no_tag(repo: &str, tag: &str) -> ConsoleError {
    ConsoleError::NotFound(format!("The repository {repo} has no tag {tag}."))
}

fn no_manifest(repo: &str, digest: &str) -> ConsoleError {
    ConsoleError::NotFound(format!("The repository {repo} has no manifest {digest}."))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

    #[test]
    fn paths_under_a_repository_split_at_the_separator() {
        let repo = |s: &str| RepoName::parse(s).expect("name");
        assert_eq!(
            parse("team/app").expect("repo"),
            Target::Repository(repo("team/app"))
        );
        assert_eq!(
            parse("a/b/c/").expect("repo"),
            Target::Repository(repo("a/b/c"))
        );
        assert_eq!(
            parse("team/app/-/tags/1.0").expect("tag"),
            Target::Tag {
                repo: repo("team/app"),
                tag: Tag::parse("1.0").expect("tag"),
                delete: false
            }
        );
        assert_eq!(
            parse("team/app/-/tags/latest/delete").expect("tag"),
            Target::Tag {
                repo: repo("team/app"),
                tag: Tag::parse("latest").expect("tag"),
                delete: true
            }
        );
        assert_eq!(
            parse(&format!("x/-/manifests/{D}/delete")).expect("manifest"),
            Target::Manifest {
                repo: repo("x"),
                digest: Digest::parse(D).expect("digest"),
                delete: true
            }
        );
        let message = |r: Result<Target, ConsoleError>| match r {
            Err(ConsoleError::NotFound(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            message(parse("Team/App")),
            "There is no repository Team/App."
        );
        assert_eq!(
            message(parse("a/-/tags/<x>")),
            "The repository a has no tag <x>."
        );
        assert_eq!(
            message(parse("a/-/manifests/sha256:zz")),
            "The repository a has no manifest sha256:zz."
        );
        assert!(parse("a/-/blobs/x").is_err());
        // A tag named "delete" is a tag, not a delete.
        assert_eq!(
            parse("a/-/tags/delete").expect("tag"),
            Target::Tag {
                repo: repo("a"),
                tag: Tag::parse("delete").expect("tag"),
                delete: false
            }
        );
    }
}
