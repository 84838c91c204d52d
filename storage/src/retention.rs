//! Retention: whole segments go from the start of the log when `retention.ms` or
//! `retention.bytes` expire them, and DeleteRecords moves the log start offset.

use crate::error::StorageError;
use crate::log::{Log, RetentionReport};

impl Log {
    /// Deletes segments that retention rules expire, never touching data at or above
    /// `high_watermark`. An active segment that has wholly expired is rolled first so it can go.
    pub fn enforce_retention(
        &mut self,
        now_ms: i64,
        high_watermark: i64,
    ) -> Result<RetentionReport, StorageError> {
        self.check_online()?;
        let mut report = RetentionReport::default();
        // 1. Segments wholly below the log start offset (DeleteRecords).
        while self.segments.len() > 1 {
            let next_base = self.segments.keys().nth(1).copied().unwrap_or(i64::MAX);
            if next_base <= self.log_start_offset {
                self.delete_oldest(&mut report);
            } else {
                break;
            }
        }
        // 2. retention.ms: the newest record of the segment is older than the limit.
        if self.config.cleanup_delete && self.config.retention_ms >= 0 {
            loop {
                let expired = {
                    let first = self.segments.values().next();
                    first.is_some_and(|s| {
                        s.last_offset.is_some_and(|l| l < high_watermark)
                            && now_ms.saturating_sub(s.max_timestamp) > self.config.retention_ms
                    })
                };
                if !expired {
                    break;
                }
                if self.segments.len() == 1 {
                    self.roll(now_ms)?;
                }
                self.delete_oldest(&mut report);
            }
        }
        // 3. retention.bytes: drop oldest segments while the rest still exceed the limit.
        if self.config.cleanup_delete && self.config.retention_bytes >= 0 {
            let limit = self.config.retention_bytes as u64;
            let mut total = self.size_bytes();
            while self.segments.len() > 1 {
                let Some(first) = self.segments.values().next() else {
                    break;
                };
                let below_hw = first.last_offset.is_some_and(|l| l < high_watermark);
                if below_hw && total.saturating_sub(first.size) >= limit {
                    total -= first.size;
                    self.delete_oldest(&mut report);
                } else {
                    break;
                }
            }
        }
        if report.segments_deleted > 0 {
            if self.epochs.truncate_from_start(self.log_start_offset) {
                self.epochs.persist()?;
            }
            self.producer_state_after_start_moved();
        }
        Ok(report)
    }

    fn delete_oldest(&mut self, report: &mut RetentionReport) {
        let Some((_, seg)) = self.segments.pop_first() else {
            return;
        };
        report.segments_deleted += 1;
        report.bytes_deleted += seg.size;
        seg.delete_files();
        drop(seg);
        // The deleted file's buffers go (a new file never shares their handle, so no fetch
        // is served from them; one still being sent holds the handle, and its buffers go at
        // the next insert or sweep); other segments' buffers stay with their consumers.
        self.prefetch.forget_closed();
        let next_base = self
            .segments
            .keys()
            .next()
            .copied()
            .unwrap_or(self.next_offset);
        self.log_start_offset = self.log_start_offset.max(next_base);
    }

    /// Moves the log start offset forward (DeleteRecords). Segments wholly below it go at the
    /// next retention pass.
    pub fn advance_log_start(&mut self, offset: i64) -> Result<i64, StorageError> {
        self.check_online()?;
        let offset = offset.min(self.next_offset);
        if offset > self.log_start_offset {
            self.log_start_offset = offset;
            if self.epochs.truncate_from_start(offset) {
                self.epochs.persist()?;
            }
            self.producer_state_after_start_moved();
        }
        Ok(self.log_start_offset)
    }
}
