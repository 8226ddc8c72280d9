//! `scan` never panics, and every reference it reports is consistent with the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let scan = digestpin::dockerfile::scan(data);
    common::check_scan(data, &scan);
});
