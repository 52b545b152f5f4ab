//! Hands a plan to the engines that run it.

pub mod schema;
