//! The diff_id of a layer: sha256 of its uncompressed bytes. gzip layers are decompressed
//! while streaming (never held in memory); anything else is hashed as it is.

use crate::oci::{Algorithm, Digest, Hasher};
use std::io::{self, BufRead, BufReader, Read};

pub fn of_layer(file: std::fs::File) -> io::Result<Digest> {
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let gzip = reader.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    let mut hasher = Hasher::new(Algorithm::Sha256);
    let mut source: Box<dyn Read> = if gzip {
        Box::new(flate2::bufread::MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = source.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(&buf[..n]);
    }
}

/// Whether an error of [`of_layer`] is about the layer's bytes (not valid gzip, cut short)
/// rather than a failure to read them from disk.
pub fn is_content_error(e: &io::Error) -> bool {
    e.raw_os_error().is_none()
        && matches!(
            e.kind(),
            io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_of(bytes: &[u8]) -> std::fs::File {
        let mut f = tempfile::tempfile().expect("temp file");
        f.write_all(bytes).expect("write");
        std::io::Seek::rewind(&mut f).expect("rewind");
        f
    }

    #[test]
    fn a_layer_that_only_looks_gzipped_is_a_content_error() {
        let mut fake = vec![0x1f, 0x8b, 0x08, 0x00];
        fake.extend_from_slice(&[0xff; 64]);
        let e = of_layer(file_of(&fake)).expect_err("not gzip");
        assert!(is_content_error(&e), "{e:?}");
    }

    #[test]
    fn a_gzip_cut_short_is_a_content_error() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&[7u8; 10_000]).expect("gzip");
        let whole = gz.finish().expect("finish");
        let e = of_layer(file_of(&whole[..whole.len() / 2])).expect_err("cut");
        assert!(is_content_error(&e), "{e:?}");
        assert!(of_layer(file_of(&whole)).is_ok());
    }
}
