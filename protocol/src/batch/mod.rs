//! Record batch v2: a zero-copy header view, record parsing, validation and a builder.

pub mod builder;
pub mod control;
pub mod records;
pub mod validate;
pub mod view;

pub use builder::{BatchBuilder, NewRecord};
pub use records::{Record, RecordIter};
pub use validate::{ValidationOptions, validate_batch, validate_produce};
pub use view::{BatchHeader, BatchView, Batches};

#[cfg(test)]
mod tests;
