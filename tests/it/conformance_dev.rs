//! OCI Distribution Spec conformance, `dev` profile with sparse data: everything the official
//! suite's v2 runner (opencontainers/distribution-spec, `conformance/`) checks when run with
//! `OCI_VERSION=dev OCI_DATA_SPARSE=true` that it does not check with `OCI_VERSION=1.1`.
//!
//! `config.go` turns the dev profile on with four API toggles, and `OCI_DATA_SPARSE` adds one
//! data set (`run.go`, `GenerateData` and `TestBlobAPIs`, with the requests of `api.go`):
//!
//! - `APIs.Blobs.UploadCancel`: the "post cancel" blob test: `POST` a session, `DELETE` it, 204.
//! - `APIs.Blobs.DigestHeader`: `Docker-Content-Digest` becomes required (flag
//!   `RequireDigestHeader`), equal to the digest, on the 201 that ends every blob upload and on
//!   every blob `HEAD` and `GET`. Without the flag the suite only checks it when present.
//! - `APIs.Manifests.DigestHeader`: the same on every manifest `HEAD` and `GET`, by tag and by
//!   digest. (It is also passed to the manifest `PUT`, but `api.go` `ManifestPut` tests a flag
//!   spelled `RequestDigestHeader`, so there the header is still only checked when present.)
//! - `APIs.Manifests.TagParam`: the data sets "tag-param-sha256" and "tag-param-sha512": an
//!   index of two images, every manifest pushed by digest with one `?tag=` per tag naming it
//!   (the index has two), each tag echoed in an `OCI-Tag` response header, then listed, pulled
//!   by tag and by digest (the sha512 ones must answer with their sha512 digest) and deleted.
//! - `Data.Sparse`: the data set "sparse": an image tagged `sparse-image` whose first layer is
//!   never pushed, and an index tagged `sparse-index` whose second child (a random digest) is
//!   never pushed. Both must be accepted (201) and served.
//!
//! Anonymous mount (`?mount=` without `from`) is on in both profiles; what the dev profile adds
//! there, as everywhere, is the digest header on the upload and on the pulls that follow.
//!
//! Each test replays the suite's requests in the suite's order and collects every unmet
//! requirement (the suite reports them all rather than stopping at the first), then fails
//! listing each one with the request and the response it got.
//!
//! Where the suite files a response under "registry does not support the requested API" (its
//! `errRegUnsupported`, shown as Skip rather than FAIL), these tests treat it as a failure only
//! when it means a dev feature is missing: an absent `OCI-Tag` for a `?tag=` parameter. The
//! alternatives the suite accepts as working (201 or 202 for a mount, 202 or 404 for deletes)
//! are accepted here too.

use crate::harness::*;
use hoist::oci::{Algorithm, Digest};
use reqwest::header::HeaderMap;
use reqwest::{Client, Method};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const OCI_LAYER_GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const OCI_LAYER_PREFIX: &str = "application/vnd.oci.image.layer.v1.";
const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The suite's `mtExampleConf1` and `mtExampleConf2`, artifact and artifact layer types.
const EXAMPLE_TYPE: &str = "application/vnd.example.oci.conformance.v1";
const EXAMPLE_TYPE_2: &str = "application/vnd.example.oci.conformance.v2";
const OCI_LAYER_ND: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar";
const OCI_LAYER_ND_GZ: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
const OCTET: &str = "application/octet-stream";
/// The suite's `chunkMin`: the smallest chunk it sends unless the registry asks for more.
const CHUNK_MIN: usize = 1024;
/// The suite's default repositories.
const REPO1: &str = "conformance/repo1";
const REPO2: &str = "conformance/repo2";
/// The suite runs its blob tests once per algorithm (`OCI_DATA_SHA512` is on by default).
const ALGS: [Algorithm; 2] = [Algorithm::Sha256, Algorithm::Sha512];

// ---------------------------------------------------------------------------------------------
// Helpers: data
// ---------------------------------------------------------------------------------------------

fn dig(alg: Algorithm, data: &[u8]) -> String {
    Digest::of(alg, data).to_string()
}

/// Reproducible pseudo-random bytes, different for every seed.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).expect("gzip");
    gz.finish().expect("gzip")
}

fn base64(data: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The suite's `detectMediaType`: the body's `mediaType`, else an OCI image manifest.
fn media_type_of(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["mediaType"].as_str().map(str::to_owned))
        .unwrap_or_else(|| OCI_MANIFEST.to_owned())
}

/// How the suite builds an image (`genManifestFull` with its options).
#[derive(Clone)]
struct ImageSpec {
    alg: Algorithm,
    arch: &'static str,
    layers: usize,
    layer_type: &'static str,
    /// Fixed bytes for every (artifact) layer instead of random ones.
    layer_bytes: Option<&'static [u8]>,
    artifact_type: Option<&'static str>,
    /// `{}` as the config, typed as the empty JSON descriptor.
    empty_config: bool,
    /// Descriptors carry their content in `data`.
    data_field: bool,
    annotations: BTreeMap<String, String>,
    /// One more annotation, `org.example.<random>`, so that otherwise equal manifests differ.
    unique_annotation: bool,
    subject: Option<Value>,
    /// A field no spec defines, `org.<random>`, in the config, the manifest and the index.
    extra_field: bool,
}

impl ImageSpec {
    fn new(alg: Algorithm) -> ImageSpec {
        ImageSpec {
            alg,
            arch: "amd64",
            layers: 2,
            layer_type: OCI_LAYER_GZ,
            layer_bytes: None,
            artifact_type: None,
            empty_config: false,
            data_field: false,
            annotations: BTreeMap::new(),
            unique_annotation: false,
            subject: None,
            extra_field: false,
        }
    }

    /// The suite's artifact options: `artifactType`, an empty config, one layer of `layer_type`.
    fn artifact(alg: Algorithm, artifact_type: &'static str, layer_type: &'static str) -> Self {
        let mut spec = ImageSpec::new(alg);
        spec.artifact_type = Some(artifact_type);
        spec.empty_config = true;
        spec.layers = 1;
        spec.layer_type = layer_type;
        spec
    }

    /// The annotation the suite puts on its referrers, and a unique one.
    fn annotated(mut self) -> Self {
        self.annotations.insert(
            "org.opencontainers.conformance".to_owned(),
            "hello conformance test".to_owned(),
        );
        self.unique_annotation = true;
        self
    }
}

/// One of the suite's data sets (`testData`): blobs, manifests in push order (children before
/// parents), tags, and whether the manifests are pushed with tag parameters.
struct DataSet {
    name: &'static str,
    seed: u64,
    blobs: Vec<(String, Vec<u8>)>,
    manifests: Vec<(String, Vec<u8>)>,
    descriptors: HashMap<String, Value>,
    tags: BTreeMap<String, String>,
    tag_param: bool,
}

impl DataSet {
    fn new(name: &'static str, seed: u64) -> DataSet {
        DataSet {
            name,
            seed: seed * 1000,
            blobs: Vec::new(),
            manifests: Vec::new(),
            descriptors: HashMap::new(),
            tags: BTreeMap::new(),
            tag_param: false,
        }
    }

    fn next_bytes(&mut self, len: usize) -> Vec<u8> {
        self.seed += 1;
        bytes(self.seed, len)
    }

    /// Like Go's `rand.Text()`: 26 characters of base32.
    fn next_text(&mut self) -> String {
        const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        self.next_bytes(26)
            .into_iter()
            .map(|b| char::from(ALPHABET[usize::from(b % 32)]))
            .collect()
    }

