//! One segment: a `.log` file of batches stored verbatim plus its two sparse indexes.
//!
//! File names are the segment's base offset, zero-padded to 20 digits, as in Kafka:
//! `00000000000000000000.log`, `.index`, `.timeindex`.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use pilgrimage_protocol::batch::view::{BatchHeader, HEADER_BYTES};
use tracing::{debug, warn};

use crate::direct::{self, TailBlock};
use crate::error::StorageError;
use crate::files::SegmentFile;
use crate::index::{OffsetIndex, TimeIndex, TxnIndex};
use crate::scan::{self, ScanEnd, Source, Verify};

pub(crate) fn file_name(base_offset: i64, ext: &str) -> String {
    format!("{base_offset:020}.{ext}")
}

#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) base_offset: i64,
    pub(crate) path: PathBuf,
    /// Opened while in use (see [`crate::files`]).
    pub(crate) file: SegmentFile,
    /// Bytes of whole batches in the file.
    pub(crate) size: u64,
    /// Bytes known to be on stable storage.
    pub(crate) synced_size: u64,
    pub(crate) index: OffsetIndex,
    pub(crate) time_index: TimeIndex,
    /// Aborted transactions whose ABORT marker is in this segment.
    pub(crate) txn_index: TxnIndex,
    /// The `.txnindex` file was unreadable: the log rebuilds it from the markers.
    pub(crate) txn_index_lost: bool,
    bytes_since_index: u64,
    /// Largest batch max timestamp (-1 when empty) and the last offset of its batch.
    pub(crate) max_timestamp: i64,
    pub(crate) max_timestamp_batch_offset: i64,
    /// Last offset stored, if any.
    pub(crate) last_offset: Option<i64>,
    /// When this segment counts as created, for `segment.ms`: the first batch's timestamp, or
    /// the wall clock when it was created empty.
    pub(crate) rolling_base_ms: i64,
    pub(crate) sealed: bool,
    index_interval_bytes: u64,
    /// The last partial block, for direct writes (see [`crate::direct`]).
    tail_block: TailBlock,
    /// The file is longer than `size` by a direct write's zero padding: cut when sealed or
    /// closed.
    padded: bool,
    /// The file system refused `O_DIRECT` for this file: every append goes through the page
    /// cache.
    direct_refused: bool,
}

impl Segment {
    /// A segment of `size` whole bytes with empty indexes.
    fn blank(
        dir: &Path,
        path: PathBuf,
        file: Option<File>,
        base_offset: i64,
        size: u64,
        now_ms: i64,
        index_interval_bytes: u64,
    ) -> Segment {
        Segment {
            base_offset,
            file: SegmentFile::new(file),
            size,
            synced_size: size,
            index: OffsetIndex::new(dir.join(file_name(base_offset, "index")), base_offset),
            time_index: TimeIndex::new(dir.join(file_name(base_offset, "timeindex")), base_offset),
            txn_index: TxnIndex::new(dir.join(file_name(base_offset, "txnindex"))),
            txn_index_lost: false,
            bytes_since_index: 0,
            max_timestamp: -1,
            max_timestamp_batch_offset: base_offset,
            last_offset: None,
            rolling_base_ms: now_ms,
            sealed: false,
            path,
            index_interval_bytes,
            tail_block: TailBlock::default(),
            padded: false,
            direct_refused: false,
        }
    }

