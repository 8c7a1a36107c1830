//! Every cell of distribution 2.8.2's recorded GET/HEAD matrix (tests/fixtures/responses/
//! matrix.md), answered by hoist's choice of variant. Where hoist answers differently on
//! purpose, `DEVIATIONS` names the cell and why; any other difference fails.

use super::accept::Accept;
use super::negotiate::{next_step, Addressed, Step};
use super::ManifestKind::{self, *};

const MATRIX: &str = include_str!("../../tests/fixtures/responses/matrix.md");

/// The Accept lines of each client profile (docs/FORMATS.md, section 4.4).
fn profile(name: &str) -> Vec<&'static str> {
    const S1: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
    const S1U: &str = "application/vnd.docker.distribution.manifest.v1+json";
    const S2: &str = "application/vnd.docker.distribution.manifest.v2+json";
    const LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    const OCI: &str = "application/vnd.oci.image.manifest.v1+json";
    const INDEX: &str = "application/vnd.oci.image.index.v1+json";
    match name {
        "none" => vec![],
        "s1" => vec![S1],
        "s1unsigned" => vec![S1U],
        "appjson" => vec!["application/json"],
        "s2" => vec![S2],
        "list" => vec![LIST],
        "s2+list" => vec!["application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json"],
        "oci" => vec![OCI],
        "ociindex" => vec![INDEX],
        "oci+index" => vec!["application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"],
        "docker1.10-18.09" => vec![S1, "application/json", S2, LIST],
        "docker19-28" => vec![S1, "application/json", S2, LIST, OCI, INDEX],
        "containerd" => vec!["application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, */*"],
        "containers-image" => vec![OCI, S2, S1, S1U, LIST, INDEX],
        "wildcard" => vec!["*/*"],
        "s2-qparam" => vec!["application/vnd.docker.distribution.manifest.v2+json; q=0.9"],
        other => panic!("unknown profile {other}"),
    }
}

/// What is stored under a matrix row, and the kind of its linux/amd64 child.
fn row(name: &str) -> Option<(ManifestKind, ManifestKind, Addressed)> {
    let (addressed, what) = if let Some(w) = name.strip_prefix("tag-") {
        (Addressed::ByTag, w)
    } else {
        (Addressed::ByDigest, name.strip_prefix("dgst-")?)
    };
    let (kind, child) = match what {
        "v2s2" => (Schema2, Schema2),
        "oci" => (OciManifest, OciManifest),
        "v2s1" => (Schema1, Schema1),
        "list" => (DockerList, Schema2),
        "index" | "index-nomediatype" => (OciIndex, OciManifest),
        "listmixed" => (DockerList, OciManifest),
        // If-None-Match and converted-digest rows are about the registry, not the choice:
        // tests/it/formats.rs covers them.
        _ => return None,
    };
    Some((kind, child, addressed))
}

fn label(kind: ManifestKind) -> &'static str {
    match kind {
        Schema1 => "s1",
        Schema2 => "s2",
        DockerList => "ML",
        OciManifest => "OM",
        OciIndex => "OI",
    }
}

/// hoist's answer: the type label of what it serves, or `err` for 404.
fn hoist_answer(
    kind: ManifestKind,
    child: ManifestKind,
    accept: &Accept,
    addressed: Addressed,
) -> &'static str {
    let mut current = kind;
    for _ in 0..6 {
        current = match next_step(current, accept, addressed, true) {
            Step::Serve => return label(current),
            Step::ToSchema1 => return "s1",
            Step::Unavailable => return "err",
            Step::MapTo(k) => k,
            Step::PlatformChild => child,
            Step::UpConvert => Schema2,
        };
    }
    panic!("no answer");
}

/// Why hoist's answer differs from distribution 2.8.2 in a cell, if it does on purpose.
/// Each rule names the rows, the clients and the exact answer hoist must give there.
fn deviation(row: &str, profile: &str, ours: &str) -> Option<&'static str> {
    let oci_client = matches!(profile, "oci" | "ociindex" | "oci+index");
    match (row, ours) {
        (_, _) if profile == "wildcard" && matches!(ours, "s2" | "ML" | "OM" | "OI") => {
            Some("*/* accepts anything; distribution ignores it and treats the client as Docker 1.9")
        }
        ("tag-oci" | "tag-index", "s1" | "s2" | "ML" | "OM") => Some(
            "OCI content reaches clients without OCI in Accept, mapped to Docker or down to schema1; distribution answers 404",
        ),
        ("tag-v2s1", "s2" | "OM") => Some(
            "a stored schema1 goes to clients that read schema2 or OCI as its up-converted schema2 (Docker 26+ refuse schema1)",
        ),
        ("tag-v2s2" | "tag-list" | "tag-listmixed", "OM" | "OI") if oci_client => Some(
            "clients that read only OCI get the OCI mapping; distribution sends them schema1",
        ),
        ("tag-listmixed", "s1" | "s2") => Some(
            "the list's OCI child is converted for clients that cannot read OCI; distribution hands it over as is",
        ),
        ("tag-index-nomediatype", _) => Some(
            "an index without mediaType is an OCI index and follows the Accept rules; distribution serves it to everyone",
        ),
        _ => None,
    }
}

#[test]
fn every_matrix_cell_matches_distribution_or_a_named_deviation() {
    let mut lines = MATRIX.lines();
    let header: Vec<&str> = lines
        .next()
        .expect("header")
        .split('|')
        .map(str::trim)
        .collect();
    let profiles = &header[5..header.len() - 1];
    let mut unexplained = Vec::new();
    let mut cells = 0;
    let mut deviations = 0;
    for line in lines.skip(1) {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        let (row_name, method) = (cols[3], cols[4]);
        let Some((kind, child, addressed)) = row(row_name) else {
            continue;
        };
        for (i, p) in profiles.iter().enumerate() {
            let cell = cols[5 + i];
            if cell.is_empty() {
                continue;
            }
            cells += 1;
            let theirs = cell.split_whitespace().nth(1).expect("type");
            let accept = Accept::parse(profile(p));
            let ours = hoist_answer(kind, child, &accept, addressed);
            deviations += usize::from(ours != theirs);
            if ours != theirs && deviation(row_name, p, ours).is_none() {
                unexplained.push(format!(
                    "{row_name} {method} {p}: distribution {theirs}, hoist {ours}"
                ));
            }
        }
    }
    assert!(cells >= 248, "read {cells} cells");
    assert!(
        deviations >= 70,
        "{deviations} deviations: the rules must still be exercised"
    );
    assert!(
        unexplained.is_empty(),
        "unexplained differences:\n{}",
        unexplained.join("\n")
    );
}
