//! The response headers the client reads beyond auth: `Link` (pagination), `Content-Range`
//! (resumed blobs) and `Content-Length`.

use reqwest::header::{HeaderMap, HeaderName, CONTENT_LENGTH};
use reqwest::Url;

/// The `rel="next"` target of the `Link` header lines, resolved against the URL the page
/// came from (registries send `</v2/_catalog?last=x&n=100>`; some send absolute URLs).
pub fn next_link<'a>(lines: impl IntoIterator<Item = &'a str>, page_url: &Url) -> Option<Url> {
    for line in lines {
        for (target, params) in split_links(line) {
            if params.iter().any(|(k, v)| {
                k.eq_ignore_ascii_case("rel")
                    && v.split_whitespace().any(|r| r.eq_ignore_ascii_case("next"))
            }) {
                return page_url.join(target).ok();
            }
        }
    }
    None
}

/// `<uri>; k=v; k="v, w", <uri2>; ...` into (uri, params). Commas inside `<>` or quotes do not
/// split.
fn split_links(line: &str) -> Vec<(&str, Vec<(String, String)>)> {
    let mut links = Vec::new();
    let mut rest = line;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let Some(after_open) = rest.strip_prefix('<') else {
            return links;
        };
        let Some(close) = after_open.find('>') else {
            return links;
        };
        let target = after_open[..close].trim();
        rest = &after_open[close + 1..];
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches([' ', '\t']);
            let Some(after_semi) = rest.strip_prefix(';') else {
                break;
            };
            let (param, after) = parse_link_param(after_semi);
            if let Some(p) = param {
                params.push(p);
            }
            rest = after;
        }
        links.push((target, params));
        // Skip anything unparsable up to the next link.
        match rest.find(',') {
            Some(i) if !rest.starts_with(',') => rest = &rest[i..],
            Some(_) => {}
            None => return links,
        }
    }
}

/// One `name[=value]` after a `;`, value a token or a quoted string.
fn parse_link_param(s: &str) -> (Option<(String, String)>, &str) {
    let s = s.trim_start_matches([' ', '\t']);
    let name_end = s
        .find(|c: char| c == '=' || c == ';' || c == ',' || c.is_whitespace())
        .unwrap_or(s.len());
    let name = &s[..name_end];
    let rest = s[name_end..].trim_start_matches([' ', '\t']);
    let Some(rest) = rest.strip_prefix('=') else {
        return (Some((name.to_owned(), String::new())), rest);
    };
    let rest = rest.trim_start_matches([' ', '\t']);
    let (value, rest) = if let Some(quoted) = rest.strip_prefix('"') {
        read_quoted(quoted)
    } else {
        let end = rest.find([';', ',']).unwrap_or(rest.len());
        (rest[..end].trim().to_owned(), &rest[end..])
    };
    (Some((name.to_owned(), value)), rest)
}

/// The inside of a quoted string whose opening quote is consumed, with `\` escapes undone,
/// and what follows the closing quote. An unterminated string runs to the end.
pub fn read_quoted(s: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (value, &s[i + 1..]),
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    value.push(escaped);
                }
            }
            other => value.push(other),
        }
    }
    (value, "")
}

/// A `Content-Range: bytes <first>-<last>/<total or *>` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    pub first: u64,
    pub last: u64,
    pub total: Option<u64>,
}

pub fn parse_content_range(value: &str) -> Option<ContentRange> {
    let rest = value.trim().strip_prefix("bytes")?;
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let (range, total) = rest.trim_start().split_once('/')?;
    let (first, last) = range.trim().split_once('-')?;
    let first = parse_decimal(first)?;
    let last = parse_decimal(last)?;
    let total = match total.trim() {
        "*" => None,
        t => Some(parse_decimal(t)?),
    };
    if last < first || total.is_some_and(|t| last >= t) {
        return None;
    }
    Some(ContentRange { first, last, total })
}

