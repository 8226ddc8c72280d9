//! Docker `config.json` and credential-helper output on any bytes: never panics, and a config
//! that is refused never quotes a secret planted in it. The input is split at its first 0xFF
//! byte and the secret placed between the halves (as a JSON string), so the fuzzer explores
//! every position and shape around it: a value of the wrong type, a bad `auth`, cut-off JSON.
#![no_main]

use digestpin::registry::credentials::{fuzz_config, fuzz_helper_reply};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "Zq9SECRETzq9";

fuzz_target!(|input: &[u8]| {
    let (before, after) = match input.iter().position(|b| *b == 0xFF) {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => (input, &b""[..]),
    };
    let mut config = before.to_vec();
    config.extend_from_slice(format!("\"{SECRET}\"").as_bytes());
    config.extend_from_slice(after);
    if let Err(message) = fuzz_config(&config) {
        assert!(!message.contains(SECRET), "{message}");
        assert!(!message.contains("SECRET"), "{message}");
    }
    let _ = fuzz_config(input);
    if let Some(credential) = fuzz_helper_reply(input) {
        let shown = format!("{credential:?}");
        assert!(shown.contains("redacted"), "{shown}");
    }
});
