//! A bounded on-disk spool of serialized batches, delivered oldest first. Files are named by a
//! zero-padded sequence number so directory order is delivery order across restarts. The spool
//! is bounded by batch count and by bytes; batches the server refuses for good move to its
//! [`DeadLetters`] directory.

use std::io;
use std::path::{Path, PathBuf};

use super::dead_letter::DeadLetters;
use super::Refusal;

/// Errors reading or writing the spool directory.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Default byte bound of the spool (64 MiB: about a week of 10 s batches of a busy node).
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Default byte bound of the dead-letter directory.
pub const DEFAULT_DEAD_LETTER_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// Default batch-count bound of the spool (one day at 10 s).
pub const DEFAULT_SPOOL_MAX_BATCHES: usize = 8640;
/// The dead-letter directory's name inside the spool directory, unless configured elsewhere.
pub const DEAD_LETTER_DIR_NAME: &str = "dead-letter";

/// A spooled (or dead-lettered) batch: its sequence number, file and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolEntry {
    pub seq: u64,
    pub path: PathBuf,
    pub bytes: u64,
}

/// What enforcing a bound removed: batches and their bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    pub batches: u64,
    pub bytes: u64,
}

impl Dropped {
    pub fn is_empty(&self) -> bool {
        self.batches == 0
    }

    fn add(&mut self, other: Dropped) {
        self.batches += other.batches;
        self.bytes += other.bytes;
    }
}

/// The spool's bounds and where its dead letters go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolOptions {
    /// Most batches kept; adding past it drops the oldest.
    pub max_batches: usize,
    /// Most bytes kept; adding past it drops the oldest (the new batch too if it alone is
    /// larger).
    pub max_bytes: u64,
    /// Where refused batches go; `None`: `<spool dir>/dead-letter`.
    pub dead_letter_dir: Option<PathBuf>,
    /// Most bytes kept in the dead-letter directory; the oldest are deleted past it.
    pub dead_letter_max_bytes: u64,
}

impl Default for SpoolOptions {
    fn default() -> Self {
        Self {
            max_batches: DEFAULT_SPOOL_MAX_BATCHES,
            max_bytes: DEFAULT_SPOOL_MAX_BYTES,
            dead_letter_dir: None,
            dead_letter_max_bytes: DEFAULT_DEAD_LETTER_MAX_BYTES,
        }
    }
}

/// The sequence number of a batch file: `<seq>.json`, or `<seq>.<anything>.json` (dead letters
/// carry their reason, and can be moved back into the spool as they are).
fn seq_of(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".json")?;
    let digits = stem.split_once('.').map_or(stem, |(seq, _)| seq);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The batch files in `dir`, oldest first; none if `dir` does not exist.
pub(crate) fn list_batches(dir: &Path) -> Result<Vec<SpoolEntry>, SpoolError> {
    let read = match std::fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let mut entries: Vec<SpoolEntry> = read
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let seq = seq_of(&name)?;
            let meta = e.metadata().ok().filter(std::fs::Metadata::is_file)?;
            Some(SpoolEntry {
                seq,
                path: e.path(),
                bytes: meta.len(),
            })
        })
        .collect();
    entries.sort_by(|a, b| a.seq.cmp(&b.seq).then_with(|| a.path.cmp(&b.path)));
    Ok(entries)
}

/// Deletes a batch file (already gone is fine).
pub(crate) fn remove_file(path: &Path) -> Result<(), SpoolError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(path)(e)),
        _ => Ok(()),
    }
}

/// Deletes the oldest of `entries` (oldest first) until at most `max_batches` files and
/// `max_bytes` bytes are left.
pub(crate) fn trim_oldest(
    entries: &[SpoolEntry],
    max_batches: usize,
    max_bytes: u64,
) -> Result<Dropped, SpoolError> {
    let mut batches_left = entries.len();
    let mut bytes_left: u64 = entries.iter().map(|e| e.bytes).sum();
    let mut dropped = Dropped::default();
    for entry in entries {
        if batches_left <= max_batches && bytes_left <= max_bytes {
            break;
        }
        remove_file(&entry.path)?;
        batches_left -= 1;
        bytes_left -= entry.bytes;
        dropped.add(Dropped {
            batches: 1,
            bytes: entry.bytes,
        });
    }
    Ok(dropped)
}

