//! Table definitions. Names carry a version so that a later schema can migrate table by table.

use redb::TableDefinition;

pub const META: TableDefinition<&str, &str> = TableDefinition::new("meta.v1");
/// digest -> size: the bytes are in the blob store.
pub const BLOBS: TableDefinition<&str, u64> = TableDefinition::new("blobs.v1");
/// (repo, digest) -> size: the blob is visible in the repository.
pub const REPO_BLOBS: TableDefinition<(&str, &str), u64> = TableDefinition::new("repo_blobs.v1");
/// repo -> unix time of creation.
pub const REPOS: TableDefinition<&str, u64> = TableDefinition::new("repos.v1");
/// (repo, digest) -> JSON `ManifestRecord`.
pub const MANIFESTS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("manifests.v1");
/// (repo, digest) -> the manifest bytes exactly as pushed.
pub const MANIFEST_BODIES: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("manifest_bodies.v1");
/// (repo, tag) -> digest.
pub const TAGS: TableDefinition<(&str, &str), &str> = TableDefinition::new("tags.v1");
/// upload id -> JSON `UploadRecord`.
pub const UPLOADS: TableDefinition<&str, &[u8]> = TableDefinition::new("uploads.v1");
/// (repo, subject digest, referrer digest) -> JSON `ReferrerRecord` (an OCI descriptor).
pub const REFERRERS: TableDefinition<(&str, &str, &str), &[u8]> =
    TableDefinition::new("referrers.v1");
/// (repo, source digest, variant kind) -> variant digest.
pub const VARIANTS: TableDefinition<(&str, &str, &str), &str> = TableDefinition::new("variants.v1");
/// blob digest -> its diff_id (sha256 of the uncompressed bytes), computed once.
pub const DIFF_IDS: TableDefinition<&str, &str> = TableDefinition::new("diff_ids.v1");
/// upstream name -> JSON settings (those made through the API).
pub const UPSTREAMS: TableDefinition<&str, &[u8]> = TableDefinition::new("upstreams.v1");
/// mirror rule name -> JSON settings (those made through the API).
pub const MIRRORS: TableDefinition<&str, &[u8]> = TableDefinition::new("mirrors.v1");
/// pull-through prefix -> JSON settings (those made through the API).
pub const PROXIES: TableDefinition<&str, &[u8]> = TableDefinition::new("proxies.v1");
/// sync run id -> JSON run record.
pub const SYNC_RUNS: TableDefinition<u64, &[u8]> = TableDefinition::new("sync_runs.v1");
/// (run id, sequence) -> JSON event of that run.
pub const SYNC_EVENTS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("sync_events.v1");
/// (repo, tag) -> JSON record of where a mirrored tag came from and what it pointed at.
pub const MIRRORED_TAGS: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("mirrored_tags.v1");
/// (repo, blob digest) -> id of the upload session a half-fetched blob resumes from.
pub const SYNC_PARTIALS: TableDefinition<(&str, &str), &str> =
    TableDefinition::new("sync_partials.v1");
/// user name -> JSON user record (password hash, admin, groups).
pub const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users.v1");
/// access token id -> JSON token record (hash of its secret, scopes, expiry, last use).
pub const ACCESS_TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("access_tokens.v1");
/// rule id -> JSON permission rule (those made through the API).
pub const AUTH_RULES: TableDefinition<&str, &[u8]> = TableDefinition::new("auth_rules.v1");
/// session id -> JSON console session.
pub const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions.v1");
/// (unix milliseconds, sequence) -> JSON audit record.
pub const AUDIT: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("audit.v1");
/// (repo, tag, sequence) -> JSON of what the tag pointed at from then on (or that it went).
pub const TAG_HISTORY: TableDefinition<(&str, &str, u64), &[u8]> =
    TableDefinition::new("tag_history.v1");
/// (unix seconds, repo, tag) -> the digest the tag then pointed at ("" once deleted): the
/// same changes as TAG_HISTORY, ordered by time, for "recent changes" across repositories.
pub const TAG_CHANGES: TableDefinition<(u64, &str, &str), &str> =
    TableDefinition::new("tag_changes.v1");
