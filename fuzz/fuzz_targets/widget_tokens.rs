//! The widget session token, the site's identity JWT, an issued visitor id and its proof, and a
//! visitor's message text, on any string.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let token = String::from_utf8_lossy(data);
    let now = jiff::Timestamp::from_second(1_768_400_000).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let secret = b"fuzz-widget-secret-0123456789abcdef";
    let _ = casebridge::widget::auth::verify_session_token(secret, &token, now);
    let policy = casebridge::widget::auth::IdentityPolicy::default();
    let _ = casebridge::widget::auth::verify_identity(b"fuzz-identity-secret", &token, &policy, now);
    // "id.proof": the id must be one the server issues, and the proof its HMAC.
    let (id, proof) = token.split_once('.').unwrap_or((&token, ""));
    if let Ok(visitor) = casebridge::domain::VisitorId::parse_issued(id) {
        let _ = casebridge::widget::auth::verify_visitor_proof(secret, &visitor, proof);
    }
    let _ = casebridge::domain::MessageText::parse(&token);
});
