//! Counters served at `/metrics` in the Prometheus text format. Plain atomics: the hot path
//! pays one relaxed add per event.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use kafka_protocol::messages::ApiKey;

#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// API keys tracked per request (every key below this bound).
const API_KEYS: usize = 128;

#[derive(Debug)]
pub struct Metrics {
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    pub produced_records: Counter,
    pub produced_bytes: Counter,
    pub produce_errors: Counter,
    /// Retried batches answered with the offsets they were first written at.
    pub duplicate_batches: Counter,
    pub fetched_bytes: Counter,
    /// Partition reads of a fetch that had to wait on the disk (done off the async workers).
    pub fetch_disk_reads: Counter,
    requests: Vec<Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            bytes_in: Counter::default(),
            bytes_out: Counter::default(),
            produced_records: Counter::default(),
            produced_bytes: Counter::default(),
            produce_errors: Counter::default(),
            duplicate_batches: Counter::default(),
            fetched_bytes: Counter::default(),
            fetch_disk_reads: Counter::default(),
            requests: (0..API_KEYS).map(|_| Counter::default()).collect(),
        }
    }
}

impl Metrics {
    pub fn request(&self, key: ApiKey) {
        if let Some(c) = self.requests.get(key as i16 as usize) {
            c.add(1);
        }
    }

    /// Renders every counter in the Prometheus text exposition format.
    pub fn render(
        &self,
        partitions: usize,
        memory_free: usize,
        buffers: &crate::server::buffers::RequestBuffers,
    ) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        counter(
            "pilgrimage_network_bytes_in_total",
            "Bytes of requests read.",
            self.bytes_in.get(),
        );
        counter(
            "pilgrimage_network_bytes_out_total",
            "Bytes of responses written.",
            self.bytes_out.get(),
        );
        counter(
            "pilgrimage_produced_records_total",
            "Records appended by producers.",
            self.produced_records.get(),
        );
        counter(
            "pilgrimage_produced_bytes_total",
            "Batch bytes appended by producers.",
            self.produced_bytes.get(),
        );
        counter(
            "pilgrimage_produce_errors_total",
            "Produce partitions answered with an error.",
            self.produce_errors.get(),
        );
        counter(
            "pilgrimage_produce_duplicate_batches_total",
            "Retried idempotent batches answered with their original offsets, not written again.",
            self.duplicate_batches.get(),
        );
        counter(
            "pilgrimage_log_direct_write_bytes_total",
            "Batch bytes appended with O_DIRECT, past the page cache (log.direct.write.min.bytes).",
            pilgrimage_storage::direct::written_bytes(),
        );
        counter(
            "pilgrimage_log_direct_write_copied_bytes_total",
            "Of the bytes appended with O_DIRECT, those copied into an aligned buffer first: the request was not received at the batch's offset within a disk block (another producer appended to the partition in between, or the batch was converted).",
            pilgrimage_storage::direct::copied_bytes(),
        );
        counter(
            "pilgrimage_fetch_read_ahead_served_bytes_total",
            "Batch bytes fetches returned from read-ahead buffers read with O_DIRECT (fetch.read.ahead.bytes).",
            pilgrimage_storage::prefetch::served_bytes(),
        );
        counter(
            "pilgrimage_direct_io_buffers_allocated_bytes_total",
            "Aligned buffers for direct appends and read-ahead allocated because none of the size was kept for reuse (memory the kernel faults in and zeroes).",
            pilgrimage_storage::aligned::allocated_bytes(),
        );
        let (reused, allocated) = buffers.counts();
        counter(
            "pilgrimage_request_buffers_reused_total",
            "Large request bodies read into a kept buffer (socket.request.buffer.pool.bytes).",
            reused,
        );
        counter(
            "pilgrimage_request_buffers_allocated_total",
            "Large request bodies read into a newly allocated buffer.",
            allocated,
        );
        counter(
            "pilgrimage_fetched_bytes_total",
            "Batch bytes returned to fetchers.",
            self.fetched_bytes.get(),
        );
        counter(
            "pilgrimage_fetch_disk_reads_total",
            "Partition reads of fetches that waited on the disk (neither read ahead nor in the page cache); their threads are handed off by the async runtime meanwhile.",
            self.fetch_disk_reads.get(),
        );
        let _ = writeln!(
            out,
            "# HELP pilgrimage_requests_total Requests by API.\n# TYPE pilgrimage_requests_total counter"
        );
        for (i, c) in self.requests.iter().enumerate() {
            let n = c.get();
            if n > 0 {
                let name = ApiKey::try_from(i as i16)
                    .map(|k| format!("{k:?}"))
                    .unwrap_or_else(|_| i.to_string());
                let _ = writeln!(out, "pilgrimage_requests_total{{api=\"{name}\"}} {n}");
            }
        }
        let _ = writeln!(
            out,
            "# HELP pilgrimage_partitions Partitions on this node.\n# TYPE pilgrimage_partitions gauge\npilgrimage_partitions {partitions}"
        );
        let _ = writeln!(
            out,
            "# HELP pilgrimage_request_memory_free_bytes Unreserved request memory.\n# TYPE pilgrimage_request_memory_free_bytes gauge\npilgrimage_request_memory_free_bytes {memory_free}"
        );
        let _ = writeln!(
            out,
            "# HELP pilgrimage_request_buffers_kept_bytes Unused request buffers kept for reuse.\n# TYPE pilgrimage_request_buffers_kept_bytes gauge\npilgrimage_request_buffers_kept_bytes {}",
            buffers.kept_bytes()
        );
        let _ = writeln!(
            out,
            "# HELP pilgrimage_fetch_read_ahead_bytes Memory held by read-ahead buffers (fetch.read.ahead.memory.bytes).\n# TYPE pilgrimage_fetch_read_ahead_bytes gauge\npilgrimage_fetch_read_ahead_bytes {}",
            pilgrimage_storage::prefetch::memory_used()
        );
        let _ = writeln!(
            out,
            "# HELP pilgrimage_direct_io_buffers_kept_bytes Unused aligned buffers kept for direct appends and read-ahead.\n# TYPE pilgrimage_direct_io_buffers_kept_bytes gauge\npilgrimage_direct_io_buffers_kept_bytes {}",
            pilgrimage_storage::aligned::kept_bytes()
        );
        let _ = writeln!(
            out,
            "# HELP pilgrimage_segment_files_open Segment files open now.\n# TYPE pilgrimage_segment_files_open gauge\npilgrimage_segment_files_open {}\n# HELP pilgrimage_segment_files_open_max Budget of open segment files (log.segment.files.open.max).\n# TYPE pilgrimage_segment_files_open_max gauge\npilgrimage_segment_files_open_max {}",
            pilgrimage_storage::files::open_count(),
            pilgrimage_storage::files::limit()
        );
        out
    }
}