/// A header's value as a decimal number (`Content-Length`).
pub fn header_u64(headers: &HeaderMap, name: HeaderName) -> Option<u64> {
    parse_decimal(headers.get(name)?.to_str().ok()?)
}

pub fn content_length(headers: &HeaderMap) -> Option<u64> {
    header_u64(headers, CONTENT_LENGTH)
}

/// A header's value as text, if it is text.
pub fn header_str(headers: &HeaderMap, name: impl reqwest::header::AsHeaderName) -> Option<String> {
    headers
        .get(name)?
        .to_str()
        .ok()
        .map(|s| s.trim().to_owned())
}

fn parse_decimal(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn link_relative_as_distribution_sends_it() {
        let page = url("http://127.0.0.1:5000/v2/_catalog?n=1000");
        let next = next_link([r#"</v2/_catalog?last=b%2Fc&n=1000>; rel="next""#], &page);
        assert_eq!(
            next.unwrap().as_str(),
            "http://127.0.0.1:5000/v2/_catalog?last=b%2Fc&n=1000"
        );
    }

    #[test]
    fn link_absolute_and_unquoted_and_among_others() {
        let page = url("https://registry.example/v2/x/tags/list?n=1000");
        let next = next_link(
            [
                r#"<https://other.example/first>; rel="first", <https://cdn.example/v2/x/tags/list?last=1.0&n=1000>; title="a; b, c"; rel=next"#,
            ],
            &page,
        );
        assert_eq!(
            next.unwrap().as_str(),
            "https://cdn.example/v2/x/tags/list?last=1.0&n=1000"
        );
        // rel may hold several relations.
        let next = next_link([r#"<?last=z>; rel="prefetch next""#], &page);
        assert_eq!(
            next.unwrap().as_str(),
            "https://registry.example/v2/x/tags/list?last=z"
        );
        // On a second header line.
        let next = next_link([r#"</a>; rel="prev""#, r#"</b>; rel="next""#], &page);
        assert_eq!(next.unwrap().path(), "/b");
    }

    #[test]
    fn link_without_next() {
        let page = url("https://registry.example/v2/_catalog");
        assert_eq!(next_link([r#"</a>; rel="prev""#], &page), None);
        assert_eq!(next_link(["garbage"], &page), None);
        assert_eq!(next_link([""], &page), None);
        assert_eq!(next_link(["</unterminated; rel=next"], &page), None);
        assert_eq!(next_link(Vec::<&str>::new(), &page), None);
    }

    #[test]
    fn quoted_strings() {
        assert_eq!(read_quoted(r#"a, b" rest"#), ("a, b".to_owned(), " rest"));
        assert_eq!(read_quoted(r#"a\"b\\c"x"#), (r#"a"b\c"#.to_owned(), "x"));
        assert_eq!(read_quoted("open"), ("open".to_owned(), ""));
    }

    #[test]
    fn content_ranges() {
        assert_eq!(
            parse_content_range("bytes 100-199/200"),
            Some(ContentRange {
                first: 100,
                last: 199,
                total: Some(200)
            })
        );
        assert_eq!(
            parse_content_range("bytes 5-9/*"),
            Some(ContentRange {
                first: 5,
                last: 9,
                total: None
            })
        );
        for bad in [
            "",
            "bytes",
            "bytes */200",
            "bytes 5-4/10",
            "bytes 5-10/10",
            "items 0-1/2",
            "bytes0-1/2",
            "bytes -1-2/3",
            "bytes 1-2",
            "bytes a-b/c",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn lengths() {
        let mut h = HeaderMap::new();
        assert_eq!(content_length(&h), None);
        h.insert(CONTENT_LENGTH, "1234".parse().unwrap());
        assert_eq!(content_length(&h), Some(1234));
        h.insert(CONTENT_LENGTH, "-1".parse().unwrap());
        assert_eq!(content_length(&h), None);
    }
}
