//! Every endpoint of the registry and the JSON API, with an example path, its methods and
//! who may call it: with the console's (`app::endpoints` joins them), the table the
//! route-walk test reads (every route, every method, without credentials, must answer 401
//! or a redirect to sign in), kept true by the tests below: each `/v2` route kind and each
//! API resource must be in it.

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: signing in, getting a token, the stylesheet.
    Open,
    /// The registry API: 401 with a Bearer challenge without credentials.
    Registry,
    /// hoist's JSON API: 401 without credentials.
    Api,
    /// A console page: a redirect to the login page without a session.
    Console,
}

#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// An example path (with a repository name, a digest or an id filled in).
    pub path: &'static str,
    pub methods: &'static [&'static str],
    pub access: Access,
}

macro_rules! endpoints {
    ($($path:expr => [$($m:literal),*] $access:ident),* $(,)?) => {
        &[$(Endpoint { path: $path, methods: &[$($m),*], access: Access::$access }),*]
    };
}

/// The console adds its own (`admin::endpoints`); `app::endpoints` has them all.
pub const ENDPOINTS: &[Endpoint] = endpoints![
    "/v2/" => ["GET", "HEAD"] Registry,
    "/v2/_catalog" => ["GET"] Registry,
    "/v2/team/app/tags/list" => ["GET"] Registry,
    "/v2/team/app/manifests/latest" => ["GET", "HEAD", "PUT", "DELETE"] Registry,
    concat!("/v2/team/app/blobs/", "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae") => ["GET", "HEAD", "DELETE"] Registry,
    "/v2/team/app/blobs/uploads/" => ["POST"] Registry,
    "/v2/team/app/blobs/uploads/0a4d55a8-d778-4d4b-9e3e-8d6e1a7f2a11" => ["GET", "PATCH", "PUT", "DELETE"] Registry,
    concat!("/v2/team/app/referrers/", "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae") => ["GET"] Registry,
    "/api/v1/uploads" => ["GET"] Api,
    "/api/v1/repositories/team/app/tags/latest" => ["GET"] Api,
    "/api/v1/upstreams" => ["GET", "POST"] Api,
    "/api/v1/upstreams/hub" => ["GET", "PUT", "DELETE"] Api,
    "/api/v1/mirrors" => ["GET", "POST"] Api,
    "/api/v1/mirrors/alpine" => ["GET", "PUT", "DELETE"] Api,
    "/api/v1/proxies" => ["GET", "POST"] Api,
    "/api/v1/proxies/hub" => ["GET", "PUT", "DELETE"] Api,
    "/api/v1/sync/runs" => ["GET", "POST"] Api,
    "/api/v1/sync/runs/1" => ["GET"] Api,
    "/api/v1/sync/events" => ["GET"] Api,
    "/api/v1/users" => ["GET", "POST"] Api,
    "/api/v1/users/alice" => ["GET", "PUT", "DELETE"] Api,
    "/api/v1/tokens" => ["GET", "POST"] Api,
    "/api/v1/tokens/0123456789abcdef" => ["DELETE"] Api,
    "/api/v1/rules" => ["GET", "POST"] Api,
    "/api/v1/rules/abc" => ["DELETE"] Api,
    "/api/v1/audit" => ["GET"] Api,
    "/token" => ["GET", "POST"] Open,
];

#[cfg(test)]
mod tests {
    use super::super::api::API_RESOURCES;
    use super::super::routes::{parse, Route};
    use super::*;

    /// Every kind of `/v2` route, named so a new kind fails to compile here until the table
    /// has it.
    fn kind(route: &Route<'_>) -> &'static str {
        match route {
            Route::Base => "base",
            Route::Catalog => "catalog",
            Route::Tags { .. } => "tags",
            Route::Manifest { .. } => "manifest",
            Route::Blob { .. } => "blob",
            Route::UploadStart { .. } => "upload start",
            Route::Upload { .. } => "upload",
            Route::Referrers { .. } => "referrers",
        }
    }

    #[test]
    fn every_registry_route_kind_and_api_resource_is_in_the_table() {
        let kinds: Vec<&str> = ENDPOINTS
            .iter()
            .filter_map(|e| e.path.strip_prefix("/v2/"))
            .map(|rest| kind(&parse(rest).expect("the table's /v2 paths route")))
            .collect();
        for want in [
            "base",
            "catalog",
            "tags",
            "manifest",
            "blob",
            "upload start",
            "upload",
            "referrers",
        ] {
            assert!(kinds.contains(&want), "no {want} route in the table");
        }
        for resource in API_RESOURCES {
            let prefix = format!("/api/v1/{resource}");
            assert!(
                ENDPOINTS.iter().any(|e| e.path.starts_with(&prefix)),
                "API resource {resource} is not in the table"
            );
        }
    }
}
