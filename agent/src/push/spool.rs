//! A bounded on-disk spool of serialized batches, delivered oldest first. Files are named by a
//! zero-padded sequence number so directory order is delivery order across restarts.

use std::io;
use std::path::{Path, PathBuf};

/// Errors reading or writing the spool directory.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A spooled batch: its sequence number and file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolEntry {
    pub seq: u64,
    pub path: PathBuf,
}

/// The spool. Holds at most `max_batches` files; adding past the bound drops the oldest.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_batches: usize,
    next_seq: u64,
    dropped_total: u64,
}

impl Spool {
    /// Opens (creating) the directory and resumes numbering after the newest file in it.
    pub fn open(dir: impl Into<PathBuf>, max_batches: usize) -> Result<Self, SpoolError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let mut spool = Self {
            dir,
            max_batches: max_batches.max(1),
            next_seq: 0,
            dropped_total: 0,
        };
        spool.next_seq = spool.entries()?.last().map_or(0, |e| e.seq + 1);
        Ok(spool)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Batches dropped past the bound since this spool was opened.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_total
    }

    /// Spooled batches, oldest first.
    pub fn entries(&self) -> Result<Vec<SpoolEntry>, SpoolError> {
        let mut entries: Vec<SpoolEntry> = std::fs::read_dir(&self.dir)
            .map_err(io_err(&self.dir))?
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let seq = name.strip_suffix(".json")?.parse().ok()?;
                Some(SpoolEntry {
                    seq,
                    path: e.path(),
                })
            })
            .collect();
        entries.sort_by_key(|e| e.seq);
        Ok(entries)
    }

    pub fn len(&self) -> Result<usize, SpoolError> {
        Ok(self.entries()?.len())
    }

    pub fn is_empty(&self) -> Result<bool, SpoolError> {
        Ok(self.len()? == 0)
    }

    /// Writes `body` as the newest batch (atomically: temp file then rename). If the spool then
    /// holds more than the bound, the oldest batches are deleted; returns how many.
    pub fn push(&mut self, body: &[u8]) -> Result<u64, SpoolError> {
        let seq = self.next_seq;
        let final_path = self.dir.join(format!("{seq:020}.json"));
        let tmp_path = self.dir.join(format!(".{seq:020}.tmp"));
        std::fs::write(&tmp_path, body).map_err(io_err(&tmp_path))?;
        std::fs::rename(&tmp_path, &final_path).map_err(io_err(&final_path))?;
        self.next_seq += 1;
        let entries = self.entries()?;
        let excess = entries.len().saturating_sub(self.max_batches);
        for entry in entries.iter().take(excess) {
            self.remove(entry)?;
        }
        self.dropped_total += excess as u64;
        Ok(excess as u64)
    }

    pub fn read(&self, entry: &SpoolEntry) -> Result<Vec<u8>, SpoolError> {
        std::fs::read(&entry.path).map_err(io_err(&entry.path))
    }

    /// Deletes a delivered (or permanently refused) batch.
    pub fn remove(&self, entry: &SpoolEntry) -> Result<(), SpoolError> {
        match std::fs::remove_file(&entry.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(&entry.path)(e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn keeps_order_and_resumes_numbering_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 10).unwrap();
        for i in 0..3 {
            assert_eq!(spool.push(format!("b{i}").as_bytes()).unwrap(), 0);
        }
        drop(spool);
        let mut spool = Spool::open(dir.path(), 10).unwrap();
        spool.push(b"b3").unwrap();
        let bodies: Vec<Vec<u8>> = spool
            .entries()
            .unwrap()
            .iter()
            .map(|e| spool.read(e).unwrap())
            .collect();
        assert_eq!(
            bodies,
            vec![
                b"b0".to_vec(),
                b"b1".to_vec(),
                b"b2".to_vec(),
                b"b3".to_vec()
            ]
        );
    }

    #[test]
    fn drops_oldest_past_the_bound_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 3).unwrap();
        let mut dropped = 0;
        for i in 0..5 {
            dropped += spool.push(format!("b{i}").as_bytes()).unwrap();
        }
        assert_eq!(dropped, 2);
        assert_eq!(spool.dropped_total(), 2);
        let first = spool.entries().unwrap()[0].clone();
        assert_eq!(spool.read(&first).unwrap(), b"b2");
        assert_eq!(spool.len().unwrap(), 3);
    }
}
