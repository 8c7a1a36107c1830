//! The console's access and settings pages, end to end: signed in through `/login` like a
//! browser (cookies kept by hand), every change made through the forms with their CSRF
//! token, and checked where it matters: Docker clients' Basic logins against `/v2/`.

use crate::access::{basic, start_auth, ADMIN_PW};
use crate::console_session::{csrf, Browser};
use crate::formats::{fixture, push_layout_blobs};
use crate::harness::*;
use crate::rawhttp::{loopback, request_from};

/// The text of each cell of each body row of the page's first table (tags dropped).
fn table_rows(html: &str) -> Vec<Vec<String>> {
    let Some(body) = html.split("<tbody").nth(1) else {
        return Vec::new();
    };
    let body = body.split("</tbody>").next().unwrap_or("");
    body.split("<tr")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let cell = cell.split("</td>").next().unwrap_or("");
                    let cell = cell.split_once('>').map_or("", |(_, c)| c);
                    let mut text = String::new();
                    let mut in_tag = false;
                    for ch in cell.chars() {
                        match ch {
                            '<' => in_tag = true,
                            '>' => in_tag = false,
                            c if !in_tag => text.push(c),
                            _ => {}
                        }
                    }
                    text.trim().to_owned()
                })
                .collect()
        })
        .collect()
}

/// `GET /v2/` with Basic credentials: its status.
async fn v2_status(h: &Hoist, user: &str, password: &str) -> u16 {
    reqwest::Client::new()
        .get(h.url("/v2/"))
        .header("authorization", basic(user, password))
        .send()
        .await
        .expect("GET /v2/")
        .status()
        .as_u16()
}

/// `GET /v2/<repo>/manifests/<tag>` with Basic credentials: its status.
async fn pull_status(h: &Hoist, user: &str, password: &str, repo: &str, tag: &str) -> u16 {
    reqwest::Client::new()
        .get(h.url(&format!("/v2/{repo}/manifests/{tag}")))
        .header("authorization", basic(user, password))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .expect("GET manifest")
        .status()
        .as_u16()
}

