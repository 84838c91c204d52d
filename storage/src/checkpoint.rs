//! Offset checkpoint files, in Kafka's text format so operators can read them:
//!
//! ```text
//! 0                      <- format version
//! 2                      <- number of entries
//! orders 0 1234          <- topic partition offset
//! orders 1 977
//! ```
//! Written to `<name>.tmp`, fsynced, renamed over the old file, then the directory is fsynced:
//! a crash leaves either the old or the new file, never a torn one. Topic names cannot contain
//! spaces, so the format needs no quoting.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::StorageError;

/// (topic, partition) → offset.
pub type Offsets = BTreeMap<(String, i32), i64>;

/// Reads a checkpoint file. A missing file is empty; a malformed one is an error naming the line.
pub fn read(path: &Path) -> Result<Offsets, StorageError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Offsets::new()),
        Err(e) => return Err(StorageError::io("read checkpoint", path, e)),
    };
    let corrupt = |detail: String| StorageError::Corrupt {
        what: "checkpoint",
        path: path.to_path_buf(),
        detail,
    };
    let mut lines = text.lines();
    match lines.next() {
        Some("0") => {}
        other => return Err(corrupt(format!("unknown version line {other:?}"))),
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| corrupt("missing entry count".into()))?;
    let mut out = Offsets::new();
    for (i, line) in lines.enumerate() {
        let mut parts = line.split(' ');
        let (Some(topic), Some(p), Some(o), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(corrupt(format!("line {}: {line:?}", i + 3)));
        };
        let p: i32 = p
            .parse()
            .map_err(|_| corrupt(format!("line {}: partition {p:?}", i + 3)))?;
        let o: i64 = o
            .parse()
            .map_err(|_| corrupt(format!("line {}: offset {o:?}", i + 3)))?;
        out.insert((topic.to_string(), p), o);
    }
    if out.len() != count {
        return Err(corrupt(format!(
            "{} entries, header says {count}",
            out.len()
        )));
    }
    Ok(out)
}

/// Writes a checkpoint file atomically (see the module doc).
pub fn write(path: &Path, offsets: &Offsets) -> Result<(), StorageError> {
    let mut text = String::with_capacity(16 + offsets.len() * 32);
    text.push_str("0\n");
    text.push_str(&offsets.len().to_string());
    text.push('\n');
    for ((topic, p), o) in offsets {
        text.push_str(&format!("{topic} {p} {o}\n"));
    }
    write_atomic(path, text.as_bytes())
}

/// Replaces `path` with `bytes` so that a crash leaves the old or the new content.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let tmp = path.with_extension("tmp");
    let mut f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| StorageError::io("create", &tmp, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| StorageError::io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| StorageError::io("rename", path, e))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Fsyncs a directory so that a rename or a new file in it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StorageError::io("sync directory", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("recovery-point-offset-checkpoint");
        assert!(read(&p).unwrap().is_empty());
        let mut o = Offsets::new();
        o.insert(("a".into(), 0), 5);
        o.insert(("b.c-d_e".into(), 11), 1 << 40);
        write(&p, &o).unwrap();
        assert_eq!(read(&p).unwrap(), o);
        std::fs::write(&p, "0\n2\na 0 5\n").unwrap();
        assert!(read(&p).is_err());
        std::fs::write(&p, "1\n0\n").unwrap();
        assert!(read(&p).is_err());
        std::fs::write(&p, "0\n1\na x 5\n").unwrap();
        assert!(read(&p).is_err());
    }
}
