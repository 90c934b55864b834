//! Checkpoint files: binary, written atomically (temp file, fsync, rename, fsync of the directory), read at start.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use faultline_core::checkpoint::Checkpoint;

/// The checkpoint file in a state directory (binary; `faultline checkpoint show DIR` prints it as JSON).
pub(crate) fn path_in(dir: &Path) -> PathBuf {
    dir.join("checkpoint.bin")
}

/// Where format 2 and older kept the checkpoint, as JSON: read when no binary one exists yet.
fn json_path_in(dir: &Path) -> PathBuf {
    dir.join("checkpoint.json")
}

/// Writes `cp` so that a crash at any point leaves either the old or the new file; returns its size in bytes.
pub(crate) fn write_atomic(dir: &Path, cp: &Checkpoint) -> anyhow::Result<u64> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating state directory {}", dir.display()))?;
    let target = path_in(dir);
    let tmp = dir.join("checkpoint.bin.tmp");
    let mut f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let bytes = cp.to_binary();
    f.write_all(&bytes).with_context(|| format!("writing {}", tmp.display()))?;
    f.sync_all().with_context(|| format!("syncing {}", tmp.display()))?;
    drop(f);
    std::fs::rename(&tmp, &target).with_context(|| format!("renaming to {}", target.display()))?;
    // The rename is durable only once the directory entry is.
    File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing {}", dir.display()))?;
    // An older JSON checkpoint is superseded once the binary one is durable.
    match std::fs::remove_file(json_path_in(dir)) {
        Ok(()) => tracing::info!(dir = %dir.display(), "replaced the JSON checkpoint of an older version"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(error = %e, "could not remove the old JSON checkpoint"),
    }
    Ok(bytes.len() as u64)
}

/// Reads the checkpoint of `dir` (the binary file, else an older version's
/// JSON one), `None` when there is none yet.
pub(crate) fn read(dir: &Path) -> anyhow::Result<Option<Checkpoint>> {
    for path in [path_in(dir), json_path_in(dir)] {
        match read_file(&path) {
            Ok(cp) => return Ok(Some(cp)),
            Err(e) if e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Reads one checkpoint file, binary or JSON.
pub(crate) fn read_file(path: &Path) -> anyhow::Result<Checkpoint> {
    let bytes = std::fs::read(path)?;
    Checkpoint::from_bytes(&bytes).with_context(|| format!("reading {}", path.display()))
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
        assert!(!dir.path().join("checkpoint.bin.tmp").exists());
    }

    #[test]
    fn an_older_json_checkpoint_is_read_then_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let mut cp =
            Checkpoint::capture(&mut Engine::new(EngineConfig::default()), &SeriesRegistry::new(10), Millis(5));
        cp.positions.insert("app".into(), Position::Offset(42));
        std::fs::write(dir.path().join("checkpoint.json"), cp.to_json()).unwrap();
        assert_eq!(read(dir.path()).unwrap().unwrap().positions["app"], Position::Offset(42));
        write_atomic(dir.path(), &cp).unwrap();
        assert!(!dir.path().join("checkpoint.json").exists());
        assert!(path_in(dir.path()).exists());
        std::fs::write(path_in(dir.path()), b"garbage").unwrap();
        let err = format!("{:#}", read(dir.path()).unwrap_err());
        assert!(err.contains("checkpoint.bin") && err.contains("not valid"), "{err}");
    }
}
