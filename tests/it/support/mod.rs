//! What the test modules share, compiled once for the whole `it` test binary: the isolated
//! `digestpin` command ([`cli`]), the Tag History API emulator ([`emulator`]), the harness
//! around Debian's real `docker-registry` ([`registry`]), and the rule for tests whose tool is
//! missing ([`skip`]), and file trees ([`tree`]).

pub mod cli;
pub mod emulator;
pub mod registry;
pub mod skip;
pub mod tree;
