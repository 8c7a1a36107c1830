//! Groups (admins only): each group with its members and the rules that name it. A group
//! has no record of its own (users list it, rules name it), so this page only reads; a
//! group's members change on each user's page.

use super::rules::{rule_row, RuleRow};
use super::users::group_anchor;
use super::{off_page, tabs, Tab};
use crate::admin::format;
use crate::admin::render::{render, Layout, PageResult};
use crate::admin::viewer::AdminViewer;
use crate::auth::GroupView;
use crate::http::gate::Gate;
use actix_web::web;
use askama::Template;

pub struct GroupBlock {
    pub name: String,
    pub anchor: String,
    /// (name, link to the user's page)
    pub members: Vec<(String, String)>,
    pub rules: Vec<RuleRow>,
}

#[derive(Template)]
#[template(path = "access/groups.html")]
struct GroupsPage {
    layout: Layout,
    tabs: Vec<Tab>,
    groups: Vec<GroupBlock>,
}

fn block(g: GroupView) -> GroupBlock {
    GroupBlock {
        anchor: group_anchor(&g.name),
        members: g
            .members
            .into_iter()
            .map(|m| {
                let href = format!("/access/users/{}", format::percent_encode(&m));
                (m, href)
            })
            .collect(),
        rules: g
            .rules
            .into_iter()
            .map(|(id, r)| rule_row(id, &r))
            .collect(),
        name: g.name,
    }
}

/// `GET /access/groups`
pub async fn page(viewer: AdminViewer, gate: web::Data<Gate>) -> PageResult {
    if let Some(off) = off_page(&viewer) {
        return Ok(off);
    }
    let groups = gate.auth.groups().await?.into_iter().map(block).collect();
    let page = GroupsPage {
        layout: Layout::new(&viewer, "Groups"),
        tabs: tabs(&viewer, "/access/groups"),
        groups,
    };
    Ok(render(&viewer, &page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_links_members_and_anchors_the_group() {
        let b = block(GroupView {
            name: "ci".into(),
            members: vec!["bob".into()],
            rules: vec![],
        });
        assert_eq!(b.anchor, "g-ci");
        assert_eq!(b.members[0].1, "/access/users/bob");
    }
}
