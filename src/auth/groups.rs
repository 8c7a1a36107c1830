//! Groups as a whole: a group has no record of its own, it exists through the users that
//! list it and the rules that name it (`group:<name>`). This gathers both, for the console.

use super::records::UserView;
use super::rules::{Rule, Who};
use super::{Auth, AuthError};
use std::collections::BTreeMap;

/// One group: who is in it and what rules grant it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupView {
    pub name: String,
    /// Member user names, sorted.
    pub members: Vec<String>,
    /// The rules naming the group, with their ids (none for the config file's).
    pub rules: Vec<(Option<String>, Rule)>,
}

/// Every group named by a user or a rule, sorted by name.
pub fn group_overview(users: &[UserView], rules: &[(Option<String>, Rule)]) -> Vec<GroupView> {
    fn entry<'a>(groups: &'a mut BTreeMap<String, GroupView>, name: &str) -> &'a mut GroupView {
        groups.entry(name.to_owned()).or_insert_with(|| GroupView {
            name: name.to_owned(),
            members: Vec::new(),
            rules: Vec::new(),
        })
    }
    let mut groups: BTreeMap<String, GroupView> = BTreeMap::new();
    for user in users {
        for g in &user.groups {
            let group = entry(&mut groups, g);
            if !group.members.contains(&user.name) {
                group.members.push(user.name.clone());
            }
        }
    }
    for (id, rule) in rules {
        if let Who::Group(g) = &rule.who {
            entry(&mut groups, g).rules.push((id.clone(), rule.clone()));
        }
    }
    let mut out: Vec<GroupView> = groups.into_values().collect();
    for g in &mut out {
        g.members.sort();
    }
    out
}

impl Auth {
    /// Every group, with its members and the rules that name it.
    pub async fn groups(&self) -> Result<Vec<GroupView>, AuthError> {
        let users = self.users().await?;
        let rules = self.rule_list().await?;
        Ok(group_overview(&users, &rules))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::rules::{Action, RepoGlob};

    fn user(name: &str, groups: &[&str]) -> UserView {
        UserView {
            name: name.into(),
            admin: false,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            created_at: 0,
        }
    }

    fn rule(who: &str) -> Rule {
        Rule {
            who: Who::parse(who).expect("who"),
            repos: vec![RepoGlob::parse("team/*").expect("glob")],
            actions: [Action::Pull].into(),
        }
    }

    #[test]
    fn groups_come_from_users_and_rules() {
        let users = [
            user("zoe", &["ci", "ops"]),
            user("bob", &["ci"]),
            user("amy", &[]),
        ];
        let rules = [
            (None, rule("group:ci")),
            (Some("r1".to_owned()), rule("group:auditors")),
            (Some("r2".to_owned()), rule("user:bob")),
        ];
        let groups = group_overview(&users, &rules);
        let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["auditors", "ci", "ops"]);
        assert!(groups[0].members.is_empty(), "only a rule names it");
        assert_eq!(groups[0].rules[0].0.as_deref(), Some("r1"));
        assert_eq!(groups[1].members, ["bob", "zoe"]);
        assert_eq!(groups[1].rules.len(), 1);
        assert!(groups[1].rules[0].0.is_none(), "the config file's rule");
        assert_eq!(groups[2].members, ["zoe"]);
        assert!(groups[2].rules.is_empty());
    }
}
