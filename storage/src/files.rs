//! Segment files opened on demand, under a process-wide budget of open handles.
//!
//! A node with thousands of partitions would otherwise hold one descriptor per segment for its
//! whole life and hit the process's open-file limit. Here a segment's `.log` file is opened when
//! it is first read or written and closed again, least recently used first, when more handles
//! than the budget ([`set_limit`]) are open. An operation holds an `Arc<File>` for its duration;
//! a handle in use is never closed under it (a closed one is simply reopened next time).
//!
//! Handles with writes not yet fsynced are only closed by [`sweep`], which fsyncs them first and
//! keeps a failure for the segment's next [`SegmentFile::sync_data`]: Linux reports a writeback
//! error only to descriptors that were open when it happened, so closing a dirty descriptor
//! without an fsync could lose the error and let a later fsync on a fresh one "succeed".
//! Closing clean handles is cheap and happens at once, on the open that exceeds the budget.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};

use crate::error::StorageError;

/// Handles kept open before the least recently used are closed, unless [`set_limit`] says
/// otherwise.
pub const DEFAULT_LIMIT: usize = 4096;

/// The share of the budget closed at once when it is exceeded, so that opening files one after
/// another beyond the budget does not sort the open set on every open.
const EVICT_SLACK_DIVISOR: usize = 8;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves plain data behind: keep using it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Registry {
    limit: AtomicUsize,
    clock: AtomicU64,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Weak<Inner>>>,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Registry {
    limit: AtomicUsize::new(DEFAULT_LIMIT),
    clock: AtomicU64::new(0),
    next_id: AtomicU64::new(0),
    open: Mutex::new(HashMap::new()),
});

/// Sets the budget of open segment handles for the process (at least 1).
pub fn set_limit(limit: usize) {
    REGISTRY.limit.store(limit.max(1), Ordering::Relaxed);
    let dirty = REGISTRY.evict(false);
    debug_assert!(dirty.is_empty());
}

/// The budget of open segment handles.
pub fn limit() -> usize {
    REGISTRY.limit.load(Ordering::Relaxed)
}

/// Segment handles open now.
pub fn open_count() -> usize {
    lock(&REGISTRY.open).len()
}

/// Whether fewer handles are open than the budget: a caller about to hold a handle for a
/// while (a fetch sending a file range) can check it and use a short read instead, since held
/// handles cannot be closed and would take the open count past the budget.
pub fn has_room() -> bool {
    open_count() < limit()
}

/// Closes handles beyond the budget, including ones with unsynced writes (fsynced first).
/// Blocking: called periodically off the async runtime. Returns how many were closed.
pub fn sweep() -> usize {
    let victims = REGISTRY.evict(true);
    let mut closed = 0;
    for inner in victims {
        let mut st = lock(&inner.state);
        let Some(file) = st.file.take_if(|f| Arc::strong_count(f) == 1) else {
            continue;
        };
        if st.written > st.synced {
            if let Err(e) = file.sync_data() {
                st.failed = Some((e.kind(), e.to_string()));
            }
            st.synced = st.written;
        }
        drop(file);
        // Still under the state lock: a reopen in between would otherwise be registered and
        // then forgotten here. (Nothing holds the registry while waiting for a state lock.)
        lock(&REGISTRY.open).remove(&inner.id);
        drop(st);
        closed += 1;
    }
    closed
}

impl Registry {
    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed)
    }

    fn opened(&self, inner: &Arc<Inner>) {
        let over = {
            let mut open = lock(&self.open);
            open.insert(inner.id, Arc::downgrade(inner));
            open.len() > self.limit.load(Ordering::Relaxed)
        };
        if over {
            // Dirty handles wait for the sweep; clean ones go now.
            let _ = self.evict(false);
        }
    }

    /// Closes clean, unused handles, least recently used first, until the open set is below
    /// the budget by the slack. Returns, with `dirty`, the dirty ones that should go too (for
    /// the caller to fsync and close without holding the registry lock).
    fn evict(&self, dirty: bool) -> Vec<Arc<Inner>> {
        let limit = self.limit.load(Ordering::Relaxed);
        let mut open = lock(&self.open);
        if open.len() <= limit {
            return Vec::new();
        }
        let target = limit - limit / EVICT_SLACK_DIVISOR;
        let mut by_age: Vec<(u64, u64)> = Vec::with_capacity(open.len());
        open.retain(|&id, w| match w.upgrade() {
            Some(inner) => {
                by_age.push((inner.last_used.load(Ordering::Relaxed), id));
                true
            }
            None => false,
        });
        by_age.sort_unstable();
        let mut excess = open.len().saturating_sub(target);
        let mut to_sync = Vec::new();
        for (_, id) in by_age {
            if excess == 0 {
                break;
            }
            let Some(inner) = open.get(&id).and_then(Weak::upgrade) else {
                continue;
            };
            // Never wait for a segment's lock here: whoever holds it is using it.
            let Ok(mut st) = inner.state.try_lock() else {
                continue;
            };
            let Some(file) = &st.file else {
                open.remove(&id);
                excess -= 1;
                continue;
            };
            if Arc::strong_count(file) > 1 {
                continue;
            }
            if st.written > st.synced {
                if dirty {
                    drop(st);
                    to_sync.push(inner);
                    excess -= 1;
                }
                continue;
            }
            st.file = None;
            open.remove(&id);
            excess -= 1;
        }
        to_sync
    }
}

struct State {
    file: Option<Arc<File>>,
    /// Write generation handed out to writers, and the one the last fsync covered.
    written: u64,
    synced: u64,
    /// An fsync made when closing the handle failed: reported by the next sync.
    failed: Option<(io::ErrorKind, String)>,
}

