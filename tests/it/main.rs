//! digestpin's integration tests: one test binary (`it`), so the support code (the emulator,
//! the registry harness, the isolated CLI helper) compiles once and only one executable links.
//!
//! Each module below was a test crate of its own (`tests/NAME.rs`); a test's name is now its
//! old name behind the module's: `pin::pins_…`. Run one module, or one test:
//!
//! ```text
//! cargo test --test it pin::
//! cargo test --test it emulator_selftest::token_
//! ```
//!
//! Adding a test file: put it here as `tests/it/NAME.rs`, add `mod NAME;` below (keep the list
//! sorted), and reach the support code through `crate::support` instead of `#[path]`:
//!
//! ```text
//! #[path = "support/emulator.rs"] mod emulator;   // before, in tests/NAME.rs
//! use crate::support::emulator;                    // after, in tests/it/NAME.rs
//! ```
//!
//! A stand-alone `tests/NAME.rs` still works but compiles and links its own copy of everything it
//! includes; fold it in with `git mv tests/NAME.rs tests/it/` and the two edits above.

mod support;

mod cli;
mod config;
mod conformance;
mod differential;
mod emulator_selftest;
mod fs_safety;
mod hostile;
mod integrations;
mod kinds;
mod named_files;
mod pin;
mod properties;
mod readme;
mod registry_pin;
mod registry_selftest;
mod reports;
mod resolution;
mod retry;
mod tags;
mod yaml_kinds;
mod yaml_properties;
mod yaml_real_files;
