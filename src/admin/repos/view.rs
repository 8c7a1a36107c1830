//! What the repository pages share: page links, times, kinds of manifest in words, the
//! host in pull commands, and cutting untrusted text down to a size a page can show.

use crate::admin::format;
use crate::http::Edge;
use actix_web::{web, HttpRequest};

/// A time as the templates place it: `<time datetime="{iso}" title="{when}">{ago}</time>`.
#[derive(Debug, Clone)]
pub struct Time {
    pub iso: String,
    pub when: String,
    pub ago: String,
}

impl Time {
    pub fn at(unix: u64, now: u64) -> Time {
        Time {
            iso: format::iso(unix),
            when: format::when(unix),
            ago: format::ago(unix, now),
        }
    }
}

/// A digest with its short form and the console's page for it.
#[derive(Debug, Clone)]
pub struct DigestLink {
    pub full: String,
    pub short: String,
    pub href: String,
}

impl DigestLink {
    pub fn new(repo: &str, digest: &str) -> DigestLink {
        DigestLink {
            full: digest.to_owned(),
            short: format::short_digest(digest),
            href: format::manifest_href(repo, digest),
        }
    }
}

/// One link of a pager: a page number, or a gap (`…`) between numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageLink {
    pub number: usize,
    pub href: String,
    pub current: bool,
    pub gap: bool,
}

/// Page links for `page` of `pages`: the first, the last and two either side of the current
/// one, with gaps between; `href(n)` makes a page's URL.
#[derive(Debug, Clone, Default)]
pub struct Pager {
    pub links: Vec<PageLink>,
    pub prev: Option<String>,
    pub next: Option<String>,
    /// The navigation's accessible name ("Repository pages").
    pub label: String,
}

impl Pager {
    pub fn new(label: &str, page: usize, pages: usize, href: impl Fn(usize) -> String) -> Pager {
        let mut links: Vec<PageLink> = Vec::new();
        if pages > 1 {
            for n in 1..=pages {
                let near = n + 2 >= page && n <= page + 2;
                if n == 1 || n == pages || near {
                    if links.last().is_some_and(|l| l.number + 1 < n) {
                        links.push(PageLink {
                            number: 0,
                            href: String::new(),
                            current: false,
                            gap: true,
                        });
                    }
                    links.push(PageLink {
                        number: n,
                        href: href(n),
                        current: n == page,
                        gap: false,
                    });
                }
            }
        }
        Pager {
            prev: (page > 1 && pages > 1).then(|| href(page - 1)),
            next: (page < pages).then(|| href(page + 1)),
            links,
            label: label.to_owned(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }
}

/// How many pages `n` items make at `per_page` (at least one), and `page` kept inside them.
pub fn pages(n: usize, per_page: usize, page: usize) -> (usize, usize) {
    let pages = n.div_ceil(per_page).max(1);
    (pages, page.clamp(1, pages))
}

/// `Showing 51–100 of 10,000 repositories` (`one` or `many` naming the items).
pub fn showing(offset: usize, shown: usize, of: usize, one: &str, many: &str) -> String {
    if shown == 0 {
        return format!("No {many} to show");
    }
    let what = if of == 1 { one } else { many };
    format!(
        "Showing {}–{} of {} {what}",
        thousands(offset as u64 + 1),
        thousands((offset + shown) as u64),
        thousands(of as u64)
    )
}

/// `10000` as `10,000`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A manifest's media type in words.
pub fn kind_label(media_type: &str) -> &'static str {
    use crate::oci::media_types as mt;
    match media_type {
        mt::DOCKER_SCHEMA1_SIGNED => "Docker schema 1 (signed)",
        mt::DOCKER_SCHEMA1 => "Docker schema 1",
        mt::DOCKER_SCHEMA2 => "Docker schema 2 image",
        mt::DOCKER_LIST => "Docker manifest list",
        mt::OCI_MANIFEST => "OCI image",
        mt::OCI_INDEX => "OCI index",
        _ => "other",
    }
}

/// `s` cut to `max` characters, saying how much was left out: configs and manifests come
/// from whoever pushed them, and a label can be a megabyte long.
pub fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((end, _)) => {
            let rest = s[end..].chars().count();
            let unit = if rest == 1 { "character" } else { "characters" };
            format!("{}… ({} more {unit})", &s[..end], thousands(rest as u64))
        }
    }
}

