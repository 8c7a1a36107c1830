//! The mirrors forms as posted (every field text, checkboxes present or not) and their
//! conversion to and from the sync's settings. A form shown again after a refusal keeps
//! what the user typed; a password is never in a form (settings only name where it comes
//! from, and a stored one is not shown back: left empty on edit, it stays).

use crate::admin::forms::lines;
use crate::sync::settings::{
    DeletedUpstream, MirrorSettings, Mode, ProxySettings, UpstreamSettings,
};
use serde::Deserialize;
use std::path::PathBuf;

fn on(checkbox: &Option<String>) -> bool {
    checkbox.is_some()
}

fn checked(yes: bool) -> Option<String> {
    yes.then(|| "on".to_owned())
}

fn optional(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|s| !s.is_empty())
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct UpstreamForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub url: String,
    /// One host per line or comma.
    #[serde(default)]
    pub hosts: String,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password_env: String,
    #[serde(default)]
    pub password_file: String,
    /// Remove the password source the upstream has.
    #[serde(default)]
    pub clear_password: Option<String>,
    #[serde(default)]
    pub tls_verify: Option<String>,
    #[serde(default)]
    pub ca_file: String,
    #[serde(default)]
    pub max_concurrency: String,
    #[serde(default)]
    pub max_requests_per_second: String,
}

impl UpstreamForm {
    /// An empty form with the settings' defaults.
    pub fn blank() -> UpstreamForm {
        UpstreamForm {
            tls_verify: checked(true),
            max_concurrency: "4".into(),
            ..UpstreamForm::default()
        }
    }

    /// The form for editing `s`; the password fields stay empty.
    pub fn from_settings(s: &UpstreamSettings) -> UpstreamForm {
        UpstreamForm {
            csrf: String::new(),
            name: s.name.clone(),
            url: s.url.clone(),
            hosts: s.hosts.join("\n"),
            default: checked(s.default),
            username: s.username.clone().unwrap_or_default(),
            password_env: String::new(),
            password_file: String::new(),
            clear_password: None,
            tls_verify: checked(s.tls_verify),
            ca_file: s
                .ca_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            max_concurrency: s.max_concurrency.to_string(),
            max_requests_per_second: s
                .max_requests_per_second
                .map(|r| r.to_string())
                .unwrap_or_default(),
        }
    }

    pub fn is_default(&self) -> bool {
        on(&self.default)
    }

    pub fn verifies_tls(&self) -> bool {
        on(&self.tls_verify)
    }

    pub fn clears_password(&self) -> bool {
        on(&self.clear_password)
    }

    /// The settings this form describes. `existing` is the upstream being edited: its
    /// password source stays unless the form names a new one or clears it.
    pub fn to_settings(
        &self,
        existing: Option<&UpstreamSettings>,
    ) -> Result<UpstreamSettings, String> {
        let max_concurrency = match self.max_concurrency.trim() {
            "" => 4,
            n => n
                .parse::<usize>()
                .map_err(|_| format!("Concurrent requests must be a whole number, not {n:?}."))?,
        };
        let max_requests_per_second = match self.max_requests_per_second.trim() {
            "" => None,
            n => Some(
                n.parse::<f64>()
                    .map_err(|_| format!("Requests per second must be a number, not {n:?}."))?,
            ),
        };
        let (mut password_env, mut password_file) = (
            optional(&self.password_env),
            optional(&self.password_file).map(PathBuf::from),
        );
        if self.clears_password() {
            (password_env, password_file) = (None, None);
        } else if password_env.is_none() && password_file.is_none() {
            if let Some(old) = existing {
                password_env = old.password_env.clone();
                password_file = old.password_file.clone();
            }
        }
        Ok(UpstreamSettings {
            name: self.name.trim().to_owned(),
            url: self.url.trim().to_owned(),
            hosts: lines(&self.hosts),
            default: self.is_default(),
            username: optional(&self.username),
            password_env,
            password_file,
            tls_verify: self.verifies_tls(),
            ca_file: optional(&self.ca_file).map(PathBuf::from),
            max_concurrency,
            max_requests_per_second,
        })
    }
}

