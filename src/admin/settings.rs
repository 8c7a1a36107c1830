//! The settings page (admins only): what this hoist runs with, read-only, each with the
//! config key, flag and environment variable that set it. Changing one means editing the
//! config file (or the flags) and restarting.

use super::render::{render, Layout, PageResult};
use super::viewer::AdminViewer;
use crate::config::Config;
use crate::http::gate::Gate;
use crate::registry::Registry;
use actix_web::{web, HttpRequest};
use askama::Template;
use std::net::SocketAddr;
use std::path::PathBuf;

routes! {
    GET "/settings" ["/settings"] Console => page;
}

/// What the console shows of the server's own configuration (app data made in `app.rs`).
#[derive(Debug, Clone)]
pub struct ConsoleInfo {
    pub listen: SocketAddr,
    pub public_url: Option<String>,
    /// The certificate and key files, when serving TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
}

impl ConsoleInfo {
    pub fn from_config(config: &Config) -> ConsoleInfo {
        ConsoleInfo {
            listen: config.listen,
            public_url: config.public_url.clone(),
            tls: config.tls.as_ref().map(|t| (t.cert.clone(), t.key.clone())),
        }
    }
}

/// One row of the settings table.
pub struct SettingRow {
    pub name: &'static str,
    pub value: String,
    /// The value is a path, key or address (shown as code).
    pub code: bool,
    /// Worth a copy button (a KeyID, a path).
    pub copy: bool,
    /// Shown when the value is not set, instead of it.
    pub unset: Option<&'static str>,
    /// Said after the value.
    pub note: Option<String>,
    /// The config key, flag and variable that set it.
    pub set_by: Vec<String>,
    /// Where the value comes from, in words (a derived path, say).
    pub origin: Option<&'static str>,
}

fn row(name: &'static str, value: String, set_by: &[&str]) -> SettingRow {
    SettingRow {
        name,
        value,
        code: true,
        copy: false,
        unset: None,
        note: None,
        set_by: set_by.iter().map(|s| s.to_string()).collect(),
        origin: None,
    }
}

/// A row no key sets: its value follows from `origin`.
fn derived(name: &'static str, value: String, origin: &'static str) -> SettingRow {
    SettingRow {
        origin: Some(origin),
        ..row(name, value, &[])
    }
}

fn plain(mut r: SettingRow) -> SettingRow {
    r.code = false;
    r
}

fn copyable(mut r: SettingRow) -> SettingRow {
    r.copy = true;
    r
}

/// One table of the page.
pub struct Section {
    pub heading: &'static str,
    pub id: &'static str,
    pub rows: Vec<SettingRow>,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    layout: Layout,
    sections: Vec<Section>,
}

/// The three tables of the page.
fn tables(
    info: Option<&ConsoleInfo>,
    reached: SocketAddr,
    view: &crate::registry::SettingsView,
    auth_on: bool,
) -> (Vec<SettingRow>, Vec<SettingRow>, Vec<SettingRow>) {
    let shown = |p: &PathBuf| p.display().to_string();
    let mut public = row(
        "Public URL",
        info.and_then(|i| i.public_url.clone()).unwrap_or_default(),
        &["public_url", "--public-url", "HOIST_PUBLIC_URL"],
    );
    if public.value.is_empty() {
        public.unset = Some("not set: clients see the address they connect to");
    }
    let mut listen = row(
        "Listen address",
        info.map(|i| i.listen.to_string()).unwrap_or_default(),
        &["listen", "--listen", "HOIST_LISTEN"],
    );
    // Port 0 or an unspecified address: say where this very request arrived.
    if info.is_none_or(|i| i.listen != reached) {
        listen.note = Some(format!("this page came through {reached}"));
    }
    let tls = plain(row(
        "TLS",
        match info.and_then(|i| i.tls.as_ref()) {
            Some((cert, key)) => format!("on: certificate {}, key {}", shown(cert), shown(key)),
            None => "off: plain HTTP (put a TLS proxy in front, or set a certificate)".into(),
        },
        &[
            "tls_cert",
            "tls_key",
            "--tls-cert",
            "--tls-key",
            "HOIST_TLS_CERT",
            "HOIST_TLS_KEY",
        ],
    ));
    let auth = plain(row(
        "Access control",
        if auth_on {
            "on: users, tokens and rules decide who may do what".into()
        } else {
            "off: anyone who reaches hoist may pull, push and delete".into()
        },
        &["[auth] enabled", "HOIST_AUTH_ENABLED"],
    ));
    let auth = SettingRow {
        origin: Some("otherwise on exactly when listening beyond loopback"),
        ..auth
    };
    let server = vec![public, listen, tls, auth];
    let registry = vec![
        row(
            "Default platform",
            view.default_platform.clone(),
            &[
                "default_platform",
                "--default-platform",
                "HOIST_DEFAULT_PLATFORM",
            ],
        ),
        copyable(derived(
            "Schema1 signing KeyID",
            view.schema1_key_id.clone(),
            "the schema1 signing key below, made on first start",
        )),
        derived(
            "Version",
            env!("CARGO_PKG_VERSION").to_owned(),
            "this hoist binary",
        ),
    ];
    let inside = "in the data directory";
    let data = vec![
        copyable(row(
            "Data directory",
            shown(&view.data_dir),
            &["data_dir", "--data-dir", "HOIST_DATA_DIR"],
        )),
        copyable(derived(
            "Metadata database",
            shown(&view.metadata_db),
            inside,
        )),
        copyable(derived("Blobs", shown(&view.blobs_dir), inside)),
        copyable(derived(
            "Uploads in progress",
            shown(&view.uploads_dir),
            inside,
        )),
        copyable(derived(
            "Schema1 signing key",
            shown(&view.schema1_key_file),
            inside,
        )),
        copyable(derived(
            "Token signing key",
            shown(&view.token_key_file),
            inside,
        )),
    ];
    (server, registry, data)
}

