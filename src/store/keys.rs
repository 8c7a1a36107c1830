//! hoist's persistent P-256 keys in the data dir, in the SEC1 PEM format distribution and
//! libtrust read, each made on first start: `schema1-signing-key.pem` signs schema1
//! manifests, `token-signing-key.pem` signs the bearer tokens of `/token`.

use super::StoreError;
use crate::oci::schema1::jws::SchemaKey;
use std::io::Write;
use std::path::Path;

pub const KEY_FILE: &str = "schema1-signing-key.pem";
pub const TOKEN_KEY_FILE: &str = "token-signing-key.pem";

pub fn load_or_create(data_dir: &Path) -> Result<SchemaKey, StoreError> {
    load_or_create_named(data_dir, KEY_FILE)
}

/// The key in `file` of the data dir, made (and written atomically) if there is none.
pub fn load_or_create_named(data_dir: &Path, file: &'static str) -> Result<SchemaKey, StoreError> {
    let path = data_dir.join(file);
    let bad = |reason: String| StoreError::Corrupt {
        table: file,
        reason,
    };
    match std::fs::read_to_string(&path) {
        Ok(pem) => SchemaKey::from_pem(&pem).map_err(|e| bad(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = generate().map_err(bad)?;
            let pem = key.to_pem().map_err(|e| bad(e.to_string()))?;
            // Written whole to a temp file and renamed, so a crash never leaves half a key.
            let temp = data_dir.join(format!(".{file}.tmp"));
            let mut file = private_file(&temp)?;
            file.write_all(pem.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&temp, &path)?;
            tracing::info!(
                key_id = key.key_id(),
                key_file = path.display().to_string(),
                "created a signing key"
            );
            Ok(key)
        }
        Err(e) => Err(e.into()),
    }
}

fn generate() -> Result<SchemaKey, String> {
    loop {
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut secret).map_err(|e| e.to_string())?;
        // A random 32-byte value is a valid scalar except with negligible probability.
        if let Ok(key) = SchemaKey::from_secret(&secret) {
            return Ok(key);
        }
    }
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::create(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_created_once_and_reloaded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = load_or_create(dir.path()).expect("create");
        let again = load_or_create(dir.path()).expect("load");
        assert_eq!(first.key_id(), again.key_id());
        assert_eq!(first.key_id().len(), 59);
    }
}
