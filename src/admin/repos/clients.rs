//! Which client gets which form of a tag: real clients' `Accept` headers, each answered by
//! the registry's own walk over what is stored (`Registry::client_forms`), so the table
//! says what a pull gets and cannot drift from it.

use crate::oci::accept::Accept;
use crate::oci::media_types as mt;

/// A client and the `Accept` header lines it sends for a manifest.
pub struct Client {
    pub name: &'static str,
    pub accept: &'static [&'static str],
}

const CONTAINERD: &str = "application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, */*";

/// The clients the table shows, oldest first (the headers recorded in tests/fixtures).
pub const CLIENTS: &[Client] = &[
    Client {
        name: "Docker 1.6–1.9 (schema 1 only)",
        accept: &[],
    },
    Client {
        name: "Docker 1.10–18.09",
        accept: &[
            mt::DOCKER_SCHEMA1_SIGNED,
            "application/json",
            mt::DOCKER_SCHEMA2,
            mt::DOCKER_LIST,
        ],
    },
    Client {
        name: "Docker 19.03 and later",
        accept: &[
            mt::DOCKER_SCHEMA1_SIGNED,
            "application/json",
            mt::DOCKER_SCHEMA2,
            mt::DOCKER_LIST,
            mt::OCI_MANIFEST,
            mt::OCI_INDEX,
        ],
    },
    Client {
        name: "containerd, nerdctl, Kubernetes",
        accept: &[CONTAINERD],
    },
    Client {
        name: "podman, skopeo, buildah",
        accept: &[
            mt::OCI_MANIFEST,
            mt::DOCKER_SCHEMA2,
            mt::DOCKER_SCHEMA1_SIGNED,
            mt::DOCKER_SCHEMA1,
            mt::DOCKER_LIST,
            mt::OCI_INDEX,
        ],
    },
    Client {
        name: "A client reading only OCI",
        accept: &[mt::OCI_MANIFEST, mt::OCI_INDEX],
    },
    Client {
        name: "A client reading schema 2 but no lists",
        accept: &[mt::DOCKER_SCHEMA2],
    },
    Client {
        name: "curl and anything sending */*",
        accept: &["*/*"],
    },
];

impl Client {
    /// The header as one line (the lines a client sends, joined as HTTP allows).
    pub fn header(&self) -> String {
        self.accept.join(", ")
    }

    pub fn parsed(&self) -> Accept {
        Accept::parse(self.accept.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::ManifestKind;

    #[test]
    fn the_clients_read_what_they_are_known_to() {
        let read = |i: usize| CLIENTS[i].parsed();
        assert_eq!(read(0), Accept::default());
        assert!(read(1).list && read(1).schema2 && !read(1).oci);
        assert!(read(2).oci_index && read(2).list);
        assert!(read(3).any);
        assert!(read(4).oci && read(4).list);
        assert!(read(5).accepts(ManifestKind::OciIndex) && !read(5).schema2);
        assert!(!read(6).list && read(6).schema2);
        // One joined line means what the separate lines do.
        for c in CLIENTS {
            assert_eq!(
                Accept::parse([c.header().as_str()]),
                c.parsed(),
                "{}",
                c.name
            );
        }
    }
}
