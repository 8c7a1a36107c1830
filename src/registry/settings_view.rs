//! What the console's settings page shows of the registry: the platform served to clients
//! that read no lists, the KeyID schema1 manifests are signed with, and where the data lives.

use super::Registry;
use crate::store::{keys, BLOBS_DIR, META_FILE, UPLOADS_DIR};
use std::path::PathBuf;

/// The registry's settings, read-only.
#[derive(Debug, Clone)]
pub struct SettingsView {
    /// `os/arch[/variant]`.
    pub default_platform: String,
    /// The libtrust KeyID in the `kid` of every schema1 signature hoist makes.
    pub schema1_key_id: String,
    pub data_dir: PathBuf,
    pub metadata_db: PathBuf,
    pub blobs_dir: PathBuf,
    pub uploads_dir: PathBuf,
    pub schema1_key_file: PathBuf,
    pub token_key_file: PathBuf,
}

impl Registry {
    pub fn settings_view(&self) -> SettingsView {
        let dir = self.store.data_dir().to_owned();
        SettingsView {
            default_platform: self.config.default_platform.to_string(),
            schema1_key_id: self.store.signing_key.key_id().to_owned(),
            metadata_db: dir.join(META_FILE),
            blobs_dir: dir.join(BLOBS_DIR),
            uploads_dir: dir.join(UPLOADS_DIR),
            schema1_key_file: dir.join(keys::KEY_FILE),
            token_key_file: dir.join(keys::TOKEN_KEY_FILE),
            data_dir: dir,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::RegistryConfig;
    use crate::store::Store;
    use std::sync::Arc;

    #[test]
    fn the_view_names_the_files_the_store_uses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(dir.path()).expect("store"));
        let key_id = store.signing_key.key_id().to_owned();
        let registry = Registry::new(store, RegistryConfig::default()).expect("registry");
        let view = registry.settings_view();
        assert_eq!(view.default_platform, "linux/amd64");
        assert_eq!(view.schema1_key_id, key_id);
        assert_eq!(view.data_dir, dir.path());
        for file in [
            &view.metadata_db,
            &view.schema1_key_file,
            &view.token_key_file,
        ] {
            assert!(file.is_file(), "{}", file.display());
        }
        for d in [&view.blobs_dir, &view.uploads_dir] {
            assert!(d.is_dir(), "{}", d.display());
        }
    }
}
