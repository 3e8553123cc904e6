//! The Creatio business process's webhook body, on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = creatio_reply::webhook::Call::parse(&lambda_http::Body::Binary(data.to_vec()));
});
