//! The widget session token and the site's identity JWT, on any string.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let token = String::from_utf8_lossy(data);
    let now = jiff::Timestamp::from_second(1_768_400_000).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let _ = casebridge::widget_auth::verify_session_token(b"fuzz-widget-secret-0123456789abcdef", &token, now);
    let _ = casebridge::widget_auth::verify_identity(b"fuzz-identity-secret", &token, now);
});
