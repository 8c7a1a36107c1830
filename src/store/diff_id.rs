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
