//! A rule's preview as its form shows it: per repository, the tags kept with digest, media
//! type, platforms and bytes; the tags left out; totals; whether it was cut short.

use crate::admin::format;
use crate::sync::settings::Mode;
use crate::sync::{Preview, PREVIEW_REPOS, PREVIEW_TAGS};

pub struct PreviewView {
    pub repositories: Vec<RepoView>,
    pub tag_count: usize,
    pub total_bytes: String,
    /// What the sync itself fetches, in words ("all of it", "configs only: 12 KiB").
    pub now_text: String,
    /// Why the preview is partial, if it is.
    pub truncated: Option<String>,
}

pub struct RepoView {
    pub upstream_repository: String,
    pub local_repository: String,
    pub tags: Vec<TagView>,
    pub more_tags: usize,
    pub left_out_tags: usize,
    pub note: Option<String>,
}

pub struct TagView {
    pub tag: String,
    pub digest: String,
    pub short_digest: String,
    pub media_type: String,
    pub media_label: String,
    pub platforms_kept: String,
    pub platforms_left_out: String,
    pub bytes: String,
    pub error: Option<String>,
}

impl PreviewView {
    pub fn new(p: &Preview, mode: Mode) -> PreviewView {
        let repositories: Vec<RepoView> = p
            .repositories
            .iter()
            .map(|r| RepoView {
                upstream_repository: r.upstream_repository.clone(),
                local_repository: r.local_repository.clone(),
                tags: r
                    .tags
                    .iter()
                    .map(|t| TagView {
                        tag: t.tag.clone(),
                        digest: t.digest.clone(),
                        short_digest: format::short_digest(&t.digest),
                        media_type: t.media_type.clone(),
                        media_label: super::views::media_label(&t.media_type),
                        platforms_kept: if t.platforms_kept.is_empty() {
                            "(one image)".into()
                        } else {
                            t.platforms_kept.join(", ")
                        },
                        platforms_left_out: t.platforms_left_out.join(", "),
                        bytes: if t.error.is_some() {
                            String::new()
                        } else if t.bytes_known {
                            format::bytes(t.bytes)
                        } else {
                            "unknown (schema1)".into()
                        },
                        error: t.error.clone(),
                    })
                    .collect(),
                more_tags: r.more_tags,
                left_out_tags: r.left_out_tags,
                note: r.note.clone(),
            })
            .collect();
        let mut cut = Vec::new();
        if p.more_repositories > 0 {
            cut.push(format!(
                "{} more repositories under the prefix were not looked at (the preview reads the first {PREVIEW_REPOS})",
                p.more_repositories
            ));
        }
        if p.repositories.iter().any(|r| r.more_tags > 0) {
            cut.push(format!(
                "only the first {PREVIEW_TAGS} tags of each repository were read"
            ));
        }
        let truncated = (p.truncated || !cut.is_empty()).then(|| {
            let mut text = format!("Truncated: {}.", cut.join("; "));
            if cut.is_empty() {
                text = "Truncated: the upstream has more than the preview read.".into();
            }
            text + " The totals cover what was read."
        });
        let now_text = match mode {
            Mode::Immediate => "A sync fetches all of it.".to_owned(),
            Mode::OnDemand => format!(
                "On demand: a sync fetches the manifests and configs ({}); layers come on their first pull.",
                format::bytes(p.now_bytes)
            ),
        };
        PreviewView {
            tag_count: repositories.iter().map(|r| r.tags.len()).sum(),
            repositories,
            total_bytes: format::bytes(p.total_bytes),
            now_text,
            truncated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::{PreviewRepo, PreviewTag};

    #[test]
    fn a_preview_reads_as_text() {
        let p = Preview {
            repositories: vec![PreviewRepo {
                upstream_repository: "lib/app".into(),
                local_repository: "mirror/app".into(),
                tags: vec![
                    PreviewTag {
                        tag: "multi".into(),
                        digest: format!("sha256:{}", "a".repeat(64)),
                        media_type: "application/vnd.docker.distribution.manifest.list.v2+json"
                            .into(),
                        platforms_kept: vec!["linux/amd64".into()],
                        platforms_left_out: vec!["linux/arm64/v8".into()],
                        bytes: 3 * 1024,
                        bytes_known: true,
                        error: None,
                    },
                    PreviewTag {
                        tag: "bad".into(),
                        error: Some("not found upstream".into()),
                        ..PreviewTag::default()
                    },
                ],
                more_tags: 2,
                left_out_tags: 5,
                note: None,
            }],
            total_bytes: 3 * 1024,
            now_bytes: 100,
            truncated: true,
            more_repositories: 0,
        };
        let v = PreviewView::new(&p, Mode::OnDemand);
        let t = &v.repositories[0].tags[0];
        assert_eq!(t.platforms_kept, "linux/amd64");
        assert_eq!(t.media_label, "Docker list");
        assert_eq!(t.platforms_left_out, "linux/arm64/v8");
        assert_eq!(t.bytes, "3.00 KiB");
        assert_eq!(t.short_digest, "sha256:aaaaaaaaaaaa");
        assert_eq!(v.repositories[0].tags[1].bytes, "");
        assert_eq!(v.tag_count, 2);
        assert!(v.now_text.contains("100 B"));
        let cut = v.truncated.expect("truncated");
        assert!(cut.contains("first 20 tags"), "{cut}");
    }
}