/// Writes `body` to `dir/name` atomically (temp file then rename).
pub(crate) fn write_atomically(dir: &Path, name: &str, body: &[u8]) -> Result<PathBuf, SpoolError> {
    let final_path = dir.join(name);
    let tmp_path = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp_path, body).map_err(io_err(&tmp_path))?;
    std::fs::rename(&tmp_path, &final_path).map_err(io_err(&final_path))?;
    Ok(final_path)
}

/// The spool. Adding past either bound drops the oldest batches.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_batches: usize,
    max_bytes: u64,
    next_seq: u64,
    dropped: Dropped,
    dead_letters: DeadLetters,
}

impl Spool {
    /// Opens (creating) the directory and resumes numbering after the newest file in it or in
    /// the dead-letter directory (so a dead letter moved back never collides with a new batch).
    pub fn open(dir: impl Into<PathBuf>, options: SpoolOptions) -> Result<Self, SpoolError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let dead_letter_dir = options
            .dead_letter_dir
            .unwrap_or_else(|| dir.join(DEAD_LETTER_DIR_NAME));
        let mut spool = Self {
            dir,
            max_batches: options.max_batches.max(1),
            max_bytes: options.max_bytes,
            next_seq: 0,
            dropped: Dropped::default(),
            dead_letters: DeadLetters::new(dead_letter_dir, options.dead_letter_max_bytes),
        };
        let newest = spool
            .entries()?
            .last()
            .map(|e| e.seq)
            .max(spool.dead_letters.entries()?.last().map(|e| e.seq));
        spool.next_seq = newest.map_or(0, |seq| seq + 1);
        Ok(spool)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn dead_letters(&self) -> &DeadLetters {
        &self.dead_letters
    }

