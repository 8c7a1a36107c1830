//! The form a client gets (docs/ARCHITECTURE.md, "Product rules"): one step of the choice at a
//! time, as a pure function. The registry applies a step (load a child, look up or compute a
//! variant) and asks again with the result, until it can serve something or nothing fits.

use super::accept::Accept;
use super::ManifestKind;

/// How a request names the manifest: by digest nothing is ever converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressed {
    ByTag,
    ByDigest,
}

/// The next step for a manifest of some kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The client reads it: serve these bytes.
    Serve,
    /// Map between the Docker and OCI families (same content, other media types).
    MapTo(ManifestKind),
    /// A list or index the client cannot read: take the child for the default platform.
    PlatformChild,
    /// Docker schema2 to signed schema1, for clients that read nothing newer.
    ToSchema1,
    /// Stored schema1 to schema2, for clients that read schema2 or OCI.
    UpConvert,
    /// No form the client can read: 404 naming the formats that exist.
    Unavailable,
}

/// Decide the next step for a manifest of `kind`. `maps_to_docker` says whether an OCI
/// manifest or index can be expressed with Docker media types (no zstd layers, no artifacts).
pub fn next_step(
    kind: ManifestKind,
    accept: &Accept,
    addressed: Addressed,
    maps_to_docker: bool,
) -> Step {
    use ManifestKind::*;
    if addressed == Addressed::ByDigest {
        // The bytes must match the digest. OCI types go only to clients that name them, as
        // distribution does, so old Docker gets "manifest unknown" instead of a parse error.
        let oci = matches!(kind, OciManifest | OciIndex);
        return if oci && !accept.accepts(kind) {
            Step::Unavailable
        } else {
            Step::Serve
        };
    }
    if kind == Schema1 {
        return if accept.reads_modern() {
            Step::UpConvert
        } else {
            Step::Serve
        };
    }
    if accept.accepts(kind) {
        return Step::Serve;
    }
    match kind {
        DockerList if accept.oci_index => Step::MapTo(OciIndex),
        OciIndex if accept.list && maps_to_docker => Step::MapTo(DockerList),
        DockerList | OciIndex => Step::PlatformChild,
        Schema2 if accept.oci => Step::MapTo(OciManifest),
        Schema2 => Step::ToSchema1,
        // Towards schema2, then schema1 for clients that read neither family.
        OciManifest if maps_to_docker => Step::MapTo(Schema2),
        OciManifest => Step::Unavailable,
        Schema1 => Step::Serve,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ManifestKind::*;

    fn accept(lines: &[&str]) -> Accept {
        Accept::parse(lines.iter().copied())
    }

    const S2: &str = "application/vnd.docker.distribution.manifest.v2+json";
    const LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    const OCI: &str = "application/vnd.oci.image.manifest.v1+json";
    const INDEX: &str = "application/vnd.oci.image.index.v1+json";

    /// Follow steps from `kind` with a platform child of `child` kind; returns the path.
    fn path(kind: ManifestKind, child: ManifestKind, a: &Accept) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut current = kind;
        for _ in 0..6 {
            let step = next_step(current, a, Addressed::ByTag, true);
            steps.push(step);
            current = match step {
                Step::MapTo(k) => k,
                Step::PlatformChild => child,
                Step::UpConvert => Schema2,
                Step::Serve | Step::ToSchema1 | Step::Unavailable => return steps,
            };
        }
        panic!("no end: {steps:?}");
    }

    #[test]
    fn old_docker_gets_schema1_from_every_format() {
        let none = accept(&[]);
        assert_eq!(path(Schema2, Schema2, &none), [Step::ToSchema1]);
        assert_eq!(
            path(OciManifest, OciManifest, &none),
            [Step::MapTo(Schema2), Step::ToSchema1]
        );
        assert_eq!(
            path(DockerList, Schema2, &none),
            [Step::PlatformChild, Step::ToSchema1]
        );
        assert_eq!(
            path(OciIndex, OciManifest, &none),
            [Step::PlatformChild, Step::MapTo(Schema2), Step::ToSchema1]
        );
        assert_eq!(path(Schema1, Schema1, &none), [Step::Serve]);
    }

    #[test]
    fn modern_clients_get_modern_forms() {
        let docker_1_10 = accept(&[
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            "application/json",
            S2,
            LIST,
        ]);
        assert_eq!(path(Schema2, Schema2, &docker_1_10), [Step::Serve]);
        assert_eq!(path(DockerList, Schema2, &docker_1_10), [Step::Serve]);
        assert_eq!(
            path(OciManifest, OciManifest, &docker_1_10),
            [Step::MapTo(Schema2), Step::Serve]
        );
        assert_eq!(
            path(OciIndex, OciManifest, &docker_1_10),
            [Step::MapTo(DockerList), Step::Serve]
        );
        // Docker 26+ lists schema1 but cannot read it: stored schema1 goes up.
        assert_eq!(
            path(Schema1, Schema1, &docker_1_10),
            [Step::UpConvert, Step::Serve]
        );
        let oci_only = accept(&[OCI, INDEX]);
        assert_eq!(
            path(Schema2, Schema2, &oci_only),
            [Step::MapTo(OciManifest), Step::Serve]
        );
        assert_eq!(
            path(DockerList, Schema2, &oci_only),
            [Step::MapTo(OciIndex), Step::Serve]
        );
        assert_eq!(
            path(Schema1, Schema1, &oci_only),
            [Step::UpConvert, Step::MapTo(OciManifest), Step::Serve]
        );
        let s2_only = accept(&[S2]);
        assert_eq!(
            path(DockerList, Schema2, &s2_only),
            [Step::PlatformChild, Step::Serve]
        );
    }

    #[test]
    fn unmappable_oci_is_unavailable_to_docker_only_clients() {
        let s2 = accept(&[S2]);
        assert_eq!(
            next_step(OciManifest, &s2, Addressed::ByTag, false),
            Step::Unavailable
        );
        assert_eq!(
            next_step(OciIndex, &s2, Addressed::ByTag, false),
            Step::PlatformChild
        );
    }

    #[test]
    fn by_digest_nothing_is_converted() {
        let none = accept(&[]);
        for kind in [Schema1, Schema2, DockerList] {
            assert_eq!(
                next_step(kind, &none, Addressed::ByDigest, true),
                Step::Serve
            );
        }
        for kind in [OciManifest, OciIndex] {
            assert_eq!(
                next_step(kind, &none, Addressed::ByDigest, true),
                Step::Unavailable
            );
            assert_eq!(
                next_step(kind, &accept(&["*/*"]), Addressed::ByDigest, true),
                Step::Serve
            );
        }
    }
}
