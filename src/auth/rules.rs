//! Who may do what to which repositories, as pure functions: repository globs, subjects
//! (users, their groups, access tokens, anyone), actions, and the check. No I/O.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// What can be done to a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Pull,
    Push,
    Delete,
    /// Everything, including the repository's settings.
    Admin,
}

impl Action {
    pub const ALL: [Action; 4] = [Action::Pull, Action::Push, Action::Delete, Action::Admin];

    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "pull" => Some(Action::Pull),
            "push" => Some(Action::Push),
            "delete" => Some(Action::Delete),
            "admin" | "*" => Some(Action::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
            Action::Admin => "admin",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A repository pattern: `team/app` exactly, `team/*` one more path segment, `team/**` any
/// depth below `team`, `*` any one-segment name, `**` everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RepoGlob(String);

impl RepoGlob {
    pub fn parse(pattern: &str) -> Result<RepoGlob, String> {
        let p = pattern.trim();
        let ok = !p.is_empty()
            && p.split('/')
                .all(|seg| seg == "*" || seg == "**" || (!seg.is_empty() && !seg.contains('*')));
        if !ok {
            return Err(format!(
                "{pattern:?} is not a repository pattern (team/app, team/*, team/**)"
            ));
        }
        Ok(RepoGlob(p.to_owned()))
    }

    pub fn matches(&self, repo: &str) -> bool {
        fn walk(pattern: &[&str], name: &[&str]) -> bool {
            match (pattern.first(), name.first()) {
                (None, None) => true,
                (Some(&"**"), _) => {
                    // `**` takes one segment or more.
                    (1..=name.len()).any(|n| walk(&pattern[1..], &name[n..]))
                }
                (Some(&"*"), Some(_)) => walk(&pattern[1..], &name[1..]),
                (Some(p), Some(n)) => p == n && walk(&pattern[1..], &name[1..]),
                _ => false,
            }
        }
        let pattern: Vec<&str> = self.0.split('/').collect();
        let name: Vec<&str> = repo.split('/').collect();
        walk(&pattern, &name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RepoGlob {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        RepoGlob::parse(&s)
    }
}

impl From<RepoGlob> for String {
    fn from(g: RepoGlob) -> String {
        g.0
    }
}

/// Whom a rule grants to: `user:alice`, `group:ci`, `token:deploy`, `anonymous`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Who {
    User(String),
    Group(String),
    Token(String),
    /// Everyone, signed in or not.
    Anonymous,
}

impl Who {
    pub fn parse(s: &str) -> Result<Who, String> {
        let s = s.trim();
        if s == "anonymous" {
            return Ok(Who::Anonymous);
        }
        let (kind, name) = s
            .split_once(':')
            .filter(|(_, n)| !n.is_empty())
            .ok_or_else(|| {
                format!("{s:?}: write user:<name>, group:<name>, token:<name> or anonymous")
            })?;
        match kind {
            "user" => Ok(Who::User(name.to_owned())),
            "group" => Ok(Who::Group(name.to_owned())),
            "token" => Ok(Who::Token(name.to_owned())),
            _ => Err(format!(
                "{s:?}: write user:<name>, group:<name>, token:<name> or anonymous"
            )),
        }
    }
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Who::User(n) => write!(f, "user:{n}"),
            Who::Group(n) => write!(f, "group:{n}"),
            Who::Token(n) => write!(f, "token:{n}"),
            Who::Anonymous => f.write_str("anonymous"),
        }
    }
}

impl TryFrom<String> for Who {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Who::parse(&s)
    }
}

impl From<Who> for String {
    fn from(w: Who) -> String {
        w.to_string()
    }
}

/// `who` may do `actions` to repositories matching any of `repos`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub who: Who,
    pub repos: Vec<RepoGlob>,
    pub actions: BTreeSet<Action>,
}

impl Rule {
    fn grants(&self, repo: &str, action: Action) -> bool {
        (self.actions.contains(&action) || self.actions.contains(&Action::Admin))
            && self.repos.iter().any(|g| g.matches(repo))
    }
}

/// A repository scope an access token is limited to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    pub repos: Vec<RepoGlob>,
    pub actions: BTreeSet<Action>,
}

impl Scope {
    fn allows(&self, repo: &str, action: Action) -> bool {
        (self.actions.contains(&action) || self.actions.contains(&Action::Admin))
            && self.repos.iter().any(|g| g.matches(repo))
    }
}

/// Who is asking, as far as permissions go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Anonymous,
    User {
        name: String,
        groups: Vec<String>,
        admin: bool,
    },
    /// An access token acting for its owner, within its scopes.
    Token {
        id: String,
        name: String,
        owner: Box<Subject>,
        scopes: Vec<Scope>,
    },
}

impl Subject {
    /// The name audit records and tokens carry.
    pub fn label(&self) -> String {
        match self {
            Subject::Anonymous => "anonymous".into(),
            Subject::User { name, .. } => name.clone(),
            Subject::Token { name, .. } => format!("token:{name}"),
        }
    }

    pub fn is_admin(&self) -> bool {
        matches!(self, Subject::User { admin: true, .. })
    }
}