    /// Batches dropped past the bounds since this spool was opened.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.batches
    }

    /// Bytes dropped past the bounds since this spool was opened.
    pub fn dropped_bytes_total(&self) -> u64 {
        self.dropped.bytes
    }

    /// Spooled batches, oldest first.
    pub fn entries(&self) -> Result<Vec<SpoolEntry>, SpoolError> {
        list_batches(&self.dir)
    }

    pub fn len(&self) -> Result<usize, SpoolError> {
        Ok(self.entries()?.len())
    }

    pub fn is_empty(&self) -> Result<bool, SpoolError> {
        Ok(self.len()? == 0)
    }

    /// Bytes of the spooled batches.
    pub fn bytes(&self) -> Result<u64, SpoolError> {
        Ok(self.entries()?.iter().map(|e| e.bytes).sum())
    }

    /// Writes `body` as the newest batch (atomically: temp file then rename). If the spool then
    /// holds more than a bound allows, the oldest batches are deleted; returns what was.
    pub fn push(&mut self, body: &[u8]) -> Result<Dropped, SpoolError> {
        let seq = self.next_seq;
        write_atomically(&self.dir, &format!("{seq:020}.json"), body)?;
        self.next_seq += 1;
        let dropped = trim_oldest(&self.entries()?, self.max_batches, self.max_bytes)?;
        self.dropped.add(dropped);
        Ok(dropped)
    }

    pub fn read(&self, entry: &SpoolEntry) -> Result<Vec<u8>, SpoolError> {
        std::fs::read(&entry.path).map_err(io_err(&entry.path))
    }

    /// Deletes a delivered batch.
    pub fn remove(&self, entry: &SpoolEntry) -> Result<(), SpoolError> {
        remove_file(&entry.path)
    }

    /// Moves a batch the server refused for good to the dead-letter directory (then bounded:
    /// returns the older dead letters dropped to make room). Returns the dead letter's path.
    pub fn dead_letter(
        &mut self,
        entry: &SpoolEntry,
        body: &[u8],
        refusal: Refusal,
    ) -> Result<(PathBuf, Dropped), SpoolError> {
        let moved = self.dead_letters.put(entry.seq, refusal, body)?;
        self.remove(entry)?;
        Ok(moved)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn options(max_batches: usize, max_bytes: u64) -> SpoolOptions {
        SpoolOptions {
            max_batches,
            max_bytes,
            ..SpoolOptions::default()
        }
    }

    fn bodies(spool: &Spool) -> Vec<Vec<u8>> {
        spool
            .entries()
            .unwrap()
            .iter()
            .map(|e| spool.read(e).unwrap())
            .collect()
    }

    #[test]
    fn keeps_order_and_resumes_numbering_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), options(10, 1024)).unwrap();
        for i in 0..3 {
            assert!(spool.push(format!("b{i}").as_bytes()).unwrap().is_empty());
        }
        drop(spool);
        let mut spool = Spool::open(dir.path(), options(10, 1024)).unwrap();
        spool.push(b"b3").unwrap();
        assert_eq!(
            bodies(&spool),
            vec![
                b"b0".to_vec(),
                b"b1".to_vec(),
                b"b2".to_vec(),
                b"b3".to_vec()
            ]
        );
    }

    #[test]
    fn drops_oldest_past_the_batch_bound_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), options(3, 1024)).unwrap();
        let mut dropped = 0;
        for i in 0..5 {
            dropped += spool.push(format!("b{i}").as_bytes()).unwrap().batches;
        }
        assert_eq!(dropped, 2);
        assert_eq!(spool.dropped_total(), 2);
        assert_eq!(bodies(&spool)[0], b"b2");
        assert_eq!(spool.len().unwrap(), 3);
    }

    #[test]
    fn drops_oldest_past_the_byte_bound_and_keeps_the_total_within_it() {
        let dir = tempfile::tempdir().unwrap();
        // 100-byte batches, 350 bytes allowed: three fit.
        let mut spool = Spool::open(dir.path(), options(1000, 350)).unwrap();
        let mut drops = Vec::new();
        for i in 0..6u8 {
            let body = vec![b'a' + i; 100];
            drops.push(spool.push(&body).unwrap());
            assert!(spool.bytes().unwrap() <= 350, "over the bound after {i}");
        }
        let none = Dropped::default();
        let one = Dropped {
            batches: 1,
            bytes: 100,
        };
        assert_eq!(drops, vec![none, none, none, one, one, one]);
        assert_eq!(spool.dropped_total(), 3);
        assert_eq!(spool.dropped_bytes_total(), 300);
        let seqs: Vec<u64> = spool.entries().unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![3, 4, 5], "the oldest went first");
        assert_eq!(
            bodies(&spool),
            vec![vec![b'd'; 100], vec![b'e'; 100], vec![b'f'; 100]]
        );
        // A bigger batch makes room by dropping as many old ones as needed.
        let dropped = spool.push(&[b'g'; 250]).unwrap();
        assert_eq!(
            dropped,
            Dropped {
                batches: 2,
                bytes: 200
            }
        );
        assert_eq!(spool.bytes().unwrap(), 350);
        let seqs: Vec<u64> = spool.entries().unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![5, 6]);
    }

    #[test]
    fn a_batch_larger_than_the_byte_bound_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), options(1000, 50)).unwrap();
        spool.push(&[b'a'; 40]).unwrap();
        let dropped = spool.push(&[b'b'; 60]).unwrap();
        assert_eq!(dropped.batches, 2);
        assert!(spool.is_empty().unwrap());
    }

    #[test]
    fn numbering_resumes_after_the_newest_dead_letter() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), options(10, 1024)).unwrap();
        spool.push(b"b0").unwrap();
        spool.push(b"b1").unwrap();
        let entry = spool.entries().unwrap()[1].clone();
        spool
            .dead_letter(&entry, b"b1", Refusal::Unauthorized)
            .unwrap();
        let entry = spool.entries().unwrap()[0].clone();
        spool.remove(&entry).unwrap();
        drop(spool);
        let mut spool = Spool::open(dir.path(), options(10, 1024)).unwrap();
        spool.push(b"b2").unwrap();
        assert_eq!(spool.entries().unwrap()[0].seq, 2);
    }

    #[test]
    fn file_names_give_the_sequence() {
        assert_eq!(seq_of("00000000000000000007.json"), Some(7));
        assert_eq!(seq_of("00000000000000000007.unauthorized.json"), Some(7));
        assert_eq!(seq_of(".00000000000000000007.json.tmp"), None);
        assert_eq!(seq_of("notes.json"), None);
        assert_eq!(seq_of("dead-letter"), None);
    }
}
