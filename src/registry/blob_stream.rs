//! Streaming a blob file to a client: a lone stream reads ahead on a thread of its own; many
//! read each chunk where the network asks for it. Chunk sizes come from one memory budget
//! shared by every stream in flight.

use std::io::{Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Streams up to this many read on threads of their own; more read inline.
const THREADED_STREAMS: usize = 2;
/// Chunks a threaded stream reads ahead of the one being sent.
const QUEUE: usize = 2;
/// A client that takes no bytes for this long gives up its reading thread; its stream ends
/// short, which closes the connection.
const SEND_STALL: std::time::Duration = std::time::Duration::from_secs(60);
/// Bytes all blob streams together may hold in read chunks. One stream alone reads big
/// chunks: a single fast client is limited by hand-offs between the reading thread and the
/// network and by the size of each socket write (perf, bench/RESULTS.md). Many streams share
/// the budget, so 64 clients of a 1 GB blob stay well under 100 MB.
const READ_BUDGET: usize = 8 * 1024 * 1024;
const MIN_CHUNK: usize = 64 * 1024;
const MAX_CHUNK: usize = 1024 * 1024;

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
    fn streams(&self) -> usize {
        self.0.streams.load(Ordering::Relaxed)
    }

    fn chunk(&self) -> usize {
        ReadBudget::chunk_for(self.streams())
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Read `len` bytes of `file` from `start`. A read error ends the stream with that error.
pub fn stream_file(
    budget: &ReadBudget,
    file: std::fs::File,
    start: u64,
    len: u64,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    use futures_util::StreamExt;
    let slot = budget.open();
    if slot.streams() <= THREADED_STREAMS {
        read_on_thread(slot, file, start, len).left_stream()
    } else {
        read_inline(slot, file, start, len).right_stream()
    }
}

/// A stream that is (nearly) alone reads a chunk ahead on a blocking thread of its own, so
/// reading overlaps sending on another core: 0.93x nginx at one connection where reading
/// inline reached 0.86x. A client that goes away stops the reads; one that stalls frees
/// the thread after [`SEND_STALL`].
fn read_on_thread(
    slot: StreamSlot,
    mut file: std::fs::File,
    start: u64,
    len: u64,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let send = |chunk| {
            let sent = runtime.block_on(tokio::time::timeout(SEND_STALL, tx.send(chunk)));
            matches!(sent, Ok(Ok(())))
        };
        if let Err(e) = file.seek(SeekFrom::Start(start)) {
            send(Err(e));
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
            if !send(chunk) || failed {
                return; // the client went away or stalled, or the read failed (reported)
            }
            left -= want;
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) })
}

