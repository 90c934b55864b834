//! Line receivers: incident events as JSON lines on stdout or in a file, behind the outbox like every sink.
//!
//! A file receiver appends each event as one line and syncs it before the
//! event counts as delivered; a crash mid-write leaves a torn last line,
//! which the next open cuts off (the event is written again, its cursor not
//! having moved). Past `max_bytes` the file moves to `path.1` (older ones
//! up, the oldest beyond `max_files` dropped) and a new one starts, between
//! two whole lines.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use faultline_core::incident::wire::IncidentEventJson;

use crate::deliver::{Attempt, BoxFuture, Receiver};
use crate::outbox::Entry;

/// Cuts a partial last line (a write torn by a crash) off `path`, if any.
///
/// Every line before the last checkpoint was flushed and synced whole, so a
/// torn line belongs to output after it, which the restarted run emits again:
/// dropping the fragment keeps the file one JSON object per line.
pub fn drop_torn_tail(path: &std::path::Path) -> std::io::Result<()> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let mut f = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|b| *b == b'\n') {
            end = start + i as u64 + 1;
            break;
        }
        end = start;
    }
    if end < len {
        tracing::warn!(file = %path.display(), bytes = len - end, "dropping a partial last line left by a crash");
        f.set_len(end)?;
        f.sync_all()?;
    }
    Ok(())
}

/// Moves `path` to `path.1`, `path.1` to `path.2` and so on, dropping the one past `max_files`,
/// and syncs the directory; the caller opens a new `path`.
pub fn rotate_files(path: &Path, max_files: u32) -> std::io::Result<()> {
    let numbered = |n: u32| {
        let mut p = path.to_path_buf().into_os_string();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    };
    let _ = std::fs::remove_file(numbered(max_files));
    for n in (1..max_files).rev() {
        match std::fs::rename(numbered(n), numbered(n + 1)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    std::fs::rename(path, numbered(1))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Incident events appended to a file, one JSON line each.
#[derive(Debug)]
pub struct FileLines {
    path: PathBuf,
    file: Option<File>,
    rotate: Option<(u64, u32)>,
}

impl FileLines {
    /// Appends to `path` (a torn last line cut off first), rotating past `rotate`'s bytes.
    pub fn open(path: &Path, rotate: Option<(u64, u32)>) -> std::io::Result<FileLines> {
        drop_torn_tail(path)?;
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(FileLines { path: path.to_path_buf(), file: Some(file), rotate })
    }

    fn write(&mut self, line: &str) -> std::io::Result<()> {
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(OpenOptions::new().create(true).append(true).open(&self.path)?),
        };
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        if let Err(e) = file.write_all(&bytes).and_then(|()| file.sync_data()) {
            // Whatever part went out is a torn line: cut it, the event is written again.
            self.file = None;
            let _ = drop_torn_tail(&self.path);
            return Err(e);
        }
        if let Some((max_bytes, max_files)) = self.rotate
            && file.metadata()?.len() >= max_bytes
        {
            self.file = None;
            rotate_files(&self.path, max_files)?;
            self.file = Some(OpenOptions::new().create(true).append(true).open(&self.path)?);
            tracing::info!(file = %self.path.display(), "sink file rotated");
        }
        Ok(())
    }
}

impl Receiver for FileLines {
    fn deliver<'a>(&'a mut self, entry: &'a Entry, _event: &'a IncidentEventJson) -> BoxFuture<'a, Attempt> {
        Box::pin(async move {
            match self.write(&entry.json) {
                Ok(()) => Attempt::Delivered,
                // A full or failing disk: hold on to the event until it takes it.
                Err(e) => Attempt::Retry { after: None, why: format!("{}: {e}", self.path.display()) },
            }
        })
    }
}

/// Incident events printed on standard output, one JSON line each.
#[derive(Debug, Default)]
pub struct StdoutLines;

impl Receiver for StdoutLines {
    fn deliver<'a>(&'a mut self, entry: &'a Entry, _event: &'a IncidentEventJson) -> BoxFuture<'a, Attempt> {
        Box::pin(async move {
            let mut out = std::io::stdout().lock();
            match writeln!(out, "{}", entry.json).and_then(|()| out.flush()) {
                Ok(()) => Attempt::Delivered,
                Err(e) => Attempt::Retry { after: None, why: format!("stdout: {e}") },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_dropped_and_whole_lines_stay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        drop_torn_tail(&path).unwrap(); // no file yet: nothing to do
        std::fs::write(&path, "{\"a\":1}\n{\"b\":2}\n{\"c\"").unwrap();
        drop_torn_tail(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":1}\n{\"b\":2}\n");
        drop_torn_tail(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":1}\n{\"b\":2}\n");
        std::fs::write(&path, "no newline at all").unwrap();
        drop_torn_tail(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    }

    #[test]
    fn a_file_receiver_appends_whole_lines_and_rotates_past_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("incidents.jsonl");
        std::fs::write(&path, "{\"old\":1}\n{\"torn").unwrap();
        let mut f = FileLines::open(&path, Some((200, 2))).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"old\":1}\n", "the torn line is cut on open");
        let line = format!("{{\"n\":\"{}\"}}", "x".repeat(60));
        for _ in 0..12 {
            f.write(&line).unwrap();
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["incidents.jsonl", "incidents.jsonl.1", "incidents.jsonl.2"]);
        for n in &names {
            let text = std::fs::read_to_string(dir.path().join(n)).unwrap();
            assert!(text.lines().all(|l| l.starts_with('{') && l.ends_with('}')), "{n}: whole lines: {text}");
        }
    }
}
