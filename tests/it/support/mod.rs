//! What the test modules share, compiled once for the whole `it` test binary: the isolated
//! `digestpin` command ([`cli`]), the Tag History API emulator ([`emulator`]) and the harness
//! around Debian's real `docker-registry` ([`registry`]).

pub mod cli;
pub mod emulator;
pub mod registry;