    /// The options `genManifest` and `genIndex` apply to the document itself.
    fn decorate(&mut self, m: &mut Value, spec: &ImageSpec) {
        if let Some(t) = spec.artifact_type {
            m["artifactType"] = json!(t);
        }
        if let Some(subject) = &spec.subject {
            m["subject"] = subject.clone();
        }
        let mut annotations = spec.annotations.clone();
        if spec.unique_annotation {
            annotations.insert(
                format!("org.example.{}", self.next_text()),
                self.next_text(),
            );
        }
        if !annotations.is_empty() {
            m["annotations"] = json!(annotations);
        }
        if spec.extra_field {
            m[format!("org.{}", self.next_text())] = json!(self.next_text());
        }
    }

    fn add_blob(&mut self, alg: Algorithm, data: Vec<u8>, media_type: &str, inline: bool) -> Value {
        let d = dig(alg, &data);
        let mut desc = json!({"mediaType": media_type, "digest": d, "size": data.len()});
        if inline {
            desc["data"] = json!(base64(&data));
        }
        if !self.blobs.iter().any(|(x, _)| *x == d) {
            self.blobs.push((d, data));
        }
        desc
    }

    fn add_manifest(&mut self, alg: Algorithm, m: &Value, tag: Option<&str>) -> String {
        let body = serde_json::to_vec(m).expect("json");
        let d = dig(alg, &body);
        self.descriptors.insert(
            d.clone(),
            json!({"mediaType": m["mediaType"], "digest": d, "size": body.len()}),
        );
        self.manifests.push((d.clone(), body));
        if let Some(t) = tag {
            self.tags.insert(t.to_owned(), d.clone());
        }
        d
    }

    /// `genManifestFull`: layers, a config naming the platform, and the manifest.
    fn image(&mut self, spec: &ImageSpec, tag: Option<&str>) -> String {
        let alg = spec.alg;
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        for i in 0..spec.layers {
            if spec.layer_type.starts_with(OCI_LAYER_PREFIX) {
                let raw = self.next_bytes(300 + i);
                diff_ids.push(dig(alg, &raw));
                let data = if spec.layer_type == OCI_LAYER_GZ {
                    gzip(&raw)
                } else {
                    raw
                };
                layers.push(self.add_blob(alg, data, spec.layer_type, spec.data_field));
            } else {
                let data = match spec.layer_bytes {
                    Some(b) => b.to_vec(),
                    None => self.next_bytes(2048),
                };
                diff_ids.push(dig(alg, &data));
                layers.push(self.add_blob(alg, data, spec.layer_type, spec.data_field));
            }
        }
        let config = if spec.empty_config {
            self.add_blob(alg, b"{}".to_vec(), OCI_EMPTY, spec.data_field)
        } else {
            let mut config = json!({
                "author": "OCI Conformance Test",
                "architecture": spec.arch,
                "os": "linux",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
            });
            if spec.extra_field {
                config[format!("org.{}", self.next_text())] = json!(self.next_text());
            }
            let body = serde_json::to_vec(&config).expect("json");
            self.add_blob(alg, body, OCI_CONFIG, spec.data_field)
        };
        let mut m = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config,
            "layers": layers,
        });
        self.decorate(&mut m, spec);
        self.add_manifest(alg, &m, tag)
    }

    /// `genIndex`: an index of manifests already in this data set (or given a descriptor), each
    /// with its platform if it has one, and the document options of `spec`.
    fn index(
        &mut self,
        spec: &ImageSpec,
        children: &[(String, Option<&str>)],
        tag: Option<&str>,
    ) -> String {
        let manifests: Vec<Value> = children
            .iter()
            .map(|(d, arch)| {
                let mut desc = self.descriptors[d].clone();
                if let Some(a) = arch {
                    desc["platform"] = json!({"architecture": a, "os": "linux"});
                }
                desc
            })
            .collect();
        let mut m = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
        self.decorate(&mut m, spec);
        self.add_manifest(spec.alg, &m, tag)
    }

    /// `genIndexFull`: one image per platform, then their index. As in the suite, the tag is
    /// given to every image too and ends on the index, the last one generated.
    fn index_full(
        &mut self,
        spec: &ImageSpec,
        archs: &[&'static str],
        tag: Option<&str>,
    ) -> String {
        let children: Vec<(String, Option<&str>)> = archs
            .iter()
            .map(|arch| {
                let mut s = spec.clone();
                s.arch = arch;
                (self.image(&s, tag), Some(*arch))
            })
            .collect();
        self.index(spec, &children, tag)
    }

    fn media_type(&self, digest: &str) -> String {
        let body = &self
            .manifests
            .iter()
            .find(|(d, _)| d == digest)
            .expect("manifest of this data set")
            .1;
        media_type_of(body)
    }

    fn body(&self, digest: &str) -> &[u8] {
        &self
            .manifests
            .iter()
            .find(|(d, _)| d == digest)
            .expect("manifest of this data set")
            .1
    }
}

/// `run.go`: "sparse manifests missing layers/platforms", generated when `OCI_DATA_SPARSE`.
fn sparse_data_set() -> DataSet {
    let mut ds = DataSet::new("sparse", 1);
    let spec = ImageSpec::new(Algorithm::Sha256);
    let image = ds.image(&spec, Some("sparse-image"));
    // Remove the first layer: the manifest keeps referring to it, nobody pushes it.
    let m: Value = serde_json::from_slice(ds.body(&image)).expect("json");
    let layer = m["layers"][0]["digest"].as_str().expect("layer").to_owned();
    ds.blobs.retain(|(d, _)| *d != layer);
    // An index of a complete image and of a manifest that does not exist anywhere.
    let child = ds.image(&spec, None);
    let random = ds.next_bytes(1024);
    let missing = sha256(&random);
    ds.descriptors.insert(
        missing.clone(),
        json!({"mediaType": OCI_MANIFEST, "digest": missing, "size": 1024}),
    );
    ds.index(
        &spec,
        &[(child, Some("amd64")), (missing, Some("arm64"))],
        Some("sparse-index"),
    );
    ds
}

/// `run.go`: "push using tag parameters": an index of two images, the index tagged
/// `tag-param-<alg>` and every manifest `i` of the push order also tagged `tag-param-<alg>-<i>`
/// ("top level index will have two tags"); all pushed by digest with `?tag=`.
fn tag_param_data_set(alg: Algorithm) -> DataSet {
    let name = match alg {
        Algorithm::Sha256 => "tag-param-sha256",
        Algorithm::Sha512 => "tag-param-sha512",
    };
    let mut ds = DataSet::new(name, 2 + alg as u64);
    ds.tag_param = true;
    ds.index_full(&ImageSpec::new(alg), &["amd64", "arm64"], Some(name));
    let order: Vec<String> = ds.manifests.iter().map(|(d, _)| d.clone()).collect();
    for (i, d) in order.into_iter().enumerate() {
        ds.tags.insert(format!("{name}-{i}"), d);
    }
    ds
}

