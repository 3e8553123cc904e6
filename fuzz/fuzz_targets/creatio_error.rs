//! Creatio's error answers (JSON of several shapes, HTML login pages, anything), on any body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let status = data.first().map(|b| 400 + u16::from(*b)).unwrap_or(500);
    let _ = casebridge::creatio::error::error_message(status, &String::from_utf8_lossy(data));
});
