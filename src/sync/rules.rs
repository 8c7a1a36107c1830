//! Mirror rules as pure functions: which tags a rule keeps, how upstream repository names
//! map to local ones and back, which platforms of a list are kept, and how long `every`
//! and `fresh_for` are. No I/O; table tests below.

use crate::oci::Platform;
use std::time::Duration;

/// A tag pattern: a glob (`3.*`, `latest`) or, after `re:`, a regular expression that must
/// match the whole tag.
#[derive(Debug, Clone)]
pub enum TagPattern {
    Glob(globset::GlobMatcher),
    Regex(regex::Regex),
}

impl TagPattern {
    pub fn parse(pattern: &str) -> Result<TagPattern, String> {
        match pattern.strip_prefix("re:") {
            Some(re) => regex::Regex::new(&format!("^(?:{re})$"))
                .map(TagPattern::Regex)
                .map_err(|e| format!("tag regex {re:?}: {e}")),
            None => globset::Glob::new(pattern)
                .map(|g| TagPattern::Glob(g.compile_matcher()))
                .map_err(|e| format!("tag glob {pattern:?}: {e}")),
        }
    }

    pub fn matches(&self, tag: &str) -> bool {
        match self {
            TagPattern::Glob(g) => g.is_match(tag),
            TagPattern::Regex(r) => r.is_match(tag),
        }
    }
}

/// Which tags a rule keeps: any include (all when there is none) and no exclude.
#[derive(Debug, Clone, Default)]
pub struct TagFilter {
    include: Vec<TagPattern>,
    exclude: Vec<TagPattern>,
}

impl TagFilter {
    pub fn new(include: &[String], exclude: &[String]) -> Result<TagFilter, String> {
        let parse = |v: &[String]| -> Result<Vec<TagPattern>, String> {
            v.iter().map(|p| TagPattern::parse(p)).collect()
        };
        Ok(TagFilter {
            include: parse(include)?,
            exclude: parse(exclude)?,
        })
    }

    pub fn keeps(&self, tag: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|p| p.matches(tag)))
            && !self.exclude.iter().any(|p| p.matches(tag))
    }
}

/// A repository, or a prefix of them written `prefix/*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoPattern {
    Exact(String),
    Prefix(String),
}

impl RepoPattern {
    pub fn parse(pattern: &str) -> Result<RepoPattern, String> {
        let pattern = pattern.trim();
        if let Some(prefix) = pattern.strip_suffix("/*") {
            if prefix.is_empty() || prefix.contains('*') {
                return Err(format!("{pattern:?}: a prefix is written like library/*"));
            }
            return Ok(RepoPattern::Prefix(prefix.to_owned()));
        }
        if pattern.is_empty() || pattern.contains('*') {
            return Err(format!(
                "{pattern:?}: a repository name, or a prefix ending in /*"
            ));
        }
        Ok(RepoPattern::Exact(pattern.to_owned()))
    }

    /// What follows the prefix in `repo` (`""` for an exact match), if it matches.
    fn rest<'a>(&self, repo: &'a str) -> Option<&'a str> {
        match self {
            RepoPattern::Exact(name) => (repo == name).then_some(""),
            RepoPattern::Prefix(prefix) => repo
                .strip_prefix(prefix.as_str())
                .and_then(|r| r.strip_prefix('/'))
                .filter(|r| !r.is_empty()),
        }
    }

    fn with_rest(&self, rest: &str) -> String {
        match self {
            RepoPattern::Exact(name) => name.clone(),
            RepoPattern::Prefix(prefix) => format!("{prefix}/{rest}"),
        }
    }

    pub fn is_prefix(&self) -> bool {
        matches!(self, RepoPattern::Prefix(_))
    }
}

/// An upstream repository (or prefix) and where it is kept locally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoMapping {
    pub from: RepoPattern,
    pub to: RepoPattern,
}

impl RepoMapping {
    pub fn new(from: &str, to: &str) -> Result<RepoMapping, String> {
        let (from, to) = (RepoPattern::parse(from)?, RepoPattern::parse(to)?);
        if from.is_prefix() != to.is_prefix() {
            return Err("from and to must both be repositories or both be prefixes".into());
        }
        Ok(RepoMapping { from, to })
    }

    /// The local repository an upstream one is kept as.
    pub fn local_for(&self, upstream: &str) -> Option<String> {
        self.from.rest(upstream).map(|rest| self.to.with_rest(rest))
    }

    /// The upstream repository a local one mirrors.
    pub fn upstream_for(&self, local: &str) -> Option<String> {
        self.to.rest(local).map(|rest| self.from.with_rest(rest))
    }
}

/// The platforms a rule keeps of a multi-platform list; none listed keeps all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlatformFilter(Vec<Platform>);

impl PlatformFilter {
    pub fn parse(platforms: &[String]) -> Result<PlatformFilter, String> {
        platforms
            .iter()
            .map(|p| {
                Platform::parse(p).ok_or_else(|| format!("platform {p:?} is not os/arch[/variant]"))
            })
            .collect::<Result<_, _>>()
            .map(PlatformFilter)
    }