/// Make a user through the admin's form; panics unless it works.
async fn make_user(admin: &Browser, name: &str, password: &str, groups: &str) {
    let page = admin
        .submit(
            "/access/users/new",
            "/access/users",
            &[
                ("name", name),
                ("password", password),
                ("password2", password),
                ("groups", groups),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "create {name}: {}", page.body);
}

/// The hostile strings of the tests: markup, quotes and template syntax.
const XSS: &str = "<script>alert(\"x\")</script>'{{7}}";

fn assert_escaped(html: &str, what: &str) {
    assert!(
        !html.contains("<script>alert"),
        "{what}: raw script in {html}"
    );
    assert!(
        html.contains("&#60;script&#62;alert") || html.contains("&lt;script&gt;alert"),
        "{what}: escaped text missing in {html}"
    );
}

#[tokio::test]
async fn users_are_made_edited_and_deleted_through_forms() {
    let h = start_auth("");
    let admin = Browser::signed_in(&h, "admin", ADMIN_PW).await;

    // Without the form's token: refused, nothing made.
    let refused = admin
        .post(
            "/access/users",
            &[
                ("name", "eve"),
                ("password", "eve-password"),
                ("password2", "eve-password"),
            ],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let wrong = admin
        .post(
            "/access/users",
            &[
                ("csrf", "forged"),
                ("name", "eve"),
                ("password", "eve-password"),
                ("password2", "eve-password"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 403);
    assert!(!admin.get("/access").await.body.contains(">eve<"));

    // Bad input comes back explained, with what was typed (escaped).
    let bad = admin
        .submit(
            "/access/users/new",
            "/access/users",
            &[
                ("name", "alice"),
                ("password", "alice-password"),
                ("password2", "alice-passwork"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("passwords differ"), "{}", bad.body);
    assert!(bad.body.contains("value=\"alice\""), "the name is kept");
    let bad = admin
        .submit(
            "/access/users/new",
            "/access/users",
            &[
                ("name", "alice"),
                ("password", "alice-password"),
                ("password2", "alice-password"),
                ("groups", XSS),
            ],
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("use 1-64 lowercase"), "{}", bad.body);
    assert_escaped(&bad.body, "a refused group name");

    // Made, shown in the list, and able to sign in (console and Docker).
    make_user(&admin, "alice", "alice-password", "dev").await;
    let list = admin.get("/access").await;
    assert_eq!(list.status, 200);
    assert!(
        list.body.contains("Created the user alice."),
        "the message once"
    );
    let alice_row = table_rows(&list.body)
        .into_iter()
        .find(|r| r[0].starts_with("alice"))
        .expect("alice in the list");
    assert_eq!(alice_row[1], "dev");
    assert_eq!(alice_row[2], "no", "not an admin");
    assert!(!admin
        .get("/access")
        .await
        .body
        .contains("Created the user alice."));
    let dup = admin
        .submit(
            "/access/users/new",
            "/access/users",
            &[
                ("name", "alice"),
                ("password", "alice-password"),
                ("password2", "alice-password"),
            ],
        )
        .await;
    assert_eq!(dup.status, 409, "{}", dup.body);
    assert_eq!(v2_status(&h, "alice", "alice-password").await, 200);
    let alice = Browser::signed_in(&h, "alice", "alice-password").await;
    assert_eq!(alice.get("/access/tokens").await.status, 200);

    // A generated password is shown once and works.
    let made = admin
        .submit(
            "/access/users/new",
            "/access/users",
            &[("name", "robot"), ("generate", "on"), ("admin", "on")],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let generated = made
        .body
        .split("id=\"new-password\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the password on the page")
        .to_owned();
    assert!(generated.len() >= 20, "{generated}");
    assert_eq!(v2_status(&h, "robot", &generated).await, 200);
    assert!(!admin.get("/access").await.body.contains(&generated));

    // Groups and the admin flag; then the groups page lists her.
    let edited = admin
        .submit(
            "/access/users/alice",
            "/access/users/alice",
            &[("what", "roles"), ("groups", "ci, dev")],
        )
        .await;
    let list = admin.follow(edited).await;
    assert!(list
        .body
        .contains("Saved the groups and admin flag of alice."));
    let groups = admin.get("/access/groups").await;
    assert_eq!(groups.status, 200);
    let ci = groups
        .body
        .split("id=\"g-ci\"")
        .nth(1)
        .expect("the ci group");
    let ci = ci.split("</section>").next().unwrap_or("");
    assert!(ci.contains("/access/users/alice"), "{ci}");
    assert!(!ci.contains("/access/users/robot"));

    // An admin sets a user's password.
    let set = admin
        .submit(
            "/access/users/alice",
            "/access/users/alice",
            &[
                ("what", "password"),
                ("password", "alice-second"),
                ("password2", "alice-second"),
            ],
        )
        .await;
    assert_eq!(set.status, 303, "{}", set.body);
    assert_eq!(v2_status(&h, "alice", "alice-second").await, 200);
    assert_eq!(v2_status(&h, "alice", "alice-password").await, 401);

    // Unknown users are 404 pages.
    assert_eq!(admin.get("/access/users/nobody").await.status, 404);
    assert_eq!(admin.get("/access/users/nobody/delete").await.status, 404);

    // Deleting goes through a page of its own that says what ends; the session ends too.
    let confirm = admin.get("/access/users/alice/delete").await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("Delete the user alice?"));
    assert!(confirm.body.contains("sessions end"), "{}", confirm.body);
    assert!(confirm
        .body
        .contains("action=\"/access/users/alice/delete\""));
    let gone = admin
        .submit(
            "/access/users/alice/delete",
            "/access/users/alice/delete",
            &[],
        )
        .await;
    assert_eq!(gone.status, 303, "{}", gone.body);
    assert_eq!(v2_status(&h, "alice", "alice-second").await, 401);
    let after = alice.get("/access/tokens").await;
    assert_eq!(after.status, 303, "her session ended");
    assert!(after.location.starts_with("/login"));

    // The last admin can neither go nor stop being one; auth's words are shown.
    let robot = Browser::signed_in(&h, "robot", &generated).await;
    let demote = robot
        .submit(
            "/access/users/robot",
            "/access/users/robot",
            &[("what", "roles"), ("groups", "")],
        )
        .await;
    assert_eq!(demote.status, 303, "another admin remains: {}", demote.body);
    let demote = admin
        .submit(
            "/access/users/admin",
            "/access/users/admin",
            &[("what", "roles"), ("groups", "")],
        )
        .await;
    assert_eq!(demote.status, 409, "{}", demote.body);
    assert!(
        demote.body.contains("The last admin cannot stop being one"),
        "{}",
        demote.body
    );
    let confirm = admin.get("/access/users/admin/delete").await;
    assert!(confirm.body.contains("last admin"), "{}", confirm.body);
    let refused = admin
        .submit(
            "/access/users/admin/delete",
            "/access/users/admin/delete",
            &[],
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused.body.contains("the last admin cannot be removed"),
        "{}",
        refused.body
    );
    assert_eq!(v2_status(&h, "admin", ADMIN_PW).await, 200);
}

#[tokio::test]
async fn tokens_show_their_secret_once_work_for_docker_and_stop_when_revoked() {
    let h = start_auth("");
    let admin = Browser::signed_in(&h, "admin", ADMIN_PW).await;
    make_user(&admin, "alice", "alice-password", "").await;
    let alice = Browser::signed_in(&h, "alice", "alice-password").await;

    // Not an admin: admin pages are 403 pages; /access leads to her tokens.
    for path in [
        "/access/users/new",
        "/settings",
        "/access/rules",
        "/access/audit",
        "/access/groups",
        "/access/users/alice",
    ] {
        let page = alice.get(path).await;
        assert_eq!(page.status, 403, "{path}");
        assert!(page.body.contains("for admins"), "{path}: {}", page.body);
    }
    let denied = alice
        .submit(
            "/access/tokens",
            "/access/users",
            &[
                ("name", "mallory"),
                ("password", "mallory-pw"),
                ("password2", "mallory-pw"),
            ],
        )
        .await;
    assert_eq!(denied.status, 403);
    let landing = alice.get("/access").await;
    assert_eq!(
        (landing.status, landing.location.as_str()),
        (303, "/access/tokens")
    );

    // A form missing its scope comes back explained.
    let bad = alice
        .submit(
            "/access/tokens/new",
            "/access/tokens",
            &[
                ("name", "ci"),
                ("repos", ""),
                ("actions", "pull"),
                ("expires", "30d"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(
        bad.body.contains("at least one repository pattern"),
        "{}",
        bad.body
    );
    assert!(bad.body.contains("value=\"ci\""));

    // Made: the secret is on this page and no other.
    let made = alice
        .submit(
            "/access/tokens/new",
            "/access/tokens",
            &[
                ("name", "ci"),
                ("repos", "team/*"),
                ("actions", "pull"),
                ("actions", "push"),
                ("expires", "30d"),
            ],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let secret = made
        .body
        .split("id=\"token-secret\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the secret on the page")
        .to_owned();
    assert!(secret.starts_with("hoist_"), "{secret}");
    assert!(
        made.body
            .contains(&format!("docker login {} -u alice", h.addr)),
        "{}",
        made.body
    );
    assert!(
        made.body.contains(&format!("data-copy=\"{secret}\"")),
        "a copy button"
    );
    let list = alice.get("/access/tokens").await;
    assert!(!list.body.contains(&secret), "never shown again");
    assert!(!list.body.contains(&secret[..20]), "not even its start");
    let rows = table_rows(&list.body);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][0], "ci");
    assert_eq!(rows[0][2], "pull, push on team/*");
    assert_eq!(rows[0][6], "active");
    let id = rows[0][1].clone();

    // It is a docker-login password.
    assert_eq!(v2_status(&h, "alice", &secret).await, 200);

    // The admin sees everyone's tokens, with their owner.
    let all = admin.get("/access/tokens").await;
    assert!(all.body.contains(">Owner<"));
    let row = table_rows(&all.body)
        .into_iter()
        .find(|r| r[1] == id)
        .expect("alice's token in the admin's list");
    assert_eq!(row[2], "alice");

    // Revoked through its confirmation page: it stops working.
    let href = format!("/access/tokens/{id}/revoke");
    assert!(list.body.contains(&href));
    let confirm = alice.get(&href).await;
    assert_eq!(confirm.status, 200);
    assert!(
        confirm.body.contains("Revoke the access token ci"),
        "{}",
        confirm.body
    );
    let done = alice.submit(&href, &href, &[]).await;
    let list = alice.follow(done).await;
    assert!(list.body.contains("Revoked the access token ci."));
    assert_eq!(table_rows(&list.body)[0][6], "revoked");
    assert_eq!(v2_status(&h, "alice", &secret).await, 401);
    assert_eq!(alice.get(&href).await.status, 409, "already revoked");

    // Others' tokens are not hers to see or revoke.
    let made = admin
        .submit(
            "/access/tokens/new",
            "/access/tokens",
            &[
                ("name", "deploy"),
                ("repos", "**"),
                ("actions", "pull"),
                ("expires", "never"),
            ],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let admin_id = table_rows(&admin.get("/access/tokens").await.body)
        .into_iter()
        .find(|r| r[0] == "deploy")
        .expect("deploy")[1]
        .clone();
    let theirs = format!("/access/tokens/{admin_id}/revoke");
    assert_eq!(alice.get(&theirs).await.status, 404);
    let page = alice.get("/access/tokens").await;
    assert!(!page.body.contains("deploy"));
    let forged = alice.post(&theirs, &[("csrf", &csrf(&page.body))]).await;
    assert_eq!(forged.status, 404);
}

#[tokio::test]
async fn rules_grant_and_take_away_and_hostile_names_stay_text() {
    let h = start_auth(
        "[[auth.rules]]\nwho = \"group:readers\"\nrepos = [\"public/**\"]\nactions = [\"pull\"]\n",
    );
    let admin = Browser::signed_in(&h, "admin", ADMIN_PW).await;
    make_user(&admin, "alice", "alice-password", "").await;
    let c = crate::access::admin();
    push_image(&c, &h, "team/app", "v1").await;
    assert_eq!(
        pull_status(&h, "alice", "alice-password", "team/app", "v1").await,
        403
    );

    // The config file's rule is listed, read-only.
    let rules = admin.get("/access/rules").await;
    let rows = table_rows(&rules.body);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][0], "group:readers");
    assert_eq!(rows[0][3], "config file");
    assert_eq!(rows[0][4], "read-only");
    assert!(admin
        .get("/access/rules/new")
        .await
        .body
        .contains("How rules read"));

    // Refused without the form's token, and with bad input explained.
    let refused = admin
        .post(
            "/access/rules",
            &[
                ("kind", "user"),
                ("name", "alice"),
                ("repos", "team/*"),
                ("actions", "pull"),
            ],
        )
        .await;
    assert_eq!(refused.status, 403);
    let bad = admin
        .submit(
            "/access/rules/new",
            "/access/rules",
            &[
                ("kind", "user"),
                ("name", "alice"),
                ("repos", "te*m/x"),
                ("actions", "pull"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(
        bad.body.contains("is not a repository pattern"),
        "{}",
        bad.body
    );
    assert!(bad.body.contains("te*m/x</textarea>"), "kept");

    // Added: alice may pull.
    let added = admin
        .submit(
            "/access/rules/new",
            "/access/rules",
            &[
                ("kind", "user"),
                ("name", "alice"),
                ("repos", "team/*"),
                ("actions", "pull"),
            ],
        )
        .await;
    let rules = admin.follow(added).await;
    assert!(
        rules.body.contains("Added the rule for user:alice team/*."),
        "{}",
        rules.body
    );
    assert_eq!(
        pull_status(&h, "alice", "alice-password", "team/app", "v1").await,
        200
    );
    let row = table_rows(&rules.body)
        .into_iter()
        .find(|r| r[0] == "user:alice")
        .expect("the rule");
    assert_eq!(
        (row[1].as_str(), row[2].as_str(), row[3].as_str()),
        ("team/*", "pull", "console or API")
    );
    let href = rules
        .body
        .split("href=\"/access/rules/")
        .filter_map(|s| s.split('"').next())
        .find(|s| s.ends_with("/delete") && s != &"new")
        .map(|s| format!("/access/rules/{s}"))
        .expect("a delete link");

    // Deleted through its confirmation page: she may not any more.
    let confirm = admin.get(&href).await;
    assert_eq!(confirm.status, 200);
    assert!(
        confirm
            .body
            .contains("Delete the rule that lets user:alice pull team/*?"),
        "{}",
        confirm.body
    );
    let done = admin.submit(&href, &href, &[]).await;
    assert_eq!(done.status, 303);
    assert_eq!(
        pull_status(&h, "alice", "alice-password", "team/app", "v1").await,
        403
    );
    assert_eq!(admin.get(&href).await.status, 404);

    // Rule names and patterns take any text: it stays text on every page showing it.
    let hostile = "x/{{evil}}\"'<b>";
    let made = admin
        .submit(
            "/access/rules/new",
            "/access/rules",
            &[
                ("kind", "group"),
                ("name", XSS),
                ("repos", hostile),
                ("actions", "pull"),
            ],
        )
        .await;
    let rules = admin.follow(made).await;
    assert_escaped(&rules.body, "the rules page and its message");
    assert!(!rules.body.contains("<b>"), "{}", rules.body);
    assert!(
        rules.body.contains("x/{{evil}}&#34;&#39;&#60;b&#62;"),
        "{}",
        rules.body
    );
    let groups = admin.get("/access/groups").await;
    assert_escaped(&groups.body, "the groups page");
    assert!(!groups.body.contains("<b>"));
    let audit = admin.get("/access/audit?action=rule.add").await;
    assert_escaped(&audit.body, "the audit log");
}

#[tokio::test]
async fn the_audit_log_filters_and_pages_and_shows_client_strings_as_text() {
    let h = start_auth("");
    let admin = Browser::signed_in(&h, "admin", ADMIN_PW).await;
    make_user(&admin, "bob", "bob-password", "").await;
    let c = crate::access::admin();
    push_image(&c, &h, "team/app", "v1").await;
    push_image(&c, &h, "other/x", "v1").await;
    // A failed login records the user name the client sent, whatever it is.
    assert_eq!(v2_status(&h, XSS, "guess-guess").await, 401);
    assert_eq!(v2_status(&h, "bob", "wrong-password").await, 401);

    let all = admin.get("/access/audit").await;
    assert_eq!(all.status, 200);
    assert_escaped(&all.body, "a failed login's user name");
    let rows = table_rows(&all.body);
    assert!(rows.len() >= 6, "{rows:?}");
    // Time, who, address, action, target, result, digest.
    let push = rows
        .iter()
        .find(|r| r[3] == "push" && r[4] == "team/app:v1")
        .expect("the push");
    assert_eq!(
        (push[1].as_str(), push[2].as_str(), push[5].as_str()),
        ("admin", "127.0.0.1", "ok")
    );
    assert!(push[6].starts_with("sha256:"), "{push:?}");

    let check = |query: &'static str, keep: fn(&[String]) -> bool| {
        let admin = &admin;
        async move {
            let page = admin.get(&format!("/access/audit?{query}")).await;
            assert_eq!(page.status, 200, "{query}");
            let rows = table_rows(&page.body);
            assert!(!rows.is_empty(), "{query}: nothing");
            assert!(rows.iter().all(|r| keep(r)), "{query}: {rows:?}");
            rows.len()
        }
    };
    check("who=bob", |r| r[1] == "bob").await;
    check("result=failed", |r| r[5] == "failed").await;
    check("action=user", |r| r[3].starts_with("user.")).await;
    check("action=push&repo=team/app", |r| {
        r[3] == "push" && r[4].starts_with("team/app:")
    })
    .await;
    check("repo=other/*", |r| r[4].starts_with("other/x")).await;
    check("who=admin&within=1h&result=ok", |r| {
        r[1] == "admin" && r[5] == "ok"
    })
    .await;
    let none = admin.get("/access/audit?who=nobody").await;
    assert!(none.body.contains("No entries match."));
    let form = admin.get("/access/audit?who=bob&result=failed").await;
    assert!(
        form.body.contains("value=\"bob\""),
        "filters stay in the form"
    );
    assert!(form.body.contains("<option value=\"failed\" selected>"));

    // Pages of 50, newest first, each entry once.
    // From as many addresses, so no address is locked out for failing too often.
    for i in 0..60u8 {
        let r = request_from(
            &h,
            loopback(10 + i),
            "GET",
            "/v2/",
            &[("Authorization", basic(&format!("ghost{i}"), "guess-guess"))],
            b"",
        );
        assert_eq!(r.status, 401);
    }
    let first = admin.get("/access/audit?action=login&result=failed").await;
    let rows1 = table_rows(&first.body);
    assert_eq!(rows1.len(), 50);
    assert_eq!(rows1[0][1], "ghost59", "newest first");
    assert_eq!(rows1[0][2], "127.0.0.69", "from its address");
    assert!(
        first
            .body
            .replace("&#38;", "&")
            .contains("/access/audit?action=login&result=failed&page=2"),
        "older link"
    );
    let second = admin
        .get("/access/audit?action=login&result=failed&page=2")
        .await;
    let rows2 = table_rows(&second.body);
    assert_eq!(rows2.len(), 62 - 50, "{rows2:?}");
    assert!(second.body.contains("Newer"));
    let mut whos: Vec<&String> = rows1.iter().chain(&rows2).map(|r| &r[1]).collect();
    whos.sort();
    whos.dedup();
    assert_eq!(whos.len(), 62);
}

#[tokio::test]
async fn a_user_changes_their_own_password() {
    let h = start_auth("");
    let admin = Browser::signed_in(&h, "admin", ADMIN_PW).await;
    make_user(&admin, "bob", "bob-password", "").await;
    let bob = Browser::signed_in(&h, "bob", "bob-password").await;
    // Bob signed in elsewhere too (or someone holds a copy of his cookie).
    let elsewhere = Browser::signed_in(&h, "bob", "bob-password").await;
    assert_eq!(elsewhere.get("/access/password").await.status, 200);

    let page = bob.get("/access/password").await;
    assert_eq!(page.status, 200);
    let wrong = bob
        .submit(
            "/access/password",
            "/access/password",
            &[
                ("current", "not-it-at-all"),
                ("password", "bob-new-password"),
                ("password2", "bob-new-password"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert!(wrong.body.contains("The current password is wrong."));
    let differ = bob
        .submit(
            "/access/password",
            "/access/password",
            &[
                ("current", "bob-password"),
                ("password", "bob-new-password"),
                ("password2", "bob-new-passwort"),
            ],
        )
        .await;
    assert_eq!(differ.status, 422);
    let short = bob
        .submit(
            "/access/password",
            "/access/password",
            &[
                ("current", "bob-password"),
                ("password", "short"),
                ("password2", "short"),
            ],
        )
        .await;
    assert_eq!(short.status, 422);
    assert!(
        short.body.contains("at least 8 characters"),
        "{}",
        short.body
    );
    let unforged = bob
        .post(
            "/access/password",
            &[
                ("current", "bob-password"),
                ("password", "bob-new-password"),
                ("password2", "bob-new-password"),
            ],
        )
        .await;
    assert_eq!(unforged.status, 403);
    assert_eq!(v2_status(&h, "bob", "bob-password").await, 200);

    let done = bob
        .submit(
            "/access/password",
            "/access/password",
            &[
                ("current", "bob-password"),
                ("password", "bob-new-password"),
                ("password2", "bob-new-password"),
            ],
        )
        .await;
    let page = bob.follow(done).await;
    assert!(page.body.contains("Changed your password."));
    assert_eq!(v2_status(&h, "bob", "bob-password").await, 401);
    assert_eq!(v2_status(&h, "bob", "bob-new-password").await, 200);
    assert_eq!(
        Browser::new(&h).login("bob", "bob-password").await.status,
        401
    );
    Browser::signed_in(&h, "bob", "bob-new-password").await;
    // The change ended his other session; the one that made it goes on.
    let other = elsewhere.get("/access/password").await;
    assert_eq!(
        other.status, 303,
        "a session from before the change still works"
    );
    assert_eq!(bob.get("/access/password").await.status, 200);

    // Removing bob ends his sessions; a new bob does not inherit them.
    let before = Browser::signed_in(&h, "bob", "bob-new-password").await;
    let page = admin.get("/access/users/bob/delete").await;
    assert_eq!(page.status, 200);
    let gone = admin
        .submit("/access/users/bob/delete", "/access/users/bob/delete", &[])
        .await;
    assert_eq!(gone.status, 303);
    make_user(&admin, "bob", "bob-new-password", "").await;
    assert_eq!(before.get("/access/password").await.status, 303);
    assert_eq!(bob.get("/access/password").await.status, 303);
}

#[tokio::test]
async fn settings_show_the_key_schema1_is_signed_with_and_the_data_paths() {
    let h = start_auth("");
    let c = crate::access::admin();
    push_layout_blobs(&c, &h, "test/simple", "simple").await;
    put_manifest(
        &c,
        &h,
        "test/simple",
        "v2s2",
        "application/vnd.docker.distribution.manifest.v2+json",
        &fixture("pushed/simple.v2s2.manifest.json"),
    )
    .await;
    let r = c
        .get(h.url("/v2/test/simple/manifests/v2s2"))
        .header(
            "accept",
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
        )
        .send()
        .await
        .expect("GET schema1");
    assert_eq!(r.status(), 200);
    let signed: serde_json::Value = r.json().await.expect("JSON");
    let kid = signed["signatures"][0]["header"]["jwk"]["kid"]
        .as_str()
        .expect("a kid")
        .to_owned();

    let admin = Browser::signed_in(&h, "admin", ADMIN_PW).await;
    let page = admin.get("/settings").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(&format!("<code>{kid}</code>")),
        "KeyID {kid}: {}",
        page.body
    );
    let data = h.data_dir.display().to_string();
    assert!(
        page.body.contains(&format!("<code>{data}</code>")),
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains(&format!("<code>{data}/hoist.redb</code>")));
    assert!(page.body.contains(&format!("<code>{data}/blobs</code>")));
    assert!(page
        .body
        .contains("not set: clients see the address they connect to"));
    assert!(page.body.contains("HOIST_PUBLIC_URL"));
    assert!(page.body.contains(env!("CARGO_PKG_VERSION")));
    assert!(page.body.contains("linux/amd64"));
    assert!(
        page.body.contains(&format!("came through {}", h.addr)),
        "the listen address"
    );
    assert!(page.body.contains("on: users, tokens and rules"));
}

#[tokio::test]
async fn with_access_control_off_the_access_pages_say_so() {
    let h = Hoist::start();
    let b = Browser::new(&h);
    let home = b.get("/").await;
    assert_eq!(home.status, 200);
    assert!(
        !home.body.contains("href=\"/access\""),
        "no Access in the navigation"
    );
    for path in [
        "/access",
        "/access/users/new",
        "/access/tokens",
        "/access/rules/new",
        "/access/audit",
        "/access/password",
    ] {
        let page = b.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(page.body.contains("Access control is off"), "{path}");
        assert!(page.body.contains("HOIST_AUTH_ENABLED"), "{path}");
        assert!(
            !page.body.contains("<form method=\"post\" action=\"/access"),
            "{path}: a form that cannot work"
        );
    }
    let posted = b.post("/access/users", &[("name", "x")]).await;
    assert!(posted.body.contains("Access control is off"));
    let settings = b.get("/settings").await;
    assert_eq!(settings.status, 200);
    assert!(settings.body.contains("off: anyone who reaches hoist"));
}
