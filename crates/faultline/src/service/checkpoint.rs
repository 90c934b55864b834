//! Checkpoint files: written atomically (temp file, fsync, rename, fsync of the directory), read at start.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use faultline_core::checkpoint::Checkpoint;

/// The checkpoint file in a state directory.
pub(crate) fn path_in(dir: &Path) -> PathBuf {
    dir.join("checkpoint.json")
}

/// Writes `cp` so that a crash at any point leaves either the old or the new file; returns its size in bytes.
pub(crate) fn write_atomic(dir: &Path, cp: &Checkpoint) -> anyhow::Result<u64> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating state directory {}", dir.display()))?;
    let target = path_in(dir);
    let tmp = dir.join("checkpoint.json.tmp");
    let mut f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let bytes = cp.to_json();
    f.write_all(&bytes).with_context(|| format!("writing {}", tmp.display()))?;
    f.sync_all().with_context(|| format!("syncing {}", tmp.display()))?;
    drop(f);
    std::fs::rename(&tmp, &target).with_context(|| format!("renaming to {}", target.display()))?;
    // The rename is durable only once the directory entry is.
    File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing {}", dir.display()))?;
    Ok(bytes.len() as u64)
}

/// Reads the checkpoint of `dir`, `None` when there is none yet.
pub(crate) fn read(dir: &Path) -> anyhow::Result<Option<Checkpoint>> {
    let path = path_in(dir);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(Checkpoint::from_json(&bytes).with_context(|| format!("reading {}", path.display()))?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_core::{Engine, EngineConfig, Millis, Position, SeriesRegistry};

    #[test]
    fn round_trips_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).unwrap().is_none());
        let mut cp =
            Checkpoint::capture(&mut Engine::new(EngineConfig::default()), &SeriesRegistry::new(10), Millis(5));
        cp.positions.insert("app".into(), Position::Offset(42));
        write_atomic(dir.path(), &cp).unwrap();
        cp.positions.insert("app".into(), Position::File { fingerprint: 1, offset: 43 });
        write_atomic(dir.path(), &cp).unwrap();
        assert_eq!(read(dir.path()).unwrap().unwrap().positions["app"], Position::File { fingerprint: 1, offset: 43 });
        assert!(!dir.path().join("checkpoint.json.tmp").exists());
    }
}
