//! Fetching one blob from an upstream into a repository. The bytes go through an upload
//! session, in pieces, so a fetch cut short (network, shutdown, `kill -9`) resumes from
//! what is on disk with a `Range` request; the session's id is kept in the store for that.
//! The digest is checked before the blob is installed: a corrupt blob is fetched again,
//! never stored.

use super::progress::{Event, SharedSummary};
use super::upstream::UpstreamClient;
use super::{SyncError, Syncer};
use crate::oci::{Digest, RepoName};
use crate::registry::{ChunkHeaders, ChunkRange, IdleTimeout, RegistryError};
use crate::store::Store;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use std::time::{Duration, Instant};

/// Bytes written to the session per request: what a cut can lose.
const PIECE: usize = 4 * 1024 * 1024;
/// Attempts at one blob before the tag fails.
const ATTEMPTS: u32 = 5;
/// An upstream body that sends nothing for this long is given up and resumed.
const BODY_IDLE: Duration = Duration::from_secs(60);
/// How often progress is reported while a blob streams.
const REPORT_EVERY: Duration = Duration::from_millis(250);

/// Where a fetch reports to.
pub(super) struct FetchReport<'a> {
    pub run: u64,
    pub summary: &'a SharedSummary,
}

impl Syncer {
    /// Make `digest` present in `local`, fetching it from `upstream_repo` if hoist does not
    /// hold it anywhere. Returns the bytes fetched.
    pub(super) async fn fetch_blob(
        &self,
        client: &UpstreamClient,
        upstream_repo: &str,
        local: &RepoName,
        digest: &Digest,
        report: &FetchReport<'_>,
    ) -> Result<u64, SyncError> {
        if self.registry.has_blob(local, digest).await? {
            return Ok(0);
        }
        if self.registry.stored_blob_size(digest).await?.is_some() {
            self.registry.mount_blob(local, digest, None).await?;
            return Ok(0);
        }
        let mut attempt = 0;
        let mut fetched = 0;
        loop {
            attempt += 1;
            match self
                .try_fetch(client, upstream_repo, local, digest, report, &mut fetched)
                .await
            {
                Ok(()) => {
                    self.report(Event::Blob {
                        run: report.run,
                        repository: local.to_string(),
                        digest: digest.to_string(),
                        done: fetched,
                        total: None,
                        finished: true,
                    })
                    .await;
                    return Ok(fetched);
                }
                Err(e) if attempt < ATTEMPTS && retryable(&e) => {
                    let wait = Duration::from_millis(500 * 2u64.pow(attempt.min(5)));
                    self.report(Event::Note {
                        run: report.run,
                        text: format!(
                            "{local}@{digest}: {e}; trying again in {} ms (attempt {attempt} of {ATTEMPTS})",
                            wait.as_millis()
                        ),
                    })
                    .await;
                    tokio::select! {
                        _ = self.shutdown.cancelled() => return Err(SyncError::Stopped),
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One attempt: resume the blob's session (or open one), stream the rest, verify.
    async fn try_fetch(
        &self,
        client: &UpstreamClient,
        upstream_repo: &str,
        local: &RepoName,
        digest: &Digest,
        report: &FetchReport<'_>,
        fetched: &mut u64,
    ) -> Result<(), SyncError> {
        let session = self.session_for(local, digest).await?;
        let mut offset = match self.registry.upload_offset(local, &session).await {
            Ok(o) => o,
            Err(RegistryError::BlobUploadUnknown(_)) => {
                self.forget_session(local, digest).await?;
                return Err(SyncError::Content(
                    "the partial fetch was lost; starting over".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let Some(response) = client
            .get_blob(upstream_repo, &digest.to_string(), offset)
            .await?
        else {
            self.drop_session(local, digest, &session).await;
            return Err(SyncError::NotFound(format!(
                "blob {digest} is not in {upstream_repo} upstream"
            )));
        };
        if response.start != offset {
            // The upstream ignored the Range: start the session over from its first byte.
            self.drop_session(local, digest, &session).await;
            return Err(SyncError::Content(format!(
                "the upstream does not resume from byte {offset}; fetching {digest} whole"
            )));
        }
        let total = response.total;
        let mut body = IdleTimeout::new(response.body, BODY_IDLE);
        let mut piece = BytesMut::with_capacity(PIECE);
        let mut last_report = Instant::now();
        let mut ended = false;
        while !ended {
            let next = tokio::select! {
                _ = self.shutdown.cancelled() => return Err(SyncError::Stopped),
                next = body.next() => next,
            };
            match next {
                Some(Ok(chunk)) => piece.extend_from_slice(&chunk),
                Some(Err(e)) => {
                    // Keep what arrived whole, then resume from there.
                    self.append(
                        local,
                        &session,
                        &mut offset,
                        piece.split().freeze(),
                        fetched,
                        report,
                    )
                    .await?;
                    return Err(SyncError::Upstream(
                        super::upstream::UpstreamError::Unreachable(format!(
                            "the blob's body failed after {offset} bytes: {e}"
                        )),
                    ));
                }
                None => ended = true,
            }
            if piece.len() >= PIECE || (ended && !piece.is_empty()) {
                self.append(
                    local,
                    &session,
                    &mut offset,
                    piece.split().freeze(),
                    fetched,
                    report,
                )
                .await?;
            }
            if last_report.elapsed() >= REPORT_EVERY {
                last_report = Instant::now();
                self.report(Event::Blob {
                    run: report.run,
                    repository: local.to_string(),
                    digest: digest.to_string(),
                    done: offset,
                    total,
                    finished: false,
                })
                .await;
            }
        }
        let empty = futures_util::stream::empty::<Result<Bytes, std::io::Error>>();
        let finished = self
            .registry
            .finish_upload(local, &session, ChunkHeaders::default(), digest, empty)
            .await;
        self.forget_session(local, digest).await?;
        match finished {
            Ok(_) => {
                if let Ok(mut s) = report.summary.lock() {
                    s.blobs_fetched += 1;
                }
                Ok(())
            }
            // The session is gone with the bad bytes; the next attempt starts afresh.
            Err(RegistryError::DigestMismatch { expected, actual }) => Err(SyncError::Content(
                format!("the upstream's bytes hash to {actual}, not {expected}; nothing stored"),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Write one piece at `offset` and count it.
    async fn append(
        &self,
        local: &RepoName,
        session: &str,
        offset: &mut u64,
        piece: Bytes,
        fetched: &mut u64,
        report: &FetchReport<'_>,
    ) -> Result<(), SyncError> {
        if piece.is_empty() {
            return Ok(());
        }
        let len = piece.len() as u64;
        let chunk = ChunkHeaders {
            range: Some(ChunkRange {
                start: *offset,
                end: *offset + len - 1,
            }),
            length: Some(len),
        };
        let body = futures_util::stream::iter([Ok::<_, std::io::Error>(piece)]);
        *offset = self
            .registry
            .append_upload(local, session, chunk, body)
            .await?;
        *fetched += len;
        if let Ok(mut s) = report.summary.lock() {
            s.bytes_fetched += len;
        }
        Ok(())
    }

    /// The upload session a fetch of `digest` into `local` resumes, or a new one.
    async fn session_for(&self, local: &RepoName, digest: &Digest) -> Result<String, SyncError> {
        let (r, d) = (local.to_string(), digest.to_string());
        if let Some(id) = Store::call(&self.store, move |s| s.meta.partial(&r, &d)).await? {
            return Ok(id);
        }
        let id = self.registry.start_upload(local).await?;
        let (r, d, i) = (local.to_string(), digest.to_string(), id.clone());
        Store::call(&self.store, move |s| s.meta.set_partial(&r, &d, Some(&i))).await?;
        Ok(id)
    }

    async fn forget_session(&self, local: &RepoName, digest: &Digest) -> Result<(), SyncError> {
        let (r, d) = (local.to_string(), digest.to_string());
        Store::call(&self.store, move |s| s.meta.set_partial(&r, &d, None)).await?;
        Ok(())
    }

    /// Cancel a session and forget it (its bytes cannot be used).
    async fn drop_session(&self, local: &RepoName, digest: &Digest, session: &str) {
        let _ = self.registry.cancel_upload(local, session).await;
        if let Err(e) = self.forget_session(local, digest).await {
            tracing::warn!(error = %e, "forgetting a partial fetch failed");
        }
    }
}

/// Worth another attempt: the network, the upstream's load, or bad bytes (fetched again).
fn retryable(e: &SyncError) -> bool {
    match e {
        SyncError::Upstream(u) => u.is_transient(),
        SyncError::Content(_) => true,
        SyncError::Registry(RegistryError::ChunkOutOfOrder { .. }) => true,
        _ => false,
    }
}
