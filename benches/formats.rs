//! Criterion benches for the pure format functions on the request path: digesting, parsing,
//! Accept parsing and the variant choice, schema2 -> schema1 conversion and signing,
//! signature verification, and schema1 -> schema2 up-conversion.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use hoist::oci::accept::Accept;
use hoist::oci::negotiate::{next_step, Addressed};
use hoist::oci::schema1::jws::{self, SchemaKey};
use hoist::oci::schema1::to_schema1;
use hoist::oci::schema1::to_schema2::{LayerFacts, Schema1Image};
use hoist::oci::{Digest, Manifest, ManifestKind};

fn fixture(path: &str) -> Vec<u8> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/");
    std::fs::read(format!("{root}{path}")).expect("fixture")
}

const DOCKER_19_28: [&str; 6] = [
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
];

fn negotiation(c: &mut Criterion) {
    c.bench_function("accept_parse_docker19_28", |b| {
        b.iter(|| Accept::parse(black_box(DOCKER_19_28)))
    });
    let accept = Accept::parse(DOCKER_19_28);
    let none = Accept::parse([]);
    c.bench_function("variant_choice_step", |b| {
        b.iter(|| {
            (
                next_step(
                    black_box(ManifestKind::OciIndex),
                    black_box(&accept),
                    Addressed::ByTag,
                    true,
                ),
                next_step(
                    black_box(ManifestKind::Schema2),
                    black_box(&none),
                    Addressed::ByTag,
                    true,
                ),
            )
        })
    });
}

fn conversion(c: &mut Criterion) {
    let manifest_bytes = fixture("pushed/simple.v2s2.manifest.json");
    let config = fixture(
        "layout/simple/blobs/sha256/4123566b622d104aec09e2baf1a440931c971de7e80cc3231158a837cb67db86",
    );
    c.bench_function("manifest_parse_schema2", |b| {
        b.iter(|| Manifest::parse(black_box(&manifest_bytes), None))
    });
    let manifest = Manifest::parse(&manifest_bytes, None).expect("parse");
    c.bench_function("schema2_to_schema1_payload", |b| {
        b.iter(|| {
            to_schema1(
                "test/simple",
                "v2s2",
                black_box(&manifest.layers),
                black_box(&config),
            )
        })
    });
    let key = SchemaKey::from_secret(&[7u8; 32]).expect("key");
    let payload = to_schema1("test/simple", "v2s2", &manifest.layers, &config).expect("convert");
    c.bench_function("schema1_sign", |b| {
        b.iter(|| key.sign(black_box(&payload), "2000-01-01T00:00:00Z"))
    });
    let signed = key.sign(&payload, "2000-01-01T00:00:00Z");
    c.bench_function("schema1_verify", |b| {
        b.iter(|| jws::verify(black_box(signed.as_bytes())))
    });
    let image = Schema1Image::parse(payload.as_bytes()).expect("schema1");
    let facts: Vec<LayerFacts> = image
        .layer_blobs()
        .iter()
        .map(|d| LayerFacts {
            size: 100,
            diff_id: d.clone(),
        })
        .collect();
    c.bench_function("schema1_to_schema2", |b| {
        b.iter(|| image.to_schema2(black_box(&facts)))
    });
    let mib = vec![0x5au8; 1 << 20];
    c.bench_function("sha256_1mib", |b| {
        b.iter(|| Digest::sha256_of(black_box(&mib)))
    });
}

criterion_group!(benches, negotiation, conversion);
criterion_main!(benches);