/// The suite's other data sets (`GenerateData`, all on by default in both profiles), in its
/// order, whose pulls the dev profile checks for the digest header.
fn pull_data_sets() -> Vec<DataSet> {
    let image = ImageSpec::new(Algorithm::Sha256);
    let two = ["amd64", "arm64"];
    let mut sets = Vec::new();

    let mut ds = DataSet::new("image", 10);
    ds.image(&image, Some("image"));
    sets.push(ds);

    let mut ds = DataSet::new("image-uncompressed", 11);
    let mut spec = image.clone();
    spec.layer_type = OCI_LAYER;
    ds.image(&spec, Some("image-uncompressed"));
    sets.push(ds);

    // "large manifest using a lot of annotations": 390 of 10000 bytes.
    let mut ds = DataSet::new("large-manifest", 12);
    let mut spec = image.clone();
    for i in 0..390 {
        spec.annotations
            .insert(format!("large-annotation-{i}"), "A".repeat(10000));
    }
    ds.image(&spec, Some("large-manifest"));
    sets.push(ds);

    let mut ds = DataSet::new("index", 13);
    ds.index_full(&image, &two, Some("index"));
    sets.push(ds);

    let mut ds = DataSet::new("nested-index", 14);
    let first = ds.index_full(&image, &two, None);
    let second = ds.index_full(&image, &two, None);
    ds.index(
        &image,
        &[(first, None), (second, None)],
        Some("index-of-index"),
    );
    sets.push(ds);

    let mut ds = DataSet::new("empty-index", 15);
    ds.index_full(&image, &[], Some("index"));
    sets.push(ds);

    let artifact = ImageSpec::artifact(Algorithm::Sha256, EXAMPLE_TYPE, EXAMPLE_TYPE);
    let mut ds = DataSet::new("artifact", 16);
    ds.image(&artifact, Some("artifact"));
    sets.push(ds);

    let mut ds = DataSet::new("artifact-index", 17);
    ds.index_full(&artifact, &two, Some("artifact-index"));
    sets.push(ds);

    let mut ds = DataSet::new("artifact-without-layers", 18);
    let mut spec = ImageSpec::artifact(Algorithm::Sha256, EXAMPLE_TYPE, OCI_EMPTY);
    spec.layer_bytes = Some(&b"{}"[..]);
    ds.image(&spec, Some("artifact-without-layers"));
    sets.push(ds);

    // "image and referrers": an image, an image with it as subject, two artifacts with it as
    // subject. Every push of a manifest with a subject must answer OCI-Subject.
    let mut ds = DataSet::new("artifacts-with-subject", 19);
    let subject = ds.image(&image, Some("image"));
    let subject = ds.descriptors[&subject].clone();
    let mut spec = image.clone();
    spec.subject = Some(subject.clone());
    ds.image(&spec, None);
    let mut spec = artifact.clone().annotated();
    spec.subject = Some(subject.clone());
    ds.image(&spec, Some("tagged-artifact1"));
    let mut spec = ImageSpec::artifact(Algorithm::Sha256, EXAMPLE_TYPE_2, OCTET).annotated();
    spec.subject = Some(subject);
    ds.image(&spec, Some("tagged-artifact2"));
    sets.push(ds);

    // "index and artifact-index with a subject": every manifest of the second index, and that
    // index, have the first index as subject.
    let mut ds = DataSet::new("index-with-subject", 20);
    let subject = ds.index_full(&image, &two, Some("index"));
    let mut spec = artifact.clone().annotated();
    spec.subject = Some(ds.descriptors[&subject].clone());
    ds.index_full(&spec, &two, Some("tagged-artifact"));
    sets.push(ds);

    // "artifact with missing subject".
    let mut ds = DataSet::new("missing-subject", 21);
    let mut spec = artifact.clone().annotated();
    spec.subject = Some(json!({
        "mediaType": OCI_MANIFEST,
        "digest": sha256(b"missing content"),
        "size": 123,
    }));
    ds.image(&spec, Some("tagged-artifact"));
    sets.push(ds);

    let mut ds = DataSet::new("data-field", 22);
    let mut spec = image.clone();
    spec.data_field = true;
    ds.image(&spec, Some("data-field"));
    sets.push(ds);

    // "image with non-distributable layers": two layers with URLs, never pushed, and a normal one.
    let mut ds = DataSet::new("non-distributable-layers", 23);
    let mut layers = Vec::new();
    let nd_layer = |ds: &mut DataSet, media_type: &str, size: u64| {
        let d = Digest::sha256_of(&ds.next_bytes(256));
        let desc = json!({
            "mediaType": media_type,
            "digest": d.to_string(),
            "size": size,
            "urls": [format!("https://store.example.com/blobs/sha256/{}", d.hex())],
        });
        (d.to_string(), desc)
    };
    // As in the suite, the first diff_id is unrelated random content, the second is the
    // non-distributable layer's own digest.
    let mut diff_ids = vec![sha256(&ds.next_bytes(256))];
    let (_, desc) = nd_layer(&mut ds, OCI_LAYER_ND_GZ, 123_456);
    layers.push(desc);
    let (d, desc) = nd_layer(&mut ds, OCI_LAYER_ND, 12_345);
    layers.push(desc);
    diff_ids.push(d);
    let raw = ds.next_bytes(300);
    diff_ids.push(sha256(&raw));
    layers.push(ds.add_blob(Algorithm::Sha256, gzip(&raw), OCI_LAYER_GZ, false));
    let config = serde_json::to_vec(&json!({
        "author": "OCI Conformance Test",
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .expect("json");
    let config = ds.add_blob(Algorithm::Sha256, config, OCI_CONFIG, false);
    let m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config,
        "layers": layers,
    });
    ds.add_manifest(Algorithm::Sha256, &m, Some("non-distributable-image"));
    sets.push(ds);

    // "add a randomized unknown field to manifests and config".
    let mut ds = DataSet::new("custom-fields", 24);
    let mut spec = image.clone();
    spec.extra_field = true;
    ds.index_full(&spec, &two, Some("custom-fields"));
    sets.push(ds);

    let mut ds = DataSet::new("no-layers", 25);
    let mut spec = image.clone();
    spec.layers = 0;
    ds.image(&spec, Some("no-layers"));
    sets.push(ds);

    // "non-canonical digests require tag parameters to push tags, so only test by digest".
    let mut ds = DataSet::new("sha512", 26);
    ds.index_full(&ImageSpec::new(Algorithm::Sha512), &two, None);
    sets.push(ds);

    sets
}

// ---------------------------------------------------------------------------------------------
// Helpers: HTTP
// ---------------------------------------------------------------------------------------------

/// Every unmet requirement of a test, reported together when the test ends.
struct Verdict {
    failures: Vec<String>,
}

impl Verdict {
    fn new() -> Verdict {
        Verdict {
            failures: Vec::new(),
        }
    }

    /// Records `what` unless `ok`; returns `ok`.
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) -> bool {
        if !ok {
            self.failures.push(what());
        }
        ok
    }

    /// The status is one of `allowed`.
    fn status(&mut self, r: &Reply, allowed: &[u16]) -> bool {
        self.check(allowed.contains(&r.status), || {
            format!("{}\n    expected status {allowed:?}", r.show())
        })
    }

    fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{} requirement(s) of the dev profile unmet:\n\n{}",
            self.failures.len(),
            self.failures.join("\n\n")
        );
    }
}

/// Percent-encode a query value the way Go's `url.Values.Encode` does for these characters.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn with_param(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={}", enc(value))
}