async fn page(
    viewer: AdminViewer,
    req: HttpRequest,
    registry: web::Data<Registry>,
    gate: web::Data<Gate>,
    info: Option<web::Data<ConsoleInfo>>,
) -> PageResult {
    let view = registry.settings_view();
    let (server, registry, data) = tables(
        info.as_ref().map(|i| i.get_ref()),
        req.app_config().local_addr(),
        &view,
        gate.enabled(),
    );
    let section = |heading, id, rows| Section { heading, id, rows };
    let page = SettingsPage {
        layout: Layout::new(&viewer, "Settings"),
        sections: vec![
            section("Server", "server", server),
            section("Registry", "registry", registry),
            section("Data", "data", data),
        ],
    };
    Ok(render(&viewer, &page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::SettingsView;

    fn view() -> SettingsView {
        let dir = PathBuf::from("/srv/hoist");
        SettingsView {
            default_platform: "linux/arm64/v8".into(),
            schema1_key_id: "ABCD:EFGH".into(),
            metadata_db: dir.join("hoist.redb"),
            blobs_dir: dir.join("blobs"),
            uploads_dir: dir.join("uploads"),
            schema1_key_file: dir.join("schema1-signing-key.pem"),
            token_key_file: dir.join("token-signing-key.pem"),
            data_dir: dir,
        }
    }

    #[test]
    fn every_setting_says_what_sets_it() {
        let info = ConsoleInfo {
            listen: "0.0.0.0:5000".parse().expect("addr"),
            public_url: None,
            tls: Some(("/c.pem".into(), "/k.pem".into())),
        };
        let (server, registry, data) = tables(Some(&info), info.listen, &view(), true);
        assert_eq!(
            server[0].unset,
            Some("not set: clients see the address they connect to")
        );
        assert_eq!(server[1].value, "0.0.0.0:5000");
        assert!(server[1].note.is_none());
        assert!(server[2].value.starts_with("on: certificate /c.pem"));
        assert!(server[3].value.starts_with("on"));
        assert_eq!(registry[1].value, "ABCD:EFGH");
        assert_eq!(data[1].value, "/srv/hoist/hoist.redb");
        for r in server.iter().chain(&registry).chain(&data) {
            assert!(!r.set_by.is_empty() || r.origin.is_some(), "{}", r.name);
        }
        assert!(registry[1].copy && data.iter().all(|r| r.copy));
        let info = ConsoleInfo {
            public_url: Some("https://reg.example".into()),
            tls: None,
            ..info
        };
        let reached = "127.0.0.1:5000".parse().expect("addr");
        let (server, _, _) = tables(Some(&info), reached, &view(), false);
        assert_eq!(
            server[1].note.as_deref(),
            Some("this page came through 127.0.0.1:5000")
        );
        assert_eq!(server[0].value, "https://reg.example");
        assert!(server[0].unset.is_none());
        assert!(server[2].value.starts_with("off"));
        assert!(server[3].value.starts_with("off"));
    }
}
