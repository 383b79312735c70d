//! HTTP contract tests (docs/architecture.md §3) against a real service and a real
//! PostgreSQL. One binary, one module per feature.

#[path = "../support/mod.rs"]
mod support;

mod account;
mod bad_input;
mod db_tls;
mod failover;
mod flow;
mod headers;
mod operations;
mod security;
mod shedding;
mod throttling;
mod two_apps;
