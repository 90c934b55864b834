//! Partition checkpoint files in a directory the instances of a consumer group share.
//!
//! A partitioned source (Kafka) keeps the state of each partition's series in a file of
//! its own, so the state moves with the partition: the instance that owns a partition
//! writes its file at every checkpoint and when it hands the partition over; the next
//! owner reads it on assignment, adopts the state and resumes at its position. Files are
//! written atomically (temp file, fsync, rename, fsync of the directory).

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use faultline_core::checkpoint::PartitionCheckpoint;

/// The directory of partition checkpoint files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionStore {
    dir: PathBuf,
}

impl PartitionStore {
    /// Files in `dir` (made on the first write).
    pub fn new(dir: impl Into<PathBuf>) -> PartitionStore {
        PartitionStore { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of partition `name` (`topic/N`): the name with every byte other than
    /// ASCII letters, digits, `-`, `_` and `.` written `%XX`, so names never clash.
    pub fn path(&self, name: &str) -> PathBuf {
        let mut file = String::with_capacity(name.len() + 10);
        for b in name.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
                file.push(char::from(b));
            } else {
                file.push_str(&format!("%{b:02X}"));
            }
        }
        file.push_str(".partition");
        self.dir.join(file)
    }

    /// Writes `cp` so that a crash at any point leaves the old file or the new one; its size.
    pub fn save(&self, cp: &PartitionCheckpoint) -> std::io::Result<u64> {
        let at = |what: &str, path: &Path, e: std::io::Error| {
            std::io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
        };
        std::fs::create_dir_all(&self.dir).map_err(|e| at("creating", &self.dir, e))?;
        let target = self.path(&cp.partition);
        let tmp = target.with_extension("partition.tmp");
        let bytes = cp.to_binary();
        let mut f = File::create(&tmp).map_err(|e| at("creating", &tmp, e))?;
        f.write_all(&bytes).and_then(|()| f.sync_all()).map_err(|e| at("writing", &tmp, e))?;
        drop(f);
        std::fs::rename(&tmp, &target).map_err(|e| at("renaming to", &target, e))?;
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(|e| at("syncing", &self.dir, e))?;
        Ok(bytes.len() as u64)
    }

    /// The checkpoint of partition `name`; `None` when none was written yet. A file that
    /// does not read is an error naming it.
    pub fn load(&self, name: &str) -> Result<Option<PartitionCheckpoint>, String> {
        let path = self.path(name);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("reading {}: {e}", path.display())),
        };
        let cp = PartitionCheckpoint::from_binary(&bytes).map_err(|e| format!("reading {}: {e}", path.display()))?;
        if cp.partition != name {
            return Err(format!("{} holds partition {}, not {name}", path.display(), cp.partition));
        }
        Ok(Some(cp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_core::pipeline::{PARTITION_STATE_VERSION, PartitionState};
    use faultline_core::{Millis, Position};

    fn cp(partition: &str, offset: i64) -> PartitionCheckpoint {
        let state: PartitionState = serde_json::from_value(serde_json::json!({
            "version": PARTITION_STATE_VERSION,
            "input": {"max_ts": 5_000, "idle": false},
            "open_windows": [],
            "detectors": {"version": 1, "entries": []},
        }))
        .expect("a partition state");
        PartitionCheckpoint {
            version: PARTITION_STATE_VERSION,
            taken_at: Millis(1),
            partition: partition.into(),
            position: Some(Position::Partition { next_offset: offset }),
            state,
        }
    }

    #[test]
    fn saves_loads_and_refuses_what_is_not_its_partition() {
        let dir = tempfile::tempdir().unwrap();
        let store = PartitionStore::new(dir.path().join("shared"));
        assert_eq!(store.load("telemetry/0"), Ok(None));
        store.save(&cp("telemetry/0", 10)).unwrap();
        store.save(&cp("telemetry/0", 42)).unwrap();
        store.save(&cp("tele%metry/0", 7)).unwrap();
        assert_eq!(store.load("telemetry/0").unwrap().unwrap().position, Some(Position::Partition { next_offset: 42 }));
        assert_eq!(store.load("tele%metry/0").unwrap().unwrap().position, Some(Position::Partition { next_offset: 7 }));
        assert_eq!(store.path("telemetry/0").file_name().unwrap(), "telemetry%2F0.partition");
        std::fs::copy(store.path("telemetry/0"), store.path("other/1")).unwrap();
        let err = store.load("other/1").unwrap_err();
        assert!(err.contains("holds partition telemetry/0, not other/1"), "{err}");
        std::fs::write(store.path("telemetry/0"), b"garbage").unwrap();
        let err = store.load("telemetry/0").unwrap_err();
        assert!(err.contains("telemetry%2F0.partition") && err.contains("not a"), "{err}");
        let names: Vec<_> = std::fs::read_dir(store.dir()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(names.iter().all(|n| !n.to_string_lossy().ends_with(".tmp")), "{names:?}");
    }
}
