//! `scan` never panics, every reference it reports is consistent with the input, and reading
//! the input a few bytes at a time finds exactly the same.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let scan = digestpin::dockerfile::scan(data);
    common::check_scan(data, &scan);
    let chunk = data.first().map_or(1, |b| usize::from(b % 16) + 1);
    let chunked = digestpin::dockerfile::scan_in_chunks(data, chunk);
    assert_eq!(scan.error, chunked.error, "chunk {chunk}");
    assert_eq!(scan.refs, chunked.refs, "chunk {chunk}");
});
