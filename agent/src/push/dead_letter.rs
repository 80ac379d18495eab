//! The dead-letter directory: batches the server refused for good (bad token, wrong node, too
//! large, invalid), kept as `<seq:020>.<reason>.json` so the operator can see why, fix the cause
//! and move them back into the spool. Bounded by bytes, oldest dropped first.

use std::path::{Path, PathBuf};

use super::spool::SpoolError;
use super::spool::{io_err, list_batches, trim_oldest, write_atomically, Dropped, SpoolEntry};
use super::Refusal;

/// The dead-letter directory (created when the first batch arrives).
#[derive(Debug)]
pub struct DeadLetters {
    dir: PathBuf,
    max_bytes: u64,
    dropped: Dropped,
}

impl DeadLetters {
    pub fn new(dir: PathBuf, max_bytes: u64) -> Self {
        Self {
            dir,
            max_bytes,
            dropped: Dropped::default(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Dead letters, oldest first.
    pub fn entries(&self) -> Result<Vec<SpoolEntry>, SpoolError> {
        list_batches(&self.dir)
    }

    pub fn len(&self) -> Result<usize, SpoolError> {
        Ok(self.entries()?.len())
    }

    pub fn is_empty(&self) -> Result<bool, SpoolError> {
        Ok(self.len()? == 0)
    }

    /// Bytes of the dead letters.
    pub fn bytes(&self) -> Result<u64, SpoolError> {
        Ok(self.entries()?.iter().map(|e| e.bytes).sum())
    }

    /// Dead letters deleted past the byte bound since the agent started.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.batches
    }

    /// Writes batch `seq` as a dead letter, then deletes the oldest while over the byte bound
    /// (the new one too, if it alone is larger). Returns its path and what was dropped.
    pub(crate) fn put(
        &mut self,
        seq: u64,
        refusal: Refusal,
        body: &[u8],
    ) -> Result<(PathBuf, Dropped), SpoolError> {
        std::fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        let name = format!("{seq:020}.{}.json", refusal.as_str());
        let path = write_atomically(&self.dir, &name, body)?;
        let dropped = trim_oldest(&self.entries()?, usize::MAX, self.max_bytes)?;
        self.dropped.batches += dropped.batches;
        self.dropped.bytes += dropped.bytes;
        Ok((path, dropped))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn is_created_on_first_use_and_bounded_by_bytes_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut letters = DeadLetters::new(dir.path().join("dl"), 250);
        assert!(letters.is_empty().unwrap());
        assert!(!dir.path().join("dl").exists());
        let mut dropped = Vec::new();
        for seq in 0..5 {
            let (path, d) = letters.put(seq, Refusal::Forbidden, &[b'x'; 100]).unwrap();
            assert!(path.ends_with(format!("{seq:020}.forbidden.json")));
            assert!(letters.bytes().unwrap() <= 250);
            dropped.push(d.batches);
        }
        assert_eq!(dropped, vec![0, 0, 1, 1, 1]);
        assert_eq!(letters.dropped_total(), 3);
        let seqs: Vec<u64> = letters.entries().unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![3, 4]);
    }
}