/// Whether `subject` may do `action` to `repo` under `rules`.
pub fn allowed(rules: &[Rule], subject: &Subject, action: Action, repo: &str) -> bool {
    let for_anyone = rules
        .iter()
        .any(|r| r.who == Who::Anonymous && r.grants(repo, action));
    match subject {
        Subject::Anonymous => for_anyone,
        Subject::User {
            name,
            groups,
            admin,
        } => {
            *admin
                || for_anyone
                || rules.iter().any(|r| {
                    let mine = match &r.who {
                        Who::User(u) => u == name,
                        Who::Group(g) => groups.contains(g),
                        _ => false,
                    };
                    mine && r.grants(repo, action)
                })
        }
        Subject::Token {
            name,
            owner,
            scopes,
            ..
        } => {
            let within = scopes.iter().any(|s| s.allows(repo, action));
            let granted = allowed(rules, owner, action, repo)
                || rules
                    .iter()
                    .any(|r| r.who == Who::Token(name.clone()) && r.grants(repo, action));
            within && granted
        }
    }
}

/// The actions of `wanted` that `subject` may do to `repo` (what a token's claim holds).
pub fn granted(rules: &[Rule], subject: &Subject, repo: &str, wanted: &[Action]) -> Vec<Action> {
    wanted
        .iter()
        .copied()
        .filter(|a| allowed(rules, subject, *a, repo))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(s: &str) -> RepoGlob {
        RepoGlob::parse(s).expect("glob")
    }

    fn rule(who: &str, repos: &[&str], actions: &[Action]) -> Rule {
        Rule {
            who: Who::parse(who).expect("who"),
            repos: repos.iter().map(|r| glob(r)).collect(),
            actions: actions.iter().copied().collect(),
        }
    }

    fn user(name: &str, groups: &[&str]) -> Subject {
        Subject::User {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            admin: false,
        }
    }

    #[test]
    fn globs_match_one_segment_or_any_depth() {
        let cases = [
            ("team/*", "team/app", true),
            ("team/*", "team/app/sub", false),
            ("team/*", "team", false),
            ("team/**", "team/app/sub", true),
            ("team/**", "team", false),
            ("public/**", "public/a/b/c", true),
            ("*", "alpine", true),
            ("*", "library/alpine", false),
            ("**", "a/b/c", true),
            ("team/app", "team/app", true),
            ("team/app", "team/apps", false),
            ("*/app", "x/app", true),
        ];
        for (pattern, repo, want) in cases {
            assert_eq!(glob(pattern).matches(repo), want, "{pattern} on {repo}");
        }
        for bad in ["", "te*m/x", "a//b"] {
            assert!(RepoGlob::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rules_grant_to_users_groups_tokens_and_anyone() {
        let rules = vec![
            rule("group:ci", &["team/*"], &[Action::Pull, Action::Push]),
            rule("user:alice", &["alice/**"], &[Action::Admin]),
            rule("anonymous", &["public/*"], &[Action::Pull]),
            rule("token:deploy", &["prod/*"], &[Action::Pull]),
        ];
        let ci = user("bob", &["ci"]);
        assert!(allowed(&rules, &ci, Action::Push, "team/app"));
        assert!(!allowed(&rules, &ci, Action::Delete, "team/app"));
        assert!(!allowed(&rules, &ci, Action::Pull, "b/x"));
        assert!(
            allowed(&rules, &ci, Action::Pull, "public/x"),
            "anyone's rights too"
        );
        let alice = user("alice", &[]);
        assert!(
            allowed(&rules, &alice, Action::Delete, "alice/a/b"),
            "admin is all"
        );
        assert!(!allowed(
            &rules,
            &Subject::Anonymous,
            Action::Push,
            "public/x"
        ));
        assert!(allowed(
            &rules,
            &Subject::Anonymous,
            Action::Pull,
            "public/x"
        ));
        let boss = Subject::User {
            name: "root".into(),
            groups: vec![],
            admin: true,
        };
        assert!(allowed(&rules, &boss, Action::Delete, "any/thing"));
        assert_eq!(
            granted(
                &rules,
                &ci,
                "team/app",
                &[Action::Pull, Action::Push, Action::Delete]
            ),
            vec![Action::Pull, Action::Push]
        );
    }

    #[test]
    fn a_token_is_its_scopes_within_its_owners_rights() {
        let rules = vec![
            rule("group:ci", &["team/*"], &[Action::Pull, Action::Push]),
            rule("token:deploy", &["prod/*"], &[Action::Pull]),
        ];
        let token = |scopes: Vec<Scope>| Subject::Token {
            id: "1".into(),
            name: "deploy".into(),
            owner: Box::new(user("bob", &["ci"])),
            scopes,
        };
        let pull_team = Scope {
            repos: vec![glob("team/*")],
            actions: [Action::Pull].into(),
        };
        let t = token(vec![pull_team]);
        assert!(allowed(&rules, &t, Action::Pull, "team/app"));
        assert!(
            !allowed(&rules, &t, Action::Push, "team/app"),
            "scope says pull"
        );
        assert!(!allowed(&rules, &t, Action::Pull, "b/x"));
        let everything = Scope {
            repos: vec![glob("**")],
            actions: [Action::Admin].into(),
        };
        let t = token(vec![everything]);
        assert!(
            allowed(&rules, &t, Action::Pull, "prod/web"),
            "granted to the token"
        );
        assert!(
            !allowed(&rules, &t, Action::Delete, "team/app"),
            "not the owner's either"
        );
        assert_eq!(
            Who::parse("token:deploy").expect("who").to_string(),
            "token:deploy"
        );
        assert!(Who::parse("robot:x").is_err());
    }
}
