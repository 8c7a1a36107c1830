//! The client's `Accept` header, reduced to which manifest formats it can read.
//! Like distribution: every header line is split on commas, parameters (`;q=…`) are dropped,
//! types compare exactly. Unlike distribution, `*/*` means "anything".

use super::media_types as mt;
use super::ManifestKind;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Accept {
    pub schema1: bool,
    pub schema2: bool,
    pub list: bool,
    pub oci: bool,
    pub oci_index: bool,
    pub any: bool,
}

impl Accept {
    /// Parse every `Accept` header line a request carried.
    pub fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> Accept {
        let mut a = Accept::default();
        for line in lines {
            for item in line.split(',') {
                match mt::essence(item) {
                    mt::DOCKER_SCHEMA1_SIGNED | mt::DOCKER_SCHEMA1 | "application/json" => {
                        a.schema1 = true
                    }
                    mt::DOCKER_SCHEMA2 => a.schema2 = true,
                    mt::DOCKER_LIST => a.list = true,
                    mt::OCI_MANIFEST => a.oci = true,
                    mt::OCI_INDEX => a.oci_index = true,
                    "*/*" => a.any = true,
                    _ => {}
                }
            }
        }
        a
    }

    /// Can the client read this format as it is?
    pub fn accepts(&self, kind: ManifestKind) -> bool {
        self.any
            || match kind {
                ManifestKind::Schema1 => self.schema1,
                ManifestKind::Schema2 => self.schema2,
                ManifestKind::DockerList => self.list,
                ManifestKind::OciManifest => self.oci,
                ManifestKind::OciIndex => self.oci_index,
            }
    }

    /// Does the client read any format newer than schema1? (Docker 26+ lists schema1 in
    /// Accept but refuses it, so this decides who gets an up-converted schema1.)
    pub fn reads_modern(&self) -> bool {
        self.any || self.schema2 || self.oci
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_commas_and_parameters() {
        let a = Accept::parse([
            "application/vnd.docker.distribution.manifest.v2+json; q=0.9, application/vnd.oci.image.index.v1+json",
            " application/vnd.docker.distribution.manifest.list.v2+json ",
        ]);
        assert!(a.schema2 && a.oci_index && a.list);
        assert!(!a.oci && !a.schema1 && !a.any);
    }

    #[test]
    fn nothing_sent_accepts_nothing_modern() {
        let a = Accept::parse([]);
        assert_eq!(a, Accept::default());
        assert!(!a.reads_modern());
        assert!(!a.accepts(ManifestKind::Schema1));
    }

    #[test]
    fn wildcard_accepts_everything() {
        let a = Accept::parse(["*/*"]);
        for kind in [
            ManifestKind::Schema1,
            ManifestKind::Schema2,
            ManifestKind::DockerList,
            ManifestKind::OciManifest,
            ManifestKind::OciIndex,
        ] {
            assert!(a.accepts(kind));
        }
    }

    #[test]
    fn legacy_json_means_schema1() {
        assert!(Accept::parse(["application/json"]).schema1);
        assert!(Accept::parse(["application/vnd.docker.distribution.manifest.v1+json"]).schema1);
    }
}
