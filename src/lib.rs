//! mvtopo: declarative macvlan topologies for Linux.
//!
//! The pipeline is `load → resolve → graph → diff → plan → execute → verify`. Every stage but
//! the kernel backend (`kernel`) is a pure function over plain values, tested without root.

pub mod adopt;
pub mod apply;
pub mod check;
pub mod cli;
pub mod code;
pub mod diff;
#[cfg(any(test, feature = "testing"))]
pub mod fake;
pub mod fmt;
pub mod graph;
pub mod interrupt;
pub mod kernel;
pub mod live;
pub mod load;
pub mod model;
pub mod names;
pub mod object;
pub mod plan;
pub mod render;
pub mod resolve;
pub mod schema;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