/// Where an upstream's password comes from, in words (never the password).
pub fn password_status(s: &UpstreamSettings) -> String {
    match (&s.password_env, &s.password_file) {
        (Some(var), _) => format!("A password is set: from the environment variable {var}."),
        (None, Some(path)) => format!("A password is set: from the file {}.", path.display()),
        (None, None) => "No password is set.".into(),
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RuleForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub upstream: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub tags: String,
    #[serde(default)]
    pub exclude: String,
    #[serde(default)]
    pub platforms: String,
    #[serde(default)]
    pub every: String,
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub deleted_upstream: String,
    /// `preview` or `save` (the button pressed).
    #[serde(default)]
    pub action: String,
}

impl RuleForm {
    pub fn blank() -> RuleForm {
        RuleForm {
            mode: "immediate".into(),
            deleted_upstream: "keep".into(),
            ..RuleForm::default()
        }
    }

    pub fn from_settings(s: &MirrorSettings) -> RuleForm {
        RuleForm {
            csrf: String::new(),
            name: s.name.clone(),
            upstream: s.upstream.clone(),
            from: s.from.clone(),
            to: s.to.clone(),
            tags: s.tags.join("\n"),
            exclude: s.exclude.join("\n"),
            platforms: s.platforms.join("\n"),
            every: s.every.clone().unwrap_or_default(),
            mode: mode_value(s.mode).into(),
            deleted_upstream: match s.deleted_upstream {
                DeletedUpstream::Keep => "keep",
                DeletedUpstream::Remove => "remove",
            }
            .into(),
            action: String::new(),
        }
    }

    pub fn previews(&self) -> bool {
        self.action == "preview"
    }

    pub fn to_settings(&self) -> Result<MirrorSettings, String> {
        let mode = match self.mode.as_str() {
            "" | "immediate" => Mode::Immediate,
            "on-demand" => Mode::OnDemand,
            other => return Err(format!("Unknown mode {other:?}.")),
        };
        let deleted_upstream = match self.deleted_upstream.as_str() {
            "" | "keep" => DeletedUpstream::Keep,
            "remove" => DeletedUpstream::Remove,
            other => return Err(format!("Unknown choice for deleted tags {other:?}.")),
        };
        Ok(MirrorSettings {
            name: self.name.trim().to_owned(),
            upstream: self.upstream.trim().to_owned(),
            from: self.from.trim().to_owned(),
            to: self.to.trim().to_owned(),
            tags: lines(&self.tags),
            exclude: lines(&self.exclude),
            platforms: lines(&self.platforms),
            every: optional(&self.every),
            mode,
            deleted_upstream,
        })
    }
}

pub fn mode_value(mode: Mode) -> &'static str {
    match mode {
        Mode::Immediate => "immediate",
        Mode::OnDemand => "on-demand",
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProxyForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub upstream: String,
    #[serde(default)]
    pub fresh_for: String,
}

impl ProxyForm {
    pub fn from_settings(s: &ProxySettings) -> ProxyForm {
        ProxyForm {
            csrf: String::new(),
            prefix: s.prefix.clone(),
            upstream: s.upstream.clone(),
            fresh_for: s.fresh_for.clone().unwrap_or_default(),
        }
    }

    pub fn to_settings(&self) -> ProxySettings {
        ProxySettings {
            prefix: self.prefix.trim().trim_matches('/').to_owned(),
            upstream: self.upstream.trim().to_owned(),
            fresh_for: optional(&self.fresh_for),
        }
    }
}

/// A `<select>` option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// Options for `names`, `current` selected (and kept even when it is not among them, so a
/// re-rendered form shows what was sent).
pub fn choices(names: &[String], current: &str) -> Vec<Choice> {
    let mut out: Vec<Choice> = names
        .iter()
        .map(|n| Choice {
            value: n.clone(),
            label: n.clone(),
            selected: n == current,
        })
        .collect();
    if !current.is_empty() && !names.iter().any(|n| n == current) {
        out.push(Choice {
            value: current.to_owned(),
            label: format!("{current} (not defined)"),
            selected: true,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::forms::parse;

    fn stored() -> UpstreamSettings {
        UpstreamForm {
            name: "up".into(),
            url: "http://127.0.0.1:5000".into(),
            username: "me".into(),
            password_env: "UP_PASSWORD".into(),
            ..UpstreamForm::blank()
        }
        .to_settings(None)
        .expect("valid")
    }

    #[test]
    fn an_upstream_form_maps_to_settings_and_keeps_the_password_source() {
        let s = stored();
        assert_eq!(s.password_env.as_deref(), Some("UP_PASSWORD"));
        assert!(s.tls_verify && !s.default);
        assert_eq!(s.max_concurrency, 4);
        // Editing: the form does not carry the source; left empty, it stays.
        let edit = UpstreamForm::from_settings(&s);
        assert!(edit.password_env.is_empty() && edit.password_file.is_empty());
        let again = edit.to_settings(Some(&s)).expect("valid");
        assert_eq!(again, s);
        // A new source replaces it; clearing removes it.
        let other = UpstreamForm {
            password_file: "/run/secrets/up".into(),
            ..edit.clone()
        }
        .to_settings(Some(&s))
        .expect("valid");
        assert_eq!(
            (other.password_env, other.password_file),
            (None, Some(PathBuf::from("/run/secrets/up")))
        );
        let cleared = UpstreamForm {
            clear_password: checked(true),
            ..edit
        }
        .to_settings(Some(&s))
        .expect("valid");
        assert_eq!((cleared.password_env, cleared.password_file), (None, None));
    }

    #[test]
    fn checkboxes_and_numbers_come_from_the_posted_form() {
        let f: UpstreamForm = parse(
            b"csrf=x&name=hub&url=https%3A%2F%2Fr.example&hosts=docker.io%0D%0Aindex.docker.io&default=on&max_concurrency=8&max_requests_per_second=2.5",
        )
        .expect("parse");
        let s = f.to_settings(None).expect("valid");
        assert_eq!(s.hosts, ["docker.io", "index.docker.io"]);
        assert!(s.default && !s.tls_verify, "unticked tls_verify is off");
        assert_eq!(
            (s.max_concurrency, s.max_requests_per_second),
            (8, Some(2.5))
        );
        let bad = UpstreamForm {
            max_concurrency: "many".into(),
            ..f
        };
        assert!(bad.to_settings(None).expect_err("bad").contains("many"));
    }

    #[test]
    fn a_rule_form_round_trips() {
        let f: RuleForm = parse(
            b"name=app&upstream=up&from=lib%2Fapp&to=mirror%2Fapp&tags=1.*%0Alatest&exclude=*-rc*&platforms=linux%2Famd64&every=6h&mode=on-demand&deleted_upstream=remove&action=preview",
        )
        .expect("parse");
        assert!(f.previews());
        let s = f.to_settings().expect("valid");
        assert_eq!(s.tags, ["1.*", "latest"]);
        assert_eq!(
            (s.mode, s.deleted_upstream),
            (Mode::OnDemand, DeletedUpstream::Remove)
        );
        assert_eq!(s.every.as_deref(), Some("6h"));
        let back = RuleForm::from_settings(&s).to_settings().expect("valid");
        assert_eq!(back, s);
        let bad = RuleForm {
            mode: "sometimes".into(),
            ..f
        };
        assert!(bad.to_settings().is_err());
    }

    #[test]
    fn choices_keep_an_unknown_value() {
        let names = vec!["a".to_owned(), "b".to_owned()];
        let c = choices(&names, "b");
        assert_eq!(c.iter().filter(|c| c.selected).count(), 1);
        let c = choices(&names, "zz");
        assert_eq!(c.len(), 3);
        assert!(c[2].selected && c[2].label.contains("not defined"));
    }
}
