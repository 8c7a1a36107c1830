//! Which endpoint a `/v2/...` path names. Repository names contain slashes and may contain
//! segments like `blobs`, `manifests` or `tags`, so the path is matched from its end.

/// An endpoint with its raw, not yet validated, path parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    Base,
    Catalog,
    Tags { name: &'a str },
    Manifest { name: &'a str, reference: &'a str },
    Blob { name: &'a str, digest: &'a str },
    UploadStart { name: &'a str },
    Upload { name: &'a str, id: &'a str },
    Referrers { name: &'a str, digest: &'a str },
}

/// Match `rest`, the path after `/v2/`.
pub fn parse(rest: &str) -> Option<Route<'_>> {
    if rest.is_empty() {
        return Some(Route::Base);
    }
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    // Split off the last one, two and three segments without allocating.
    let (prefix1, last) = rest.rsplit_once('/')?;
    let (prefix2, second) = prefix1.rsplit_once('/').unwrap_or(("", prefix1));
    let (prefix3, third) = prefix2.rsplit_once('/').unwrap_or(("", prefix2));
    match (third, second, last) {
        (_, "tags", "list") => Some(Route::Tags { name: prefix2 }),
        (_, "manifests", reference) => Some(Route::Manifest {
            name: prefix2,
            reference,
        }),
        (_, "referrers", digest) => Some(Route::Referrers {
            name: prefix2,
            digest,
        }),
        (_, "blobs", "uploads") => Some(Route::UploadStart { name: prefix2 }),
        (_, "blobs", digest) => Some(Route::Blob {
            name: prefix2,
            digest,
        }),
        ("blobs", "uploads", "") => Some(Route::UploadStart { name: prefix3 }),
        ("blobs", "uploads", id) => Some(Route::Upload { name: prefix3, id }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_simple_names() {
        assert_eq!(parse(""), Some(Route::Base));
        assert_eq!(parse("_catalog"), Some(Route::Catalog));
        assert_eq!(parse("a/tags/list"), Some(Route::Tags { name: "a" }));
        assert_eq!(
            parse("a/manifests/latest"),
            Some(Route::Manifest {
                name: "a",
                reference: "latest"
            })
        );
        assert_eq!(
            parse("a/blobs/sha256:x"),
            Some(Route::Blob {
                name: "a",
                digest: "sha256:x"
            })
        );
        assert_eq!(
            parse("a/blobs/uploads/"),
            Some(Route::UploadStart { name: "a" })
        );
        assert_eq!(
            parse("a/blobs/uploads"),
            Some(Route::UploadStart { name: "a" })
        );
        assert_eq!(
            parse("a/blobs/uploads/123"),
            Some(Route::Upload {
                name: "a",
                id: "123"
            })
        );
        assert_eq!(
            parse("a/referrers/sha256:x"),
            Some(Route::Referrers {
                name: "a",
                digest: "sha256:x"
            })
        );
    }

    #[test]
    fn routes_names_with_slashes_and_keywords() {
        assert_eq!(
            parse("a/b/c/d/manifests/v1"),
            Some(Route::Manifest {
                name: "a/b/c/d",
                reference: "v1"
            })
        );
        assert_eq!(
            parse("x/blobs/uploads/manifests/v1"),
            Some(Route::Manifest {
                name: "x/blobs/uploads",
                reference: "v1"
            })
        );
        assert_eq!(
            parse("tags/list/tags/list"),
            Some(Route::Tags { name: "tags/list" })
        );
        assert_eq!(
            parse("manifests/blobs/sha256:x"),
            Some(Route::Blob {
                name: "manifests",
                digest: "sha256:x"
            })
        );
        assert_eq!(
            parse("a/blobs/blobs/uploads/"),
            Some(Route::UploadStart { name: "a/blobs" })
        );
        assert_eq!(
            parse("a/blobs/blobs/uploads/id"),
            Some(Route::Upload {
                name: "a/blobs",
                id: "id"
            })
        );
    }

    #[test]
    fn unknown_paths_do_not_route() {
        assert_eq!(parse("a"), None);
        assert_eq!(parse("a/b"), None);
        assert_eq!(parse("a/unknown/x"), None);
    }
}