/// The host clients pull from: the public URL's when one is configured, else the one the
/// browser used.
pub fn pull_host(req: &HttpRequest) -> String {
    let public = req
        .app_data::<web::Data<Edge>>()
        .map(|edge| edge.location(String::new()))
        .unwrap_or_default();
    if let Some(host) = host_of_url(&public) {
        return host;
    }
    req.headers()
        .get(actix_web::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| req.connection_info().host().to_owned())
}

/// `registry.example.com:5000` of `https://registry.example.com:5000/`.
fn host_of_url(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let host = rest.split('/').next().unwrap_or("");
    (!host.is_empty()).then(|| host.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(p: &Pager) -> Vec<String> {
        p.links
            .iter()
            .map(|l| match (l.gap, l.current) {
                (true, _) => "…".to_owned(),
                (false, true) => format!("[{}]", l.number),
                (false, false) => l.number.to_string(),
            })
            .collect()
    }

    #[test]
    fn pagers_show_the_ends_and_the_neighbourhood() {
        let href = |n: usize| format!("?page={n}");
        let p = Pager::new("Pages", 1, 1, href);
        assert!(p.is_empty() && p.prev.is_none() && p.next.is_none());
        let p = Pager::new("Pages", 1, 3, href);
        assert_eq!(numbers(&p), ["[1]", "2", "3"]);
        assert_eq!((p.prev, p.next.as_deref()), (None, Some("?page=2")));
        let p = Pager::new("Pages", 10, 200, href);
        assert_eq!(
            numbers(&p),
            ["1", "…", "8", "9", "[10]", "11", "12", "…", "200"]
        );
        assert_eq!(p.prev.as_deref(), Some("?page=9"));
        let p = Pager::new("Pages", 200, 200, href);
        assert_eq!(numbers(&p), ["1", "…", "198", "199", "[200]"]);
        assert!(p.next.is_none());
        let p = Pager::new("Pages", 4, 7, href);
        assert_eq!(numbers(&p), ["1", "2", "3", "[4]", "5", "6", "7"]);
    }

    #[test]
    fn counts_read_well() {
        assert_eq!(pages(0, 50, 3), (1, 1));
        assert_eq!(pages(10_000, 50, 2), (200, 2));
        assert_eq!(pages(101, 50, 9), (3, 3));
        assert_eq!(pages(101, 50, 0), (3, 1));
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(
            showing(50, 50, 10_000, "repository", "repositories"),
            "Showing 51–100 of 10,000 repositories"
        );
        assert_eq!(showing(0, 1, 1, "tag", "tags"), "Showing 1–1 of 1 tag");
        assert_eq!(showing(0, 0, 0, "tag", "tags"), "No tags to show");
    }

    #[test]
    fn long_text_is_clipped_and_says_so() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("ééééé", 5), "ééééé");
        assert_eq!(clip("éééééé", 5), "ééééé… (1 more character)");
        let long = "x".repeat(5000);
        let c = clip(&long, 100);
        assert!(c.starts_with(&"x".repeat(100)) && c.ends_with("(4,900 more characters)"));
    }

    #[test]
    fn the_pull_host_comes_from_the_public_url() {
        assert_eq!(
            host_of_url("https://registry.example.com:5000"),
            Some("registry.example.com:5000".into())
        );
        assert_eq!(host_of_url("http://r.example/"), Some("r.example".into()));
        assert_eq!(host_of_url(""), None);
        assert_eq!(host_of_url("/relative"), None);
    }
}
