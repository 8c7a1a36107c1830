//! The console's static files, embedded at build time: one stylesheet made of a base and
//! one file per group of pages, and one script likewise, so a page costs two requests
//! that the browser then caches (their URLs carry a hash of their content).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

const CSS_PARTS: &[&str] = &[
    include_str!("../../static/css/base.css"),
    include_str!("../../static/css/dashboard.css"),
    include_str!("../../static/css/repos.css"),
    include_str!("../../static/css/mirrors.css"),
    include_str!("../../static/css/access.css"),
];

const JS_PARTS: &[&str] = &[
    include_str!("../../static/js/hoist.js"),
    include_str!("../../static/js/progress.js"),
];

const FAVICON: &str = include_str!("../../static/favicon.svg");

/// An asset with its content type and a version (the start of its sha256).
pub struct Asset {
    pub body: String,
    pub content_type: &'static str,
    pub version: String,
}

fn asset(parts: &[&str], content_type: &'static str) -> Asset {
    let body = parts.join("\n");
    let version = hex::encode(&Sha256::digest(body.as_bytes())[..6]);
    Asset {
        body,
        content_type,
        version,
    }
}

pub fn css() -> &'static Asset {
    static CSS: OnceLock<Asset> = OnceLock::new();
    CSS.get_or_init(|| asset(CSS_PARTS, "text/css; charset=utf-8"))
}

pub fn js() -> &'static Asset {
    static JS: OnceLock<Asset> = OnceLock::new();
    JS.get_or_init(|| asset(JS_PARTS, "text/javascript; charset=utf-8"))
}

pub fn favicon() -> &'static Asset {
    static ICON: OnceLock<Asset> = OnceLock::new();
    ICON.get_or_init(|| asset(&[FAVICON], "image/svg+xml"))
}

/// Serve `asset`: a year in caches when the URL names its version (`?v=`), an hour
/// otherwise; 304 when the browser has it.
pub fn serve(req: &HttpRequest, asset: &Asset) -> HttpResponse {
    let etag = format!("\"{}\"", asset.version);
    let cache = if req.query_string() == format!("v={}", asset.version) {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=3600"
    };
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if fresh {
        return response.finish();
    }
    response
        .content_type(asset.content_type)
        .body(asset.body.clone())
}
