//! tigris: a long-running RSS/Atom aggregation daemon. It polls news feeds on cron schedules,
//! deduplicates their items, classifies each for US–Iraq relations and stores everything in a
//! documented SQLite schema.
//!
//! The stages, in the order data flows through them:
//! [`config`] → [`schedule`] → [`fetch`] → [`parse`] → [`dedup`] → [`classify`] → [`store`].
//! [`pipeline`] is the one place that orders them; [`model`] holds the types that cross them;
//! [`cli`] is the command line.

pub mod classify;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod dedup;
pub mod fetch;
pub mod metrics;
pub mod model;
pub mod opml;
pub mod output;
pub mod parse;
pub mod pipeline;
pub mod render;
pub mod schedule;
pub mod serve;
pub mod service;
pub mod store;
