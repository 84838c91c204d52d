//! Coordinators: state machines for groups and transactions kept in internal topics.

pub mod group;
pub mod txn;