/// Exactly `want` bytes from where `file` stands, read into fresh memory that is never
/// zeroed first.
fn read_chunk(file: impl Read, want: u64) -> std::io::Result<bytes::Bytes> {
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

/// Many streams read where the network asks for the next chunk: from the page cache on the
/// calling thread, else on the blocking pool. 64 clients of a blob: 1.04-1.16x nginx and
/// 29 MB RSS, where a reading thread per stream gave 0.87-0.91x and 67 MB.
fn read_inline(
    slot: StreamSlot,
    file: std::fs::File,
    start: u64,
    len: u64,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    let reader = Reader {
        file: Arc::new(file),
        offset: start,
        left: len,
        // The first chunks are small so the first bytes leave soon; later ones grow.
        ramp: MIN_CHUNK,
        slot,
    };
    futures_util::stream::unfold(reader, |mut r| async move {
        if r.left == 0 {
            return None;
        }
        let want = r.left.min(r.slot.chunk().min(r.ramp) as u64) as usize;
        r.ramp = r.ramp.saturating_mul(2);
        let chunk = match read_cached(&r.file, r.offset, want) {
            Ok(Some(chunk)) => Ok(chunk),
            Ok(None) => read_blocking(Arc::clone(&r.file), r.offset, want).await,
            Err(e) => Err(e),
        };
        match &chunk {
            Ok(c) => {
                r.offset += c.len() as u64;
                r.left -= c.len() as u64;
            }
            Err(_) => r.left = 0, // end the stream after reporting the error
        }
        Some((chunk, r))
    })
}

struct Reader {
    file: Arc<std::fs::File>,
    offset: u64,
    left: u64,
    ramp: usize,
    slot: StreamSlot,
}

/// The bytes at `offset` that are already in the page cache, read on the calling thread:
/// RWF_NOWAIT makes the kernel answer EAGAIN rather than wait for the disk. perf at 64
/// clients: handing every chunk to a blocking thread and back cost 39% of samples in task
/// switches and wake-ups, more than copying the bytes. `None` when nothing is cached.
#[cfg(target_os = "linux")]
fn read_cached(
    file: &std::fs::File,
    offset: u64,
    want: usize,
) -> std::io::Result<Option<bytes::Bytes>> {
    use rustix::io::{preadv2, Errno, ReadWriteFlags};
    let mut buf = vec![0u8; want];
    let read = preadv2(
        file,
        &mut [std::io::IoSliceMut::new(&mut buf)],
        offset,
        ReadWriteFlags::NOWAIT,
    );
    match read {
        // 0: nothing cached there, or the end of the file: the blocking read tells which.
        Ok(0) | Err(Errno::AGAIN) | Err(Errno::OPNOTSUPP) => Ok(None),
        Ok(n) => {
            buf.truncate(n);
            Ok(Some(bytes::Bytes::from(buf)))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(target_os = "linux"))]
fn read_cached(
    _file: &std::fs::File,
    _offset: u64,
    _want: usize,
) -> std::io::Result<Option<bytes::Bytes>> {
    Ok(None)
}

/// Exactly `want` bytes at `offset`, read on the blocking pool (they may need the disk).
/// Reads of one stream never overlap, so moving the shared file's position is safe.
async fn read_blocking(
    file: Arc<std::fs::File>,
    offset: u64,
    want: usize,
) -> std::io::Result<bytes::Bytes> {
    tokio::task::spawn_blocking(move || {
        let mut file = &*file;
        file.seek(SeekFrom::Start(offset))?;
        read_chunk(file, want as u64)
    })
    .await
    .map_err(|e| std::io::Error::other(format!("blob read task failed: {e}")))?
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

    /// Both ways of reading, as a lone stream and as one of many.
    fn streams_of(
        budget: &ReadBudget,
        file: std::fs::File,
        start: u64,
        len: u64,
        threaded: bool,
    ) -> futures_util::stream::BoxStream<'static, std::io::Result<bytes::Bytes>> {
        let slot = budget.open();
        if threaded {
            read_on_thread(slot, file, start, len).boxed()
        } else {
            read_inline(slot, file, start, len).boxed()
        }
    }

    #[tokio::test]
    async fn streams_the_asked_range_and_frees_its_slot() {
        let data: Vec<u8> = (0..3 * MAX_CHUNK + 17).map(|i| (i % 251) as u8).collect();
        for threaded in [true, false] {
            let budget = ReadBudget::default();
            let (start, len) = (5u64, data.len() as u64 - 9);
            let chunks: Vec<_> = streams_of(&budget, temp_file(&data), start, len, threaded)
                .collect()
                .await;
            let got: Vec<u8> = chunks
                .into_iter()
                .flat_map(|c| c.expect("chunk").to_vec())
                .collect();
            assert_eq!(got, data[5..data.len() - 4], "threaded: {threaded}");
            assert_eq!(budget.streams.load(Ordering::Relaxed), 0);
        }
    }

    #[tokio::test]
    async fn a_short_file_ends_the_stream_with_an_error() {
        for threaded in [true, false] {
            let budget = ReadBudget::default();
            let chunks: Vec<_> = streams_of(&budget, temp_file(&[1, 2, 3]), 0, 10, threaded)
                .collect()
                .await;
            let last = chunks.last().expect("one item");
            assert_eq!(
                last.as_ref().map_err(|e| e.kind()).err(),
                Some(std::io::ErrorKind::UnexpectedEof),
                "threaded: {threaded}"
            );
            let delivered: usize = chunks
                .iter()
                .filter_map(|c| c.as_ref().ok())
                .map(|c| c.len())
                .sum();
            assert!(delivered <= 3);
        }
    }

    #[tokio::test]
    async fn the_blocking_read_serves_what_the_page_cache_did_not() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i % 7) as u8).collect();
        let file = Arc::new(temp_file(&data));
        let got = read_blocking(Arc::clone(&file), 100, 200)
            .await
            .expect("read");
        assert_eq!(got.as_ref(), &data[100..300]);
        // Just written, so cached: the inline read finds it without the pool.
        let cached = read_cached(&file, 100, 200).expect("read").expect("cached");
        assert_eq!(cached.as_ref(), &data[100..300]);
        assert!(
            read_cached(&file, 1000, 10).expect("read").is_none(),
            "end of file"
        );
    }

    #[tokio::test]
    async fn a_stream_among_others_streams_and_gives_back_its_slot() {
        let budget = ReadBudget::default();
        let _a = budget.open();
        let _b = budget.open();
        let data = vec![9u8; 1000];
        let got: Vec<_> = stream_file(&budget, temp_file(&data), 0, 1000)
            .collect()
            .await;
        assert_eq!(got.len(), 1);
        assert_eq!(budget.streams.load(Ordering::Relaxed), 2);
    }
}