/// A response, read whole, with the request that produced it.
struct Reply {
    request: String,
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("header is text").to_owned())
    }

    /// Every value of a header, each split on commas (RFC 7230 list syntax).
    fn list(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .flat_map(|v| {
                v.to_str()
                    .expect("header is text")
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn show(&self) -> String {
        let mut headers: Vec<String> = self
            .headers
            .iter()
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "date" | "x-content-type-options" | "docker-distribution-api-version"
                )
            })
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("<binary>")))
            .collect();
        headers.sort();
        let body = String::from_utf8_lossy(&self.body);
        let body: String = body.chars().take(300).collect();
        format!(
            "{} -> {}\n    headers: {}\n    body: {body}",
            self.request,
            self.status,
            headers.join("; ")
        )
    }
}

enum Payload {
    None,
    Bytes(Vec<u8>),
    /// Sent with `Transfer-Encoding: chunked`, no length, as Go sends a body of unknown size.
    Stream(Vec<u8>),
}

/// A fresh hoist and a client.
struct Reg {
    h: Hoist,
    c: Client,
}

impl Reg {
    fn start() -> Reg {
        Reg {
            h: Hoist::start(),
            c: client(),
        }
    }

    /// A path or a Location, absolute or relative, as a URL on this server.
    fn abs(&self, loc: &str) -> String {
        if loc.starts_with("http://") || loc.starts_with("https://") {
            loc.to_owned()
        } else {
            self.h.url(loc)
        }
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        payload: Payload,
    ) -> Reply {
        let mut rb = self.c.request(method.clone(), self.abs(url));
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        rb = match payload {
            Payload::None => rb,
            Payload::Bytes(b) => rb.body(b),
            Payload::Stream(b) => {
                let pieces: Vec<Vec<u8>> = b.chunks(100).map(<[u8]>::to_vec).collect();
                let stream =
                    futures_util::stream::iter(pieces.into_iter().map(Ok::<_, std::io::Error>));
                rb.body(reqwest::Body::wrap_stream(stream))
            }
        };
        let r = rb
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let request = match r.url().query() {
            Some(q) => format!("{method} {}?{q}", r.url().path()),
            None => format!("{method} {}", r.url().path()),
        };
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.bytes().await.expect("body").to_vec();
        Reply {
            request,
            status,
            headers,
            body,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers: the suite's requests (api.go), with the dev profile's options
// ---------------------------------------------------------------------------------------------

/// `VerifyDigest`: the header, if present, names `digest`; with `required` it must be present.
fn verify_digest(v: &mut Verdict, r: &Reply, digest: &str, required: bool) {
    match r.header("docker-content-digest") {
        Some(got) => {
            v.check(got == digest, || {
                format!(
                    "{}\n    Docker-Content-Digest must be {digest}, got {got}",
                    r.show()
                )
            });
        }
        None => {
            v.check(!required, || {
                format!(
                    "{}\n    Docker-Content-Digest is required by the dev profile (must be {digest})",
                    r.show()
                )
            });
        }
    }
}

/// The Location of a response, recorded as a failure when missing.
fn location(v: &mut Verdict, r: &Reply) -> Option<String> {
    let loc = r.header("location").filter(|l| !l.is_empty());
    v.check(loc.is_some(), || {
        format!("{}\n    Location missing", r.show())
    });
    loc
}

/// `BlobVerifyLocation`: the Location of a finished upload serves the blob.
async fn blob_verify_location(reg: &Reg, v: &mut Verdict, loc: &str, data: &[u8]) {
    let r = reg.send(Method::GET, loc, &[], Payload::None).await;
    if v.status(&r, &[200]) {
        v.check(r.body == data, || {
            format!("{}\n    the Location must serve the blob pushed", r.show())
        });
    }
}

/// `POST /v2/<repo>/blobs/uploads/` with no body: 202 and a Location.
async fn open_session(reg: &Reg, v: &mut Verdict, repo: &str) -> Option<Reply> {
    let r = reg
        .send(
            Method::POST,
            &format!("/v2/{repo}/blobs/uploads/"),
            &[],
            Payload::Bytes(Vec::new()),
        )
        .await;
    (v.status(&r, &[202]) && location(v, &r).is_some()).then_some(r)
}

/// The final 201 of an upload: Location, the required digest header, a Location that serves it.
async fn finished_upload(reg: &Reg, v: &mut Verdict, r: &Reply, digest: &str, data: &[u8]) {
    if !v.status(r, &[201]) {
        return;
    }
    verify_digest(v, r, digest, true);
    if let Some(loc) = location(v, r) {
        blob_verify_location(reg, v, &loc, data).await;
    }
}

/// `BlobPostOnly`: `POST ?digest=` with the blob; 201, or 202 and the fallback `PUT`.
async fn blob_post_only(reg: &Reg, v: &mut Verdict, repo: &str, digest: &str, data: &[u8]) {
    let url = with_param(&format!("/v2/{repo}/blobs/uploads/"), "digest", digest);
    let r = reg
        .send(
            Method::POST,
            &url,
            &[("content-type", OCTET)],
            Payload::Bytes(data.to_vec()),
        )
        .await;
    if !v.status(&r, &[201, 202]) {
        return;
    }
    let Some(loc) = location(v, &r) else { return };
    if r.status == 202 {
        // The suite's fallback ("registry does not support content in the POST").
        let r = reg
            .send(
                Method::PUT,
                &with_param(&loc, "digest", digest),
                &[("content-type", OCTET)],
                Payload::Bytes(data.to_vec()),
            )
            .await;
        v.status(&r, &[201]);
        location(v, &r);
        return;
    }
    finished_upload(reg, v, &r, digest, data).await;
}

/// `BlobPostPut`: `POST`, then `PUT <location>?digest=` with the blob.
async fn blob_post_put(reg: &Reg, v: &mut Verdict, repo: &str, digest: &str, data: &[u8]) {
    let Some(r) = open_session(reg, v, repo).await else {
        return;
    };
    let loc = r.header("location").expect("checked");
    let r = reg
        .send(
            Method::PUT,
            &with_param(&loc, "digest", digest),
            &[("content-type", OCTET)],
            Payload::Bytes(data.to_vec()),
        )
        .await;
    finished_upload(reg, v, &r, digest, data).await;
}

/// `BlobPatchStream`: `POST`, one `PATCH` streaming the blob (no length, no range), an empty
/// `PUT ?digest=`.
async fn blob_patch_stream(reg: &Reg, v: &mut Verdict, repo: &str, digest: &str, data: &[u8]) {
    let Some(r) = open_session(reg, v, repo).await else {
        return;
    };
    let loc = r.header("location").expect("checked");
    let r = reg
        .send(
            Method::PATCH,
            &loc,
            &[("content-type", OCTET)],
            Payload::Stream(data.to_vec()),
        )
        .await;
    if !v.status(&r, &[202]) {
        return;
    }
    let Some(loc) = location(v, &r) else { return };
    let r = reg
        .send(
            Method::PUT,
            &with_param(&loc, "digest", digest),
            &[("content-type", OCTET)],
            Payload::Bytes(Vec::new()),
        )
        .await;
    finished_upload(reg, v, &r, digest, data).await;
}

/// `BlobPatchChunked`: `POST`, chunks of a third of the blob (at least 1024 bytes, or the
/// registry's `OCI-Chunk-Min-Length`) with `Content-Range`, then an empty `PUT ?digest=`, or the
/// last chunk in the `PUT` (`put_last`). With `out_of_order`, before every chunk a chunk that
/// skips ahead (or goes back to 0) must be refused with 416, and `GET <location>` must then be
/// 204 with `Range: 0-<last byte received>`. Returns the `OCI-Chunk-Min-Length` advertised.
async fn blob_patch_chunked(
    reg: &Reg,
    v: &mut Verdict,
    repo: &str,
    digest: &str,
    data: &[u8],
    put_last: bool,
    out_of_order: bool,
) -> Option<usize> {
    let r = open_session(reg, v, repo).await?;
    let min = r.header("oci-chunk-min-length").map(|m| {
        m.parse::<usize>()
            .expect("OCI-Chunk-Min-Length is a number")
    });
    let mut loc = r.header("location").expect("checked");
    let len = data.len();
    let chunk = (len / 3 + 1).max(min.unwrap_or(0)).max(CHUNK_MIN).min(len);
    let mut last: Option<usize> = None; // last byte received
    let mut finished: Option<Reply> = None;
    while last.is_none_or(|l| l < len - 1) {
        let next = last.map_or(0, |l| l + 1);
        if out_of_order {
            let mut bad_start = next + chunk;
            if bad_start >= len {
                bad_start = 0;
            }
            let bad_end = (bad_start + chunk - 1).min(len - 1);
            let (method, url) = if put_last && bad_end == len - 1 {
                (Method::PUT, with_param(&loc, "digest", digest))
            } else {
                (Method::PATCH, loc.clone())
            };
            let range = format!("{bad_start}-{bad_end}");
            let r = reg
                .send(
                    method,
                    &url,
                    &[("content-type", OCTET), ("content-range", range.as_str())],
                    Payload::Bytes(data[bad_start..=bad_end].to_vec()),
                )
                .await;
            if !v.status(&r, &[416]) {
                return min;
            }
            if let Some(l) = r.header("location").filter(|l| !l.is_empty()) {
                loc = l;
            }
            // "recover with a GET request to find the new location/range", at the same URL.
            let r = reg.send(Method::GET, &url, &[], Payload::None).await;
            if !v.status(&r, &[204]) {
                return min;
            }
            if let Some(l) = r.header("location").filter(|l| !l.is_empty()) {
                loc = l;
            }
            let range = r.header("range").unwrap_or_default();
            let end = range
                .strip_prefix("0-")
                .and_then(|e| e.parse::<usize>().ok());
            let ok = match (end, last) {
                (None, _) => false,
                (Some(e), Some(l)) => e == l,
                (Some(_), None) => true,
            };
            if !v.check(ok, || {
                format!(
                    "{}\n    Range must be 0-{} after the refused chunk",
                    r.show(),
                    last.map_or("<n>".to_owned(), |l| l.to_string())
                )
            }) {
                return min;
            }
        }
        let end = (next + chunk - 1).min(len - 1);
        last = Some(end);
        let range = format!("{next}-{end}");
        let body = Payload::Bytes(data[next..=end].to_vec());
        let headers = [("content-type", OCTET), ("content-range", range.as_str())];
        if put_last && end == len - 1 {
            let r = reg
                .send(
                    Method::PUT,
                    &with_param(&loc, "digest", digest),
                    &headers,
                    body,
                )
                .await;
            finished = Some(r);
        } else {
            let r = reg.send(Method::PATCH, &loc, &headers, body).await;
            if !v.status(&r, &[202]) {
                return min;
            }
            match location(v, &r) {
                Some(l) => loc = l,
                None => return min,
            }
        }
    }
    let r = match finished {
        Some(r) => r,
        None => {
            reg.send(
                Method::PUT,
                &with_param(&loc, "digest", digest),
                &[("content-type", OCTET)],
                Payload::Bytes(Vec::new()),
            )
            .await
        }
    };
    finished_upload(reg, v, &r, digest, data).await;
    min
}

/// `BlobMount`: `POST ?mount=<digest>[&from=<source>]`: 201 (mounted) or 202 (a session, which
/// the suite fills with a `PUT`); either way a Location that serves the blob. Returns the status
/// of the `POST`.
async fn blob_mount(
    reg: &Reg,
    v: &mut Verdict,
    repo: &str,
    from: Option<&str>,
    digest: &str,
    data: &[u8],
) -> Option<u16> {
    let mut url = with_param(&format!("/v2/{repo}/blobs/uploads/"), "mount", digest);
    if let Some(source) = from {
        url = with_param(&url, "from", source);
    }
    let r = reg
        .send(Method::POST, &url, &[], Payload::Bytes(Vec::new()))
        .await;
    if !v.status(&r, &[201, 202]) {
        return None;
    }
    let status = r.status;
    let loc = location(v, &r)?;
    let (r, loc) = if status == 202 {
        let r = reg
            .send(
                Method::PUT,
                &with_param(&loc, "digest", digest),
                &[("content-type", OCTET)],
                Payload::Bytes(data.to_vec()),
            )
            .await;
        if !v.status(&r, &[201]) {
            return Some(status);
        }
        let loc = location(v, &r)?;
        (r, loc)
    } else {
        (r, loc)
    };
    verify_digest(v, &r, digest, false);
    blob_verify_location(reg, v, &loc, data).await;
    Some(status)
}

/// `BlobHeadExists` with `RequireDigestHeader`: 200, no body, the length, the digest.
async fn blob_head(reg: &Reg, v: &mut Verdict, repo: &str, digest: &str, data: &[u8]) {
    let r = reg
        .send(
            Method::HEAD,
            &format!("/v2/{repo}/blobs/{digest}"),
            &[],
            Payload::None,
        )
        .await;
    if !v.status(&r, &[200]) {
        return;
    }
    v.check(r.body.is_empty(), || {
        format!("{}\n    HEAD has no body", r.show())
    });
    if !data.is_empty() || digest == sha256(b"") {
        let len = data.len().to_string();
        v.check(r.header("content-length") == Some(len.clone()), || {
            format!("{}\n    Content-Length must be {len}", r.show())
        });
    }
    verify_digest(v, &r, digest, true);
}

/// `BlobGetExistsFull` with `RequireDigestHeader`: 200, the bytes, the length, the digest.
async fn blob_get(reg: &Reg, v: &mut Verdict, repo: &str, digest: &str, data: &[u8]) {
    let r = reg
        .send(
            Method::GET,
            &format!("/v2/{repo}/blobs/{digest}"),
            &[],
            Payload::None,
        )
        .await;
    if !v.status(&r, &[200]) {
        return;
    }
    v.check(r.body == data, || {
        format!("{}\n    GET must return the blob's bytes", r.show())
    });
    if !data.is_empty() || digest == sha256(b"") {
        let len = data.len().to_string();
        v.check(r.header("content-length") == Some(len.clone()), || {
            format!("{}\n    Content-Length must be {len}", r.show())
        });
    }
    verify_digest(v, &r, digest, true);
}

/// `TestDeleteBlob`: `DELETE` is 202 (or 404, which the suite also passes), then `HEAD` is 404.
async fn blob_delete(reg: &Reg, v: &mut Verdict, repo: &str, digest: &str) {
    let url = format!("/v2/{repo}/blobs/{digest}");
    let r = reg.send(Method::DELETE, &url, &[], Payload::None).await;
    if !v.status(&r, &[202, 404]) {
        return;
    }
    let r = reg.send(Method::HEAD, &url, &[], Payload::None).await;
    v.status(&r, &[404]);
}

/// The suite's `Accept` for manifests: two headers, the OCI index and the OCI image manifest.
const ACCEPT: [(&str, &str); 2] = [("accept", OCI_INDEX), ("accept", OCI_MANIFEST)];

/// `ManifestPut` (referrers enabled) plus `TestPushManifestDigest`'s tag parameters: 201, a
/// Location that serves the manifest, the digest header when present, and an `OCI-Tag` for
/// every `?tag=`. Returns the tags echoed.
async fn manifest_put(
    reg: &Reg,
    v: &mut Verdict,
    repo: &str,
    reference: &str,
    digest: &str,
    body: &[u8],
    tags: &[String],
) -> Vec<String> {
    let mut url = format!("/v2/{repo}/manifests/{reference}");
    for t in tags {
        url = with_param(&url, "tag", t);
    }
    let media_type = media_type_of(body);
    let r = reg
        .send(
            Method::PUT,
            &url,
            &[("content-type", media_type.as_str())],
            Payload::Bytes(body.to_vec()),
        )
        .await;
    if !v.status(&r, &[201]) {
        return Vec::new();
    }
    if let Some(subject) = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|m| m["subject"]["digest"].as_str().map(str::to_owned))
    {
        v.check(r.header("oci-subject") == Some(subject.clone()), || {
            format!("{}\n    OCI-Subject must be {subject}", r.show())
        });
    }
    verify_digest(v, &r, digest, false);
    let echoed = r.list("oci-tag");
    let (pushed, missing): (Vec<String>, Vec<String>) =
        tags.iter().cloned().partition(|t| echoed.contains(t));
    v.check(missing.is_empty(), || {
        format!(
            "{}\n    every ?tag= must be echoed in an OCI-Tag header; missing: {missing:?}",
            r.show()
        )
    });
    if let Some(loc) = location(v, &r) {
        let r = reg.send(Method::GET, &loc, &ACCEPT, Payload::None).await;
        if v.status(&r, &[200]) {
            v.check(r.header("content-type") == Some(media_type.clone()), || {
                format!("{}\n    Content-Type must be {media_type}", r.show())
            });
            let len = body.len().to_string();
            v.check(r.header("content-length") == Some(len.clone()), || {
                format!("{}\n    Content-Length must be {len}", r.show())
            });
            v.check(r.body == body, || {
                format!(
                    "{}\n    the Location must serve the manifest pushed",
                    r.show()
                )
            });
        }
    }
    pushed
}

/// `ManifestHeadExists` / `ManifestGetExists` with `RequireDigestHeader`: 200, the media type,
/// the length, the digest (required), and on GET the bytes pushed (on HEAD none).
async fn manifest_pull(
    reg: &Reg,
    v: &mut Verdict,
    method: Method,
    repo: &str,
    reference: &str,
    digest: &str,
    body: &[u8],
) {
    let head = method == Method::HEAD;
    let r = reg
        .send(
            method,
            &format!("/v2/{repo}/manifests/{reference}"),
            &ACCEPT,
            Payload::None,
        )
        .await;
    if !v.status(&r, &[200]) {
        return;
    }
    let media_type = media_type_of(body);
    v.check(r.header("content-type") == Some(media_type.clone()), || {
        format!("{}\n    Content-Type must be {media_type}", r.show())
    });
    let len = body.len().to_string();
    v.check(r.header("content-length") == Some(len.clone()), || {
        format!("{}\n    Content-Length must be {len}", r.show())
    });
    if head {
        v.check(r.body.is_empty(), || {
            format!("{}\n    HEAD has no body", r.show())
        });
    } else {
        v.check(r.body == body, || {
            format!("{}\n    GET must return the manifest's bytes", r.show())
        });
    }
    verify_digest(v, &r, digest, true);
}

/// `ManifestDelete` then the atomic check: 202 (or 404), then `HEAD` is 404.
async fn manifest_delete(reg: &Reg, v: &mut Verdict, repo: &str, reference: &str) {
    let url = format!("/v2/{repo}/manifests/{reference}");
    let r = reg.send(Method::DELETE, &url, &[], Payload::None).await;
    if !v.status(&r, &[202, 404]) {
        return;
    }
    let r = reg.send(Method::HEAD, &url, &ACCEPT, Payload::None).await;
    v.status(&r, &[404]);
}

/// `GET /v2/<repo>/tags/list[?last=]`: 200 and the tags.
async fn tag_list(reg: &Reg, v: &mut Verdict, repo: &str, last: Option<&str>) -> Vec<String> {
    let mut url = format!("/v2/{repo}/tags/list");
    if let Some(l) = last {
        url = with_param(&url, "last", l);
    }
    let r = reg.send(Method::GET, &url, &[], Payload::None).await;
    if !v.status(&r, &[200]) {
        return Vec::new();
    }
    let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    body["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `TestList`: every tag of the data set is listed, and `?last=` set to the middle of the
/// sorted list starts right after it.
async fn check_tag_list(reg: &Reg, v: &mut Verdict, repo: &str, want: &BTreeSet<String>) {
    let tags = tag_list(reg, v, repo, None).await;
    let missing: Vec<&String> = want.iter().filter(|t| !tags.contains(t)).collect();
    v.check(missing.is_empty(), || {
        format!("GET /v2/{repo}/tags/list: tags {missing:?} missing from {tags:?}")
    });
    if tags.len() >= 2 {
        let mut sorted = tags.clone();
        sorted.sort();
        let end = sorted.len() / 2;
        let last = &sorted[end - 1];
        let partial = tag_list(reg, v, repo, Some(last)).await;
        for t in &sorted[..end] {
            v.check(!partial.contains(t), || {
                format!("GET /v2/{repo}/tags/list?last={last}: {t} listed: {partial:?}")
            });
        }
        for t in &sorted[end..] {
            v.check(partial.contains(t), || {
                format!("GET /v2/{repo}/tags/list?last={last}: {t} missing: {partial:?}")
            });
        }
    }
}

/// One data set through the suite's steps (`TestAll`): push (blobs, manifests by digest, with
/// `?tag=` when the data set says so, then the tags not yet pushed, by tag), list, `HEAD` and
/// `GET` of every tag, manifest and blob, then delete (tags, manifests last-pushed first, blobs).
async fn run_data_set(reg: &Reg, v: &mut Verdict, repo: &str, ds: &DataSet) {
    let before = v.failures.len();
    for (d, data) in &ds.blobs {
        blob_post_put(reg, v, repo, d, data).await;
    }
    let mut pushed: BTreeSet<String> = BTreeSet::new();
    for (d, body) in &ds.manifests {
        let tags: Vec<String> = if ds.tag_param {
            ds.tags
                .iter()
                .filter(|(_, t)| *t == d)
                .map(|(k, _)| k.clone())
                .collect()
        } else {
            Vec::new()
        };
        pushed.extend(manifest_put(reg, v, repo, d, d, body, &tags).await);
    }
    for (tag, d) in &ds.tags {
        if pushed.contains(tag) {
            continue;
        }
        // The suite's path when a registry does not echo a tag parameter: push by tag.
        let media_type = ds.media_type(d);
        let r = reg
            .send(
                Method::PUT,
                &format!("/v2/{repo}/manifests/{tag}"),
                &[("content-type", media_type.as_str())],
                Payload::Bytes(ds.body(d).to_vec()),
            )
            .await;
        if v.status(&r, &[201]) {
            pushed.insert(tag.clone());
        }
    }
    let want: BTreeSet<String> = ds.tags.keys().cloned().collect();
    check_tag_list(reg, v, repo, &want).await;
    for method in [Method::HEAD, Method::GET] {
        for (tag, d) in &ds.tags {
            manifest_pull(reg, v, method.clone(), repo, tag, d, ds.body(d)).await;
        }
        for (d, body) in &ds.manifests {
            manifest_pull(reg, v, method.clone(), repo, d, d, body).await;
        }
        for (d, data) in &ds.blobs {
            if method == Method::HEAD {
                blob_head(reg, v, repo, d, data).await;
            } else {
                blob_get(reg, v, repo, d, data).await;
            }
        }
    }
    for tag in &pushed {
        manifest_delete(reg, v, repo, tag).await;
    }
    for (d, _) in ds.manifests.iter().rev() {
        manifest_delete(reg, v, repo, d).await;
    }
    for (d, _) in &ds.blobs {
        blob_delete(reg, v, repo, d).await;
    }
    for f in &mut v.failures[before..] {
        *f = format!("[data set {}] {f}", ds.name);
    }
}

// =============================================================================================
// APIs.Blobs.UploadCancel
// =============================================================================================

/// `run.go` `TestBlobAPIs` "get-missing" and "post cancel" (`TestPushBlobPostCancel`, `api.go`
/// `BlobPostCancel`), for sha256 then sha512: the blob is not there (404); `POST
/// /v2/<repo>/blobs/uploads/` is 202 with a Location; `DELETE <location>` with
/// `Content-Length: 0` is 204 (the only status the suite accepts); the cleanup `DELETE` of the
/// never-uploaded blob is 202 or 404 and `HEAD` is 404. Beyond the suite, the spec's upload
/// status endpoint must then no longer know the session (404).
#[tokio::test]
async fn push_cancel_of_a_fresh_upload_session_is_204() {
    let reg = Reg::start();
    let mut v = Verdict::new();
    for alg in ALGS {
        let data = bytes(100 + alg as u64, 512);
        let digest = dig(alg, &data);
        let r = reg
            .send(
                Method::GET,
                &format!("/v2/{REPO1}/blobs/{digest}"),
                &[],
                Payload::None,
            )
            .await;
        v.status(&r, &[404]);
        if let Some(r) = open_session(&reg, &mut v, REPO1).await {
            let loc = r.header("location").expect("checked");
            let r = reg
                .send(
                    Method::DELETE,
                    &loc,
                    &[("content-length", "0")],
                    Payload::None,
                )
                .await;
            if v.status(&r, &[204]) {
                let r = reg.send(Method::GET, &loc, &[], Payload::None).await;
                v.status(&r, &[404]);
            }
        }
        blob_delete(&reg, &mut v, REPO1, &digest).await;
    }
    v.finish();
}

// =============================================================================================
// APIs.Blobs.DigestHeader
// =============================================================================================

/// `run.go` `TestBlobAPIs`, the upload tests, for sha256 then sha512, each followed by
/// `TestHeadBlob`, `TestPullBlob` and the cleanup `TestDeleteBlob`: post only, post+put,
/// chunked single, stream, chunked multi, chunked multi with the last chunk in the `PUT`, and the
/// two out-of-order variants. With the dev profile's `RequireDigestHeader` the 201 that ends each
/// upload, and every `HEAD` and `GET` after it, must carry `Docker-Content-Digest: <digest>`.
#[tokio::test]
async fn push_every_upload_method_answers_201_with_docker_content_digest() {
    let reg = Reg::start();
    let mut v = Verdict::new();
    for alg in ALGS {
        let mut min_chunk = CHUNK_MIN;
        let names = [
            "post only",
            "post+put",
            "chunked single",
            "stream",
            "chunked multi",
            "chunked multi and put chunk",
            "chunked out-of-order",
            "chunked out-of-order and put chunk",
        ];
        for (i, name) in names.into_iter().enumerate() {
            let before = v.failures.len();
            let size = if name.starts_with("chunked") && name != "chunked single" {
                min_chunk * 3 - 5
            } else {
                512
            };
            let data = bytes(200 + 10 * alg as u64 + i as u64, size);
            let digest = dig(alg, &data);
            match name {
                "post only" => blob_post_only(&reg, &mut v, REPO1, &digest, &data).await,
                "post+put" => blob_post_put(&reg, &mut v, REPO1, &digest, &data).await,
                "stream" => blob_patch_stream(&reg, &mut v, REPO1, &digest, &data).await,
                _ => {
                    let put_last = name.ends_with("put chunk");
                    let out_of_order = name.contains("out-of-order");
                    let min = blob_patch_chunked(
                        &reg,
                        &mut v,
                        REPO1,
                        &digest,
                        &data,
                        put_last,
                        out_of_order,
                    )
                    .await;
                    if name == "chunked single" {
                        min_chunk = min_chunk.max(min.unwrap_or(0));
                    }
                }
            }
            blob_head(&reg, &mut v, REPO1, &digest, &data).await;
            blob_get(&reg, &mut v, REPO1, &digest, &data).await;
            blob_delete(&reg, &mut v, REPO1, &digest).await;
            for f in &mut v.failures[before..] {
                *f = format!("[{} blobs / {name}] {f}", alg.name());
            }
        }
    }
    v.finish();
}

/// `run.go` `TestBlobAPIs`, the well-known contents "empty" (`OCI_DATA_EMPTY_BLOB`) and
/// "emptyJSON", for sha256 then sha512: pushed (the suite then uses post+put), `HEAD` (for the
/// sha256 empty blob with `Content-Length: 0`), `GET`, delete; the digest header required on
/// the upload's 201 and on both pulls.
#[tokio::test]
async fn push_empty_and_empty_json_blobs_answer_with_docker_content_digest() {
    let reg = Reg::start();
    let mut v = Verdict::new();
    for alg in ALGS {
        for data in [&b""[..], &b"{}"[..]] {
            let before = v.failures.len();
            let digest = dig(alg, data);
            blob_post_put(&reg, &mut v, REPO1, &digest, data).await;
            blob_head(&reg, &mut v, REPO1, &digest, data).await;
            blob_get(&reg, &mut v, REPO1, &digest, data).await;
            blob_delete(&reg, &mut v, REPO1, &digest).await;
            for f in &mut v.failures[before..] {
                *f = format!("[{digest}] {f}");
            }
        }
    }
    v.finish();
}

/// `run.go` `TestBlobAPIs` "mount anonymous" (`TestPushBlobMountAnonymous`, `api.go`
/// `BlobMount` with no source), for sha256 then sha512: the blob is pushed to repo2; `POST
/// /v2/repo1/blobs/uploads/?mount=<digest>` without `from` may mount it (201) or open a session
/// (202, which the suite fills with `PUT ?digest=`, 201, and reports the API as unsupported);
/// either way the Location serves the blob, and the dev profile's `HEAD` and `GET` in repo1 must
/// carry the digest header. Then the blob is deleted from both repositories.
#[tokio::test]
async fn push_anonymous_mount_without_from_then_pulls_carry_docker_content_digest() {
    let reg = Reg::start();
    let mut v = Verdict::new();
    for alg in ALGS {
        let before = v.failures.len();
        let data = bytes(300 + alg as u64, 512);
        let digest = dig(alg, &data);
        blob_post_put(&reg, &mut v, REPO2, &digest, &data).await;
        if blob_mount(&reg, &mut v, REPO1, None, &digest, &data)
            .await
            .is_some()
        {
            blob_head(&reg, &mut v, REPO1, &digest, &data).await;
            blob_get(&reg, &mut v, REPO1, &digest, &data).await;
        }
        blob_delete(&reg, &mut v, REPO1, &digest).await;
        blob_delete(&reg, &mut v, REPO2, &digest).await;
        for f in &mut v.failures[before..] {
            *f = format!("[{} blobs / mount anonymous] {f}", alg.name());
        }
    }
    v.finish();
}

/// `run.go` `TestBlobAPIs` "mount" and "mount missing", for sha256 then sha512: mounting from
/// repo2, which has the blob, is 201 (or 202 and the fallback `PUT`); mounting from repo2 a blob
/// it does not have must not mount (202, then the `PUT` uploads it: 201). After each, the dev
/// profile's `HEAD` and `GET` in repo1 must carry the digest header.
#[tokio::test]
async fn push_mount_from_a_source_then_pulls_carry_docker_content_digest() {
    let reg = Reg::start();
    let mut v = Verdict::new();
    for alg in ALGS {
        let before = v.failures.len();
        let data = bytes(400 + alg as u64, 512);
        let digest = dig(alg, &data);
        blob_post_put(&reg, &mut v, REPO2, &digest, &data).await;
        if blob_mount(&reg, &mut v, REPO1, Some(REPO2), &digest, &data)
            .await
            .is_some()
        {
            blob_head(&reg, &mut v, REPO1, &digest, &data).await;
            blob_get(&reg, &mut v, REPO1, &digest, &data).await;
        }
        blob_delete(&reg, &mut v, REPO1, &digest).await;
        blob_delete(&reg, &mut v, REPO2, &digest).await;
        for f in &mut v.failures[before..] {
            *f = format!("[{} blobs / mount] {f}", alg.name());
        }

        let before = v.failures.len();
        let data = bytes(500 + alg as u64, 512);
        let digest = dig(alg, &data);
        let status = blob_mount(&reg, &mut v, REPO1, Some(REPO2), &digest, &data).await;
        v.check(status != Some(201), || {
            format!("POST /v2/{REPO1}/blobs/uploads/?mount={digest}&from={REPO2}: 201 for a blob {REPO2} does not have")
        });
        if status.is_some() {
            blob_head(&reg, &mut v, REPO1, &digest, &data).await;
            blob_get(&reg, &mut v, REPO1, &digest, &data).await;
        }
        blob_delete(&reg, &mut v, REPO1, &digest).await;
        for f in &mut v.failures[before..] {
            *f = format!("[{} blobs / mount missing] {f}", alg.name());
        }
    }
    v.finish();
}

// =============================================================================================
// APIs.Manifests.DigestHeader
// =============================================================================================

/// `run.go` `TestHead` and `TestPull` for the suite's data sets, in its order and in one
/// repository: image, image-uncompressed, index, nested-index, empty-index, artifact,
/// artifact-without-layers, data-field, no-layers and sha512 (pushed by digest only). With
/// `APIs.Manifests.DigestHeader` every manifest `HEAD` and `GET`, by tag and by digest, must
/// carry `Docker-Content-Digest` equal to the digest the manifest was pushed under (sha512 for
/// the sha512 set), and with `APIs.Blobs.DigestHeader` every blob upload, `HEAD` and `GET` too.
#[tokio::test]
async fn pull_of_every_data_set_carries_docker_content_digest() {
    let reg = Reg::start();
    let mut v = Verdict::new();
    for ds in pull_data_sets() {
        run_data_set(&reg, &mut v, REPO1, &ds).await;
    }
    v.finish();
}

// =============================================================================================
// APIs.Manifests.TagParam
// =============================================================================================

/// `run.go` data set "tag-param-sha256" (`TestPushManifestDigest` with the `TagParam` flag):
/// each manifest of an index of two images is pushed with `PUT
/// /v2/<repo>/manifests/<digest>?tag=<t>...`, one `tag` parameter per tag naming it (the index
/// has two: `tag-param-sha256` and `tag-param-sha256-2`). Each must be 201 with a Location and
/// one `OCI-Tag` header value (comma-separated values allowed) per tag; the suite then lists the
/// tags (including `?last=`), pulls every tag and digest with `HEAD` and `GET` (digest header
/// required) and deletes tags, manifests and blobs.
#[tokio::test]
async fn push_by_digest_with_tag_params_answers_oci_tag_and_creates_the_tags() {
    let reg = Reg::start();
    let mut v = Verdict::new();
    run_data_set(&reg, &mut v, REPO1, &tag_param_data_set(Algorithm::Sha256)).await;
    v.finish();
}

/// `run.go` data set "tag-param-sha512": the same with every blob and manifest addressed by
/// sha512 ("non-canonical digests require tag parameters to push tags"). The tags are only
/// created by the `?tag=` parameters of the by-digest pushes, so pulling by tag must serve the
/// manifest with `Docker-Content-Digest: sha512:...`, the digest it was pushed under.
#[tokio::test]
async fn push_sha512_by_digest_with_tag_params_is_pulled_by_tag_under_its_sha512_digest() {
    let reg = Reg::start();
    let mut v = Verdict::new();
    run_data_set(&reg, &mut v, REPO1, &tag_param_data_set(Algorithm::Sha512)).await;
    v.finish();
}

/// Not a suite check but the spec text the dev profile tests (distribution-spec#600): a
/// registry that supports tag parameters "MUST support pushing at least 10 tags at once" and
/// includes an `OCI-Tag` header for each tag pushed; each tag then resolves to the digest.
#[tokio::test]
async fn push_by_digest_with_ten_tag_params_creates_ten_tags() {
    let reg = Reg::start();
    let mut v = Verdict::new();
    let mut ds = DataSet::new("ten-tags", 40);
    let d = ds.image(&ImageSpec::new(Algorithm::Sha256), None);
    for (digest, data) in &ds.blobs {
        blob_post_put(&reg, &mut v, REPO1, digest, data).await;
    }
    let tags: Vec<String> = [
        "1.2.3", "1.2", "1", "latest", "stable", "v1", "v1.2", "v1.2.3", "amd64", "build-42",
    ]
    .iter()
    .map(|t| (*t).to_owned())
    .collect();
    let echoed = manifest_put(&reg, &mut v, REPO1, &d, &d, ds.body(&d), &tags).await;
    v.check(echoed.len() == tags.len(), || {
        format!("PUT /v2/{REPO1}/manifests/{d} with 10 tags: OCI-Tag echoed only {echoed:?}")
    });
    let want: BTreeSet<String> = tags.iter().cloned().collect();
    check_tag_list(&reg, &mut v, REPO1, &want).await;
    for t in &tags {
        manifest_pull(&reg, &mut v, Method::HEAD, REPO1, t, &d, ds.body(&d)).await;
    }
    v.finish();
}

// =============================================================================================
// Data.Sparse
// =============================================================================================

/// `run.go` data set "sparse" (`OCI_DATA_SPARSE=true`): an image whose first layer is never
/// pushed, pushed by digest and as `sparse-image`; a complete image; and an index of that image
/// and of a random manifest digest never pushed, pushed by digest and as `sparse-index`. Every
/// `PUT` must be 201 with a Location serving the manifest (not MANIFEST_BLOB_UNKNOWN); then the
/// tags are listed, every tag, manifest and pushed blob is pulled with `HEAD` and `GET` (digest
/// header required), and everything is deleted.
#[tokio::test]
async fn push_sparse_image_and_index_with_unpushed_descriptors_are_accepted_and_served() {
    let reg = Reg::start();
    let mut v = Verdict::new();
    run_data_set(&reg, &mut v, REPO1, &sparse_data_set()).await;
    v.finish();
}