    /// Creates the output file of a compaction group, `<base>.log.cleaned`. Its index paths are
    /// the final ones: the indexes are written when the group is swapped in.
    pub(crate) fn create_cleaned(
        dir: &Path,
        base_offset: i64,
        now_ms: i64,
        index_interval_bytes: u64,
    ) -> Result<Segment, StorageError> {
        let path = dir.join(format!("{}.cleaned", file_name(base_offset, "log")));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| StorageError::io("create cleaned segment", &path, e))?;
        let mut seg = Segment::blank(
            dir,
            path,
            Some(file),
            base_offset,
            0,
            now_ms,
            index_interval_bytes,
        );
        // The cleaner writes through the page cache: a cleaned segment is fsynced and swapped
        // in whole, and must never end in a direct write's padding (a crash while it is swapped
        // in would otherwise leave padding in a segment that is not the last).
        seg.direct_refused = true;
        Ok(seg)
    }

    /// Creates an empty segment, replacing any leftover files of the same name.
    pub(crate) fn create(
        dir: &Path,
        base_offset: i64,
        now_ms: i64,
        index_interval_bytes: u64,
    ) -> Result<Segment, StorageError> {
        let path = dir.join(file_name(base_offset, "log"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| StorageError::io("create segment", &path, e))?;
        for ext in ["index", "timeindex", "txnindex"] {
            let _ = std::fs::remove_file(dir.join(file_name(base_offset, ext)));
        }
        // The new file's directory entry must be durable too, or an fsync of its data could
        // be lost with the name after a power failure.
        crate::checkpoint::sync_dir(dir)?;
        Ok(Segment::blank(
            dir,
            path,
            Some(file),
            base_offset,
            0,
            now_ms,
            index_interval_bytes,
        ))
    }

    /// Opens an existing segment. With `recover`, every batch is CRC-checked and the indexes
    /// rebuilt, and the file is cut at the first bad batch; otherwise the indexes are loaded
    /// (and rebuilt if they fail their checks) and only the tail past the last index entry is
    /// walked. Returns the segment and, when it was cut, why.
    /// `last`: the log's last segment, the only one that may end in a direct write's padding
    /// (a sealed segment is cut to its batches and fsynced before the next one is created).
    pub(crate) fn open(
        dir: &Path,
        base_offset: i64,
        recover: bool,
        last: bool,
        now_ms: i64,
        index_interval_bytes: u64,
    ) -> Result<(Segment, Option<String>), StorageError> {
        let path = dir.join(file_name(base_offset, "log"));
        // Opened lazily: a clean open reads the tail of most segments once, and the handle is
        // closed again when the budget of open handles needs it.
        let file_len = std::fs::metadata(&path)
            .map_err(|e| StorageError::io("stat segment", &path, e))?
            .len();
        let mut seg = Segment::blank(
            dir,
            path,
            None,
            base_offset,
            file_len,
            now_ms,
            index_interval_bytes,
        );
        match TxnIndex::load(seg.txn_index.path().to_path_buf()) {
            Ok(t) => seg.txn_index = t,
            Err(why) => {
                warn!(index = %seg.txn_index.path().display(), %why, "transaction index unreadable; rebuilding it");
                seg.txn_index_lost = true;
            }
        }
        if recover {
            let end = seg.rebuild(Verify::Crc)?;
            let padding =
                last && end.stopped.is_some() && seg.is_zero_padding(end.valid_bytes, file_len)?;
            let cut = end.stopped.filter(|_| !padding).map(|why| {
                warn!(segment = %seg.path.display(), at = end.valid_bytes, %why, "truncating torn or corrupt tail");
                why
            });
            if end.valid_bytes < file_len {
                let file = seg.file.get(&seg.path)?;
                let cut = file.set_len(end.valid_bytes);
                seg.file.wrote();
                cut.map_err(|e| StorageError::io("truncate segment", &seg.path, e))?;
            }
            // What recovery read may have come from the page cache of a killed process: make it
            // durable before the recovery point moves past it (an empty segment holds nothing).
            if file_len > 0 {
                seg.file.sync_all(&seg.path)?;
            }
            seg.size = end.valid_bytes;
            seg.synced_size = end.valid_bytes;
            return Ok((seg, cut));
        }
        match OffsetIndex::load(seg.index.path(), base_offset, file_len) {
            Ok(index) => seg.index = index,
            Err(why) => {
                if seg.index.path().exists() {
                    warn!(index = %seg.index.path().display(), %why, "rebuilding offset index");
                }
                let end = seg.rebuild(Verify::Headers)?;
                if end.stopped.is_some() {
                    // Not whole after all: recover it, which cuts what is torn (or padding).
                    return Self::open(dir, base_offset, true, last, now_ms, index_interval_bytes);
                }
                return Ok((seg, None));
            }
        }
        // Walk from the last index entry to learn the last offset and latest timestamps.
        let start = u64::from(seg.index.last_position());
        let mut tail: Vec<(u64, BatchHeader)> = Vec::new();
        let file = seg.file.get(&seg.path)?;
        let end = scan::scan(
            Source {
                file: &file,
                path: &seg.path,
                len: file_len,
                segment_base: base_offset,
            },
            start,
            Verify::Headers,
            |p, h| tail.push((p, *h)),
        )?;
        if end.stopped.is_some() {
            // A segment that should be whole is not: rebuild it fully, CRC included.
            warn!(segment = %seg.path.display(), why = ?end.stopped, "segment tail unreadable; recovering");
            seg.index = OffsetIndex::new(seg.index.path().to_path_buf(), base_offset);
            return Self::open(dir, base_offset, true, last, now_ms, index_interval_bytes);
        }
        let last_offset = tail.last().map(|(_, h)| h.last_offset());
        match TimeIndex::load(
            seg.time_index.path(),
            base_offset,
            last_offset.unwrap_or(base_offset),
        ) {
            Ok(t) => seg.time_index = t,
            Err(_) => {
                let end = seg.rebuild(Verify::Headers)?;
                if end.stopped.is_some() {
                    return Self::open(dir, base_offset, true, last, now_ms, index_interval_bytes);
                }
                return Ok((seg, None));
            }
        }
        if let Some((ts, off)) = seg.time_index.last() {
            seg.max_timestamp = ts;
            seg.max_timestamp_batch_offset = off;
        }
        for (_, h) in &tail {
            seg.note_timestamp(h);
        }
        seg.last_offset = last_offset;
        if let Some((_, first)) = tail.first().filter(|_| seg.index.is_empty()) {
            seg.rolling_base_ms = first.max_timestamp.max(0);
        }
        Ok((seg, None))
    }

    /// Whether the file's bytes from `from` to `file_len` are a direct write's zero padding
    /// (less than a block, all zero, ending on a block boundary): cut without a warning.
    fn is_zero_padding(&self, from: u64, file_len: u64) -> Result<bool, StorageError> {
        let block = direct::BLOCK as u64;
        if !file_len.is_multiple_of(block) || file_len - from >= block {
            return Ok(false);
        }
        let mut rest = vec![0u8; (file_len - from) as usize];
        let file = self.file.get(&self.path)?;
        std::os::unix::fs::FileExt::read_exact_at(&*file, &mut rest, from)
            .map_err(|e| StorageError::io("read segment tail", &self.path, e))?;
        Ok(rest.iter().all(|&b| b == 0))
    }

    /// Rebuilds both indexes (and the in-memory summary) by scanning the whole file.
    fn rebuild(&mut self, verify: Verify) -> Result<ScanEnd, StorageError> {
        self.index = OffsetIndex::new(self.index.path().to_path_buf(), self.base_offset);
        self.time_index = TimeIndex::new(self.time_index.path().to_path_buf(), self.base_offset);
        self.bytes_since_index = 0;
        self.max_timestamp = -1;
        self.last_offset = None;
        let file = self.file.get(&self.path)?;
        let path = self.path.clone();
        let mut first_ts = None;
        let end = scan::scan(
            Source {
                file: &file,
                path: &path,
                len: self.size,
                segment_base: self.base_offset,
            },
            0,
            verify,
            |pos, h| {
                first_ts.get_or_insert(h.max_timestamp);
                self.index_batch(pos, h);
                self.last_offset = Some(h.last_offset());
            },
        )?;
        if let Some(ts) = first_ts {
            self.rolling_base_ms = ts.max(0);
        }
        self.size = end.valid_bytes;
        Ok(end)
    }

    fn note_timestamp(&mut self, h: &BatchHeader) {
        if h.max_timestamp > self.max_timestamp {
            self.max_timestamp = h.max_timestamp;
            self.max_timestamp_batch_offset = h.last_offset();
        }
    }

    /// Updates indexes and summary for a batch at `pos` (already in the file).
    fn index_batch(&mut self, pos: u64, h: &BatchHeader) {
        self.note_timestamp(h);
        let size = h.size() as u64;
        if self.bytes_since_index >= self.index_interval_bytes || self.index.is_empty() && pos == 0
        {
            if let Ok(p) = u32::try_from(pos) {
                self.index.append(h.last_offset(), p);
                self.time_index
                    .maybe_append(self.max_timestamp, self.max_timestamp_batch_offset);
            }
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += size;
    }

    /// Appends one batch whose offsets are already assigned, given as `head` then `tail` (the
    /// log passes the patched first bytes and the rest as received, so the batch is never
    /// copied). On a failed write the file is cut back so that no partial batch remains.
    pub(crate) fn append(
        &mut self,
        head: &[u8],
        tail: &[u8],
        h: &BatchHeader,
    ) -> Result<(), StorageError> {
        debug_assert!(head.len() + tail.len() >= HEADER_BYTES);
        debug_assert!(!self.sealed, "append to a sealed segment");
        let pos = self.size;
        let file = self.file.get(&self.path)?;
        let len = head.len() + tail.len();
        let mut written = None;
        if !self.direct_refused && direct::wanted(len) {
            match direct::write_at(&self.path, &file, &mut self.tail_block, pos, head, tail) {
                Ok(direct::Outcome::Written) => {
                    written = Some(Ok(()));
                    self.padded |= !(pos + len as u64).is_multiple_of(direct::BLOCK as u64);
                }
                Ok(direct::Outcome::Unsupported) => {
                    debug!(segment = %self.path.display(), "O_DIRECT refused; appends go through the page cache");
                    self.direct_refused = true;
                }
                Ok(direct::Outcome::NotNow) => {}
                Err(e) => written = Some(Err(e)),
            }
        }
        let written = written.unwrap_or_else(|| {
            let w = write_all_vectored_at(&file, head, tail, pos);
            if w.is_ok() {
                self.tail_block.appended(head, tail, pos + len as u64);
            }
            w
        });
        if let Err(e) = written {
            if let Err(cut) = file.set_len(pos) {
                warn!(segment = %self.path.display(), error = %cut, "could not cut back a failed write");
            }
            self.tail_block.forget();
            self.file.wrote();
            return Err(StorageError::io("append", &self.path, e));
        }
        self.file.wrote();
        if self.last_offset.is_none() && h.max_timestamp > 0 {
            // Kafka's rollingBasedTimestamp: `segment.ms` counts from the first batch's time.
            self.rolling_base_ms = h.max_timestamp;
        }
        self.size += (head.len() + tail.len()) as u64;
        self.index_batch(pos, h);
        self.last_offset = Some(h.last_offset());
        Ok(())
    }

    /// Writes the final time index entry and both indexes to disk; the segment takes no more
    /// appends.
    pub(crate) fn seal(&mut self) -> Result<(), StorageError> {
        self.cut_padding()?;
        if self.max_timestamp >= 0 {
            self.time_index
                .maybe_append(self.max_timestamp, self.max_timestamp_batch_offset);
        }
        self.index.persist()?;
        self.time_index.persist()?;
        if self.txn_index.is_dirty() {
            self.txn_index.persist()?;
        }
        self.sealed = true;
        Ok(())
    }

    /// Writes the indexes without sealing (clean shutdown of the active segment).
    pub(crate) fn persist_indexes(&mut self) -> Result<(), StorageError> {
        self.cut_padding()?;
        if self.max_timestamp >= 0 {
            self.time_index
                .maybe_append(self.max_timestamp, self.max_timestamp_batch_offset);
        }
        if self.index.is_dirty() || !self.index.path().exists() {
            self.index.persist()?;
        }
        if self.time_index.is_dirty() || !self.time_index.path().exists() {
            self.time_index.persist()?;
        }
        if self.txn_index.is_dirty() {
            self.txn_index.persist()?;
        }
        Ok(())
    }

    /// Cuts a direct write's zero padding off the end of the file and fsyncs it, so that a
    /// segment on disk is exactly its batches (as a clean open expects); a crash before this
    /// leaves zeros at the end of the last segment, which recovery cuts.
    fn cut_padding(&mut self) -> Result<(), StorageError> {
        if !self.padded {
            return Ok(());
        }
        let file = self.file.get(&self.path)?;
        let cut = file.set_len(self.size);
        self.file.wrote();
        cut.map_err(|e| StorageError::io("cut padding", &self.path, e))?;
        // Durable now: a segment that is not the last must never be found padded after a
        // crash (recovery takes padding only at the end of the log).
        self.file.sync_data(&self.path)?;
        self.synced_size = self.size;
        self.padded = false;
        Ok(())
    }

    /// Removes the segment's files. Readers holding the file keep reading it until they drop it.
    pub(crate) fn delete_files(&self) {
        for p in [
            &self.path,
            self.index.path(),
            self.time_index.path(),
            self.txn_index.path(),
        ] {
            if let Err(e) = std::fs::remove_file(p)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                warn!(file = %p.display(), error = %e, "could not delete segment file");
            }
        }
    }

    /// Cuts off every batch whose last offset is ≥ `offset`. Returns the new size.
    pub(crate) fn truncate_to(&mut self, offset: i64) -> Result<u64, StorageError> {
        let mut cut_at = None;
        let file = self.file.get(&self.path)?;
        scan::scan(
            Source {
                file: &file,
                path: &self.path,
                len: self.size,
                segment_base: self.base_offset,
            },
            0,
            Verify::Headers,
            |pos, h| {
                if cut_at.is_none() && h.last_offset() >= offset {
                    cut_at = Some(pos);
                }
            },
        )?;
        let Some(cut) = cut_at else {
            return Ok(self.size);
        };
        let cut_back = file.set_len(cut);
        self.file.wrote();
        cut_back.map_err(|e| StorageError::io("truncate", &self.path, e))?;
        self.txn_index.truncate_from(offset);
        self.tail_block.forget();
        self.padded = false;
        self.size = cut;
        self.synced_size = self.synced_size.min(cut);
        self.rebuild(Verify::Headers)?;
        self.sealed = false;
        Ok(cut)
    }
}

/// `pwritev` of two buffers at `pos`, resumed after short writes.
fn write_all_vectored_at(
    file: &File,
    mut head: &[u8],
    mut tail: &[u8],
    mut pos: u64,
) -> std::io::Result<()> {
    while !head.is_empty() || !tail.is_empty() {
        let bufs = [std::io::IoSlice::new(head), std::io::IoSlice::new(tail)];
        let n = match rustix::io::pwritev(file, &bufs, pos) {
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        pos += n as u64;
        let from_head = n.min(head.len());
        head = &head[from_head..];
        tail = tail.get(n - from_head..).unwrap_or_default();
    }
    Ok(())
}