struct Inner {
    id: u64,
    last_used: AtomicU64,
    state: Mutex<State>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        // Never block here: this can run inside the registry's own lock (when eviction held the
        // last reference); an entry left behind is dropped by the next eviction.
        if st.file.is_some()
            && let Ok(mut open) = REGISTRY.open.try_lock()
        {
            open.remove(&self.id);
        }
    }
}

/// A segment's `.log` file, opened while it is used. Clones share the handle.
#[derive(Clone)]
pub(crate) struct SegmentFile {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SegmentFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = lock(&self.inner.state);
        f.debug_struct("SegmentFile")
            .field("open", &st.file.is_some())
            .finish()
    }
}

impl SegmentFile {
    /// A file that exists (or was just created as `file`); `file` is kept open if given. The
    /// path is the owner's (it changes when a cleaned segment is swapped in): every call that
    /// may open the file is given it.
    pub(crate) fn new(file: Option<File>) -> SegmentFile {
        let opened = file.is_some();
        let inner = Arc::new(Inner {
            id: REGISTRY.next_id.fetch_add(1, Ordering::Relaxed),
            last_used: AtomicU64::new(REGISTRY.tick()),
            state: Mutex::new(State {
                file: file.map(Arc::new),
                written: 0,
                synced: 0,
                failed: None,
            }),
        });
        if opened {
            REGISTRY.opened(&inner);
        }
        SegmentFile { inner }
    }

    /// The open file (opened if it was closed). Whoever writes through it calls
    /// [`SegmentFile::wrote`] afterwards, while still holding it.
    pub(crate) fn get(&self, path: &Path) -> Result<Arc<File>, StorageError> {
        self.inner
            .last_used
            .store(REGISTRY.tick(), Ordering::Relaxed);
        let mut st = lock(&self.inner.state);
        if let Some(f) = &st.file {
            return Ok(Arc::clone(f));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|source| StorageError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        let file = Arc::new(file);
        st.file = Some(Arc::clone(&file));
        drop(st);
        REGISTRY.opened(&self.inner);
        Ok(file)
    }

    /// Records a write (or truncation) just made through a handle from [`SegmentFile::get`]:
    /// the file has unsynced changes until a sync that starts after this. Counted after the
    /// write, never before, so that a sync running alongside cannot count it as covered.
    pub(crate) fn wrote(&self) {
        lock(&self.inner.state).written += 1;
    }

    /// `fdatasync`, or `fsync` with `all`, through `pinned` if given (a handle taken when the
    /// sync was planned, so the file is the one planned even if it was since deleted) or else
    /// the open handle; reports a failure of an fsync made when the handle was closed meanwhile.
    pub(crate) fn sync_pinned(
        &self,
        pinned: Option<&Arc<File>>,
        path: &Path,
        all: bool,
    ) -> Result<(), StorageError> {
        let covers = {
            let st = lock(&self.inner.state);
            if let Some((kind, msg)) = &st.failed {
                return Err(StorageError::io(
                    "fsync",
                    path,
                    io::Error::new(*kind, msg.clone()),
                ));
            }
            st.written
        };
        let file = match pinned {
            Some(f) => Arc::clone(f),
            None => self.get(path)?,
        };
        let r = if all {
            file.sync_all()
        } else {
            file.sync_data()
        };
        r.map_err(|e| StorageError::io("fsync", path, e))?;
        let mut st = lock(&self.inner.state);
        st.synced = st.synced.max(covers);
        Ok(())
    }

    pub(crate) fn sync_data(&self, path: &Path) -> Result<(), StorageError> {
        self.sync_pinned(None, path, false)
    }

    pub(crate) fn sync_all(&self, path: &Path) -> Result<(), StorageError> {
        self.sync_pinned(None, path, true)
    }

    /// Whether the handle is open now (for tests).
    #[cfg(test)]
    pub(crate) fn is_open(&self) -> bool {
        lock(&self.inner.state).file.is_some()
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    // One test touches the process-wide budget: the others in this crate run with the default.
    #[test]
    fn handles_beyond_the_budget_are_closed_and_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<(SegmentFile, PathBuf)> = (0..64)
            .map(|i| {
                let p = dir.path().join(format!("{i}.log"));
                std::fs::write(&p, [i as u8; 8]).unwrap();
                (SegmentFile::new(None), p)
            })
            .collect();
        let before = limit();
        set_limit(open_count() + 16);
        for (f, p) in &files {
            let h = f.get(p).unwrap();
            let mut b = [0u8; 1];
            std::os::unix::fs::FileExt::read_exact_at(&*h, &mut b, 0).unwrap();
        }
        let open = files.iter().filter(|(f, _)| f.is_open()).count();
        assert!(open <= 16, "{open} handles open");
        // The most recently used are the ones kept.
        assert!(files[63].0.is_open());
        assert!(!files[0].0.is_open());
        // Dirty handles are closed only by the sweep, after an fsync: writing to every file
        // goes past the budget until it runs.
        for (f, p) in &files {
            let w = f.get(p).unwrap();
            std::os::unix::fs::FileExt::write_all_at(&*w, b"x", 0).unwrap();
            f.wrote();
        }
        let open = files.iter().filter(|(f, _)| f.is_open()).count();
        assert_eq!(open, 64, "dirty handles closed without fsync");
        sweep();
        let open = files.iter().filter(|(f, _)| f.is_open()).count();
        assert!(open <= 16, "{open} handles open after the sweep");
        assert!(!files[0].0.is_open());
        assert!(files[63].0.is_open());
        // Reopened on demand, with what was written.
        let mut b = [0u8; 1];
        std::os::unix::fs::FileExt::read_exact_at(
            &*files[0].0.get(&files[0].1).unwrap(),
            &mut b,
            0,
        )
        .unwrap();
        assert_eq!(&b, b"x");
        set_limit(before);
    }
}