    pub fn keeps_all(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a list entry for `p` is kept. A filter without a variant keeps every variant
    /// of its os/arch (`linux/arm64` keeps `linux/arm64/v8`); an entry with no platform at
    /// all (an attestation, say) is kept only when everything is.
    pub fn keeps(&self, p: Option<&Platform>) -> bool {
        if self.keeps_all() {
            return true;
        }
        let Some(p) = p else {
            return false;
        };
        self.0.iter().any(|want| {
            want.os == p.os
                && want.architecture == p.architecture
                && want
                    .variant
                    .as_ref()
                    .is_none_or(|v| p.variant.as_ref() == Some(v))
        })
    }

    /// `linux/amd64, linux/arm64`, for messages.
    pub fn describe(&self) -> String {
        self.0
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `6h`, `30m`, `1h 30m`: a schedule period or a freshness window.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| format!("{text:?} is not a duration like 6h or 30m: {e}"))?;
    if d.is_zero() {
        return Err(format!("{text:?} must be longer than zero"));
    }
    Ok(d)
}

/// Whether a rule with period `every` is due, given when it last started (unix seconds).
pub fn is_due(every: Duration, last_started: Option<u64>, now: u64) -> bool {
    match last_started {
        None => true,
        Some(last) => now.saturating_sub(last) >= every.as_secs(),
    }
}

/// Seconds until a rule with period `every`, last started at `last_started`, is due.
pub fn seconds_until_due(every: Duration, last_started: Option<u64>, now: u64) -> u64 {
    match last_started {
        None => 0,
        Some(last) => (last + every.as_secs()).saturating_sub(now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(include: &[&str], exclude: &[&str]) -> TagFilter {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        TagFilter::new(&v(include), &v(exclude)).expect("filter")
    }

    #[test]
    fn tag_filters_take_globs_and_regexes() {
        let cases: &[(&[&str], &[&str], &str, bool)] = &[
            (&[], &[], "anything", true),
            (&["3.*", "latest"], &[], "3.19", true),
            (&["3.*", "latest"], &[], "latest", true),
            (&["3.*", "latest"], &[], "edge", false),
            (&["3.*"], &["*-rc*"], "3.20-rc1", false),
            (&["re:^v[0-9]+$"], &[], "v12", true),
            (&["re:^v[0-9]+$"], &[], "v12.1", false),
            // A regex must match the whole tag even without anchors.
            (&["re:v[0-9]+"], &[], "xv1y", false),
            (&[], &["re:.*-debug"], "1.0-debug", false),
            (&[], &["re:.*-debug"], "1.0", true),
        ];
        for (include, exclude, tag, want) in cases {
            assert_eq!(
                filter(include, exclude).keeps(tag),
                *want,
                "{include:?} - {exclude:?} on {tag}"
            );
        }
        assert!(TagFilter::new(&["re:(".into()], &[]).is_err());
    }

    #[test]
    fn repositories_map_both_ways() {
        let exact = RepoMapping::new("library/alpine", "hub/library/alpine").expect("map");
        assert_eq!(
            exact.local_for("library/alpine").as_deref(),
            Some("hub/library/alpine")
        );
        assert_eq!(exact.local_for("library/alpine2"), None);
        assert_eq!(
            exact.upstream_for("hub/library/alpine").as_deref(),
            Some("library/alpine")
        );
        let prefix = RepoMapping::new("library/*", "hub/library/*").expect("map");
        assert_eq!(
            prefix.local_for("library/redis").as_deref(),
            Some("hub/library/redis")
        );
        assert_eq!(
            prefix.local_for("library/a/b").as_deref(),
            Some("hub/library/a/b")
        );
        assert_eq!(prefix.local_for("library"), None);
        assert_eq!(prefix.local_for("libraryx/redis"), None);
        assert_eq!(
            prefix.upstream_for("hub/library/redis").as_deref(),
            Some("library/redis")
        );
        assert_eq!(prefix.upstream_for("hub/other/redis"), None);
        assert!(RepoMapping::new("library/*", "hub/alpine").is_err());
        assert!(RepoMapping::new("*", "x/*").is_err());
        assert!(RepoMapping::new("a*b", "x").is_err());
    }

    #[test]
    fn platform_filters_match_os_arch_and_variant() {
        let p = |s: &str| Platform::parse(s).expect("platform");
        let f =
            PlatformFilter::parse(&["linux/amd64".into(), "linux/arm/v7".into()]).expect("filter");
        assert!(f.keeps(Some(&p("linux/amd64"))));
        assert!(f.keeps(Some(&p("linux/amd64/v3"))));
        assert!(f.keeps(Some(&p("linux/arm/v7"))));
        assert!(!f.keeps(Some(&p("linux/arm/v6"))));
        assert!(!f.keeps(Some(&p("linux/arm64"))));
        assert!(!f.keeps(None));
        assert_eq!(f.describe(), "linux/amd64, linux/arm/v7");
        let all = PlatformFilter::parse(&[]).expect("filter");
        assert!(all.keeps(None) && all.keeps(Some(&p("windows/amd64"))));
        assert!(PlatformFilter::parse(&["amd64".into()]).is_err());
    }

    #[test]
    fn durations_and_schedules() {
        assert_eq!(parse_duration("6h"), Ok(Duration::from_secs(6 * 3600)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
        let six = Duration::from_secs(6 * 3600);
        assert!(is_due(six, None, 100));
        assert!(!is_due(six, Some(1000), 1000 + 3600));
        assert!(is_due(six, Some(1000), 1000 + 6 * 3600));
        assert_eq!(seconds_until_due(six, Some(1000), 1000 + 3600), 5 * 3600);
        assert_eq!(seconds_until_due(six, None, 5), 0);
    }
}
