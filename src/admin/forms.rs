//! Forms posted to the console. Handlers take the body as bytes after the [`Viewer`]
//! (so a request without a session is sent to sign in before its body is looked at) and
//! parse it here: urlencoded, at most [`FORM_LIMIT`] bytes, unknown fields ignored.
//!
//! [`Viewer`]: super::viewer::Viewer

use super::render::ConsoleError;
use serde::de::DeserializeOwned;

/// The largest form the console accepts (a rule with many patterns fits many times).
pub const FORM_LIMIT: usize = 64 * 1024;

/// The body of a form post as `T`.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ConsoleError> {
    if body.len() > FORM_LIMIT {
        return Err(ConsoleError::BadRequest(format!(
            "the form is larger than {FORM_LIMIT} bytes"
        )));
    }
    serde_urlencoded::from_bytes(body)
        .map_err(|e| ConsoleError::BadRequest(format!("the form could not be read: {e}")))
}

/// Every value of a repeated field (`name=a&name=b`), which serde_urlencoded cannot put
/// in a `Vec`.
pub fn all_values(body: &[u8], name: &str) -> Vec<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v)
        .collect()
}

/// The first value of `name` in a query string, if any (a page's own parameters are read
/// leniently: a malformed one is as good as absent, never an error page).
pub fn query_value(query: &str, name: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// A page number from a query string: 1 when absent or not a number.
pub fn page_number(query: &str) -> usize {
    query_value(query, "page")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// A text field as a list: one item per line or comma, trimmed, blanks dropped.
pub fn lines(text: &str) -> Vec<String> {
    text.split(['\n', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct F {
        #[serde(default)]
        csrf: String,
        name: String,
    }

    #[test]
    fn forms_parse_and_refuse_what_they_cannot_read() {
        let f: F = parse(b"name=a%2Fb&csrf=x&extra=1").expect("parse");
        assert_eq!((f.name.as_str(), f.csrf.as_str()), ("a/b", "x"));
        assert!(parse::<F>(b"csrf=x").is_err());
        assert!(parse::<F>(&vec![b'a'; FORM_LIMIT + 1]).is_err());
        assert_eq!(
            all_values(b"p=linux%2Famd64&p=linux%2Farm64&q=1", "p"),
            ["linux/amd64", "linux/arm64"]
        );
        assert_eq!(lines("a, b\n\n c "), ["a", "b", "c"]);
        assert_eq!(page_number("page=3&q=x"), 3);
        assert_eq!(page_number("page=%3Cscript%3E"), 1);
        assert_eq!(page_number("page=0"), 1);
        assert_eq!(page_number(""), 1);
        assert_eq!(
            query_value("next=%2Fa&next=%2Fb", "next").as_deref(),
            Some("/a")
        );
    }
}
