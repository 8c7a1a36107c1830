//! Streaming a blob file to a client: read on a blocking thread, a chunk ahead of the network,
//! with chunk sizes drawn from one memory budget shared by every stream in flight.

use std::io::{Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Bytes all blob streams together may hold in read chunks. One stream alone reads big
/// chunks: a single fast client is limited by hand-offs between the reading thread and the
/// network and by the size of each socket write (perf, bench/RESULTS.md). Many streams share
/// the budget, so 64 clients of a 1 GB blob stay well under 100 MB.
const READ_BUDGET: usize = 8 * 1024 * 1024;
const MIN_CHUNK: usize = 64 * 1024;
const MAX_CHUNK: usize = 1024 * 1024;
/// Chunks read ahead of the one being sent. Short, so a slow client holds little memory.
const QUEUE: usize = 2;

/// Counts the blob streams in flight; each takes its share of [`READ_BUDGET`] per chunk.
#[derive(Debug, Default, Clone)]
pub struct ReadBudget {
    streams: Arc<AtomicUsize>,
}

impl ReadBudget {
    /// The chunk size for a stream while `streams` streams are open.
    fn chunk_for(streams: usize) -> usize {
        let share = READ_BUDGET / streams.max(1);
        // Whole multiples of MIN_CHUNK keep reads page-aligned.
        (share / MIN_CHUNK * MIN_CHUNK).clamp(MIN_CHUNK, MAX_CHUNK)
    }

    fn open(&self) -> StreamSlot {
        self.streams.fetch_add(1, Ordering::Relaxed);
        StreamSlot(self.clone())
    }
}

/// One open stream's place in the budget, given back when the stream ends or is dropped.
struct StreamSlot(ReadBudget);

impl StreamSlot {
    fn chunk(&self) -> usize {
        ReadBudget::chunk_for(self.0.streams.load(Ordering::Relaxed))
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Read `len` bytes of `file` from `start`: reading the next chunk overlaps sending this
/// one. A read error ends the stream with that error; a client that goes away stops the reads.
pub fn read_ahead(
    budget: &ReadBudget,
    mut file: std::fs::File,
    start: u64,
    len: u64,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    let slot = budget.open();
    let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = file.seek(SeekFrom::Start(start)) {
            let _ = tx.blocking_send(Err(e));
            return;
        }
        let mut left = len;
        // The first chunks are small so the first bytes leave soon; later ones grow.
        let mut ramp = MIN_CHUNK;
        while left > 0 {
            let want = left.min(slot.chunk().min(ramp) as u64);
            ramp = ramp.saturating_mul(2);
            let chunk = read_chunk(&mut file, want);
            let failed = chunk.is_err();
            if tx.blocking_send(chunk).is_err() || failed {
                return; // the client went away, or the read failed (reported above)
            }
            left -= want;
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) })
}

/// Exactly `want` bytes, read into fresh memory that is never zeroed first.
fn read_chunk(file: &mut std::fs::File, want: u64) -> std::io::Result<bytes::Bytes> {
    let mut buf = Vec::with_capacity(usize::try_from(want).unwrap_or(MAX_CHUNK));
    let got = file.take(want).read_to_end(&mut buf)?;
    if got as u64 != want {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("blob file ended {} bytes early", want - got as u64),
        ));
    }
    Ok(bytes::Bytes::from(buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::io::Write;

    #[test]
    fn one_stream_reads_big_chunks_and_many_share_the_budget() {
        assert_eq!(ReadBudget::chunk_for(0), MAX_CHUNK);
        assert_eq!(ReadBudget::chunk_for(1), MAX_CHUNK);
        assert_eq!(ReadBudget::chunk_for(16), 512 * 1024);
        assert_eq!(ReadBudget::chunk_for(64), 128 * 1024);
        assert_eq!(ReadBudget::chunk_for(10_000), MIN_CHUNK);
        // Shares are page-aligned: 8 MiB / 3 rounds down to a multiple of 64 KiB.
        assert_eq!(ReadBudget::chunk_for(12) % MIN_CHUNK, 0);
    }

    #[test]
    fn a_slot_counts_while_open() {
        let budget = ReadBudget::default();
        let a = budget.open();
        let b = budget.open();
        assert_eq!(budget.streams.load(Ordering::Relaxed), 2);
        drop(a);
        assert_eq!(b.chunk(), MAX_CHUNK);
        drop(b);
        assert_eq!(budget.streams.load(Ordering::Relaxed), 0);
    }

    fn temp_file(bytes: &[u8]) -> std::fs::File {
        let mut f = tempfile::tempfile().expect("temp file");
        f.write_all(bytes).expect("write");
        f
    }

    #[tokio::test]
    async fn streams_the_asked_range_and_frees_its_slot() {
        let data: Vec<u8> = (0..3 * MAX_CHUNK + 17).map(|i| (i % 251) as u8).collect();
        let budget = ReadBudget::default();
        let (start, len) = (5u64, data.len() as u64 - 9);
        let chunks: Vec<_> = read_ahead(&budget, temp_file(&data), start, len)
            .collect()
            .await;
        let got: Vec<u8> = chunks
            .into_iter()
            .flat_map(|c| c.expect("chunk").to_vec())
            .collect();
        assert_eq!(got, data[5..data.len() - 4]);
        assert_eq!(budget.streams.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_short_file_ends_the_stream_with_an_error() {
        let budget = ReadBudget::default();
        let chunks: Vec<_> = read_ahead(&budget, temp_file(&[1, 2, 3]), 0, 10)
            .collect()
            .await;
        let last = chunks.last().expect("one item");
        assert_eq!(
            last.as_ref().map_err(|e| e.kind()).err(),
            Some(std::io::ErrorKind::UnexpectedEof)
        );
    }
}
