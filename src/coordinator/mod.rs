//! Coordinators: state machines for groups (and, later, transactions) kept in internal topics.

pub mod group;
