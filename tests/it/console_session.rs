//! A console session over HTTP, as a browser without script keeps it: no redirects
//! followed, cookies kept by hand, forms posted with the CSRF token of the page they are on.

use crate::harness::Hoist;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// A page as a browser got it.
pub struct Page {
    pub status: u16,
    pub location: String,
    pub body: String,
}

/// A browser: a client that follows no redirects and keeps cookies.
pub struct Browser {
    client: reqwest::Client,
    base: String,
    cookies: Mutex<BTreeMap<String, String>>,
}

impl Browser {
    pub fn new(h: &Hoist) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
            base: format!("http://{}", h.addr),
            cookies: Mutex::default(),
        }
    }

    /// Signed in as `user`; panics unless the login succeeds.
    pub async fn signed_in(h: &Hoist, user: &str, password: &str) -> Browser {
        let b = Browser::new(h);
        let page = b.login(user, password).await;
        assert_eq!(page.status, 303, "login as {user}: {}", page.body);
        b
    }

    pub async fn login(&self, user: &str, password: &str) -> Page {
        let form = self.get("/login?next=/").await;
        assert_eq!(form.status, 200);
        let csrf = csrf(&form.body);
        self.post(
            "/login",
            &[
                ("csrf", &csrf),
                ("next", "/"),
                ("username", user),
                ("password", password),
            ],
        )
        .await
    }

    /// The `Cookie` header this session sends.
    pub fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .expect("cookies")
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn keep(&self, r: reqwest::Response) -> Page {
        {
            let mut jar = self.cookies.lock().expect("cookies");
            for v in r.headers().get_all("set-cookie") {
                let v = v.to_str().expect("ascii cookie");
                let pair = v.split(';').next().unwrap_or("");
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                if value.is_empty() || v.contains("Max-Age=0") {
                    jar.remove(name);
                } else {
                    jar.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        Page {
            status: r.status().as_u16(),
            location: r
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned(),
            body: r.text().await.expect("body"),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("GET");
        self.keep(r).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .expect("POST");
        self.keep(r).await
    }

    /// Post `form` from the page at `from`, with that page's CSRF token.
    pub async fn submit(&self, from: &str, action: &str, form: &[(&str, &str)]) -> Page {
        let page = self.get(from).await;
        assert_eq!(page.status, 200, "GET {from}: {}", page.body);
        let token = csrf(&page.body);
        let mut fields = vec![("csrf", token.as_str())];
        fields.extend_from_slice(form);
        self.post(action, &fields).await
    }

    /// GET, expecting 200: the page's HTML.
    pub async fn page(&self, path: &str) -> String {
        let p = self.get(path).await;
        assert_eq!(p.status, 200, "GET {path}: {}", p.body);
        p.body
    }

    /// Follow a 303 and return the page it leads to.
    pub async fn follow(&self, page: Page) -> Page {
        assert_eq!(page.status, 303, "expected a redirect: {}", page.body);
        self.get(&page.location).await
    }
}

/// The first hidden `csrf` field of a page.
pub fn csrf(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no csrf field in {html}"))
        .to_owned()
}
