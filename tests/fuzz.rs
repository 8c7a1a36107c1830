//! Property-based fuzzing of the parsers that read untrusted bytes: manifests, schema1
//! signatures and payloads, image configs, Accept headers. They may refuse anything; they
//! must never panic. CI runs the default case count; for a long run:
//! `PROPTEST_CASES=200000 cargo test --release --test fuzz`.

use hoist::oci::accept::Accept;
use hoist::oci::gojson::GoTime;
use hoist::oci::schema1::jws;
use hoist::oci::schema1::to_schema1;
use hoist::oci::schema1::to_schema2::Schema1Image;
use hoist::oci::{Manifest, Reference, RepoName};
use proptest::prelude::*;

fn fixture(path: &str) -> Vec<u8> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/");
    std::fs::read(format!("{root}{path}")).expect("fixture")
}

/// Real inputs to mutate: every manifest shape we know, signed and unsigned schema1.
fn seeds() -> Vec<Vec<u8>> {
    [
        "pushed/simple.v2s2.manifest.json",
        "pushed/simple.oci.manifest.json",
        "pushed/list-simple.json",
        "pushed/index-simple.json",
        "pushed/index-simple-nomediatype.json",
        "responses/put/input-signed-s1.json",
        "responses/put/input-unsigned-s1.json",
        "canonical/distribution-converted__test_simple__v2s2.canonical.json",
        "layout/simple/blobs/sha256/4123566b622d104aec09e2baf1a440931c971de7e80cc3231158a837cb67db86",
    ]
    .iter()
    .map(|p| fixture(p))
    .collect()
}

/// A seed with a few random edits: byte flips, deletions, insertions of JSON-ish bytes.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let edits = prop::collection::vec(
        (
            any::<usize>(),
            0u8..3,
            prop::sample::select(b"{}[]\",:0123456789-eE.\\u tn".to_vec()),
        ),
        1..8,
    );
    (prop::sample::select(seeds()), edits).prop_map(|(mut bytes, edits)| {
        for (at, kind, byte) in edits {
            if bytes.is_empty() {
                bytes.push(byte);
                continue;
            }
            let i = at % bytes.len();
            match kind {
                0 => bytes[i] = byte,
                1 => {
                    bytes.remove(i);
                }
                _ => bytes.insert(i, byte),
            }
        }
        bytes
    })
}

fn every_reader(bytes: &[u8]) {
    for ct in [
        None,
        Some("application/vnd.oci.image.manifest.v1+json"),
        Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
    ] {
        if let Ok(m) = Manifest::parse(bytes, ct) {
            let _ = m.required_blobs().count();
            let _ = m.effective_artifact_type();
            let _ = hoist::oci::family::image_maps(&m);
        }
    }
    if let Ok(v) = jws::verify(bytes) {
        let _ = Schema1Image::parse(&v.canonical);
    }
    if let Ok(image) = Schema1Image::parse(bytes) {
        let _ = image.layer_blobs();
    }
    let simple = Manifest::parse(&fixture("pushed/simple.v2s2.manifest.json"), None).expect("seed");
    let _ = to_schema1("test/simple", "latest", &simple.layers, bytes);
    if let Ok(s) = std::str::from_utf8(bytes) {
        let _ = Accept::parse(s.lines());
        let _ = GoTime::parse(s);
        let _ = Reference::parse(s);
        let _ = RepoName::parse(s);
    }
}

proptest! {
    #[test]
    fn mutated_real_inputs_never_panic(bytes in mutated()) {
        every_reader(&bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        every_reader(&bytes);
    }

    #[test]
    fn accept_lines_and_commas_are_the_same(items in prop::collection::vec("[a-z*/.+;= 0-9-]{0,40}", 0..6)) {
        let lines = Accept::parse(items.iter().map(String::as_str));
        let joined = items.join(",");
        prop_assert_eq!(lines, Accept::parse([joined.as_str()]));
    }
}
