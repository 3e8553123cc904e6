//! The Twilio webhook's form parser and signature check, on any body and signature header.
#![no_main]

use std::collections::HashMap;
use std::sync::LazyLock;

use casebridge::config::Config;
use libfuzzer_sys::fuzz_target;

/// The SMS function as deployed with these Twilio settings, built once.
static DEPS: LazyLock<sms_inbound::Deps> = LazyLock::new(|| {
    let settings = HashMap::from([
        ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
        ("TWILIO_AUTH_TOKEN", "fuzz-token"),
        ("TWILIO_FROM", "+15557654321"),
        ("PUBLIC_BASE_URL", "https://api.example.com"),
    ]);
    let config = Config::from_source(&settings).expect("fixed settings");
    sms_inbound::Deps::from_config(&config).expect("fixed settings")
});

fuzz_target!(|data: &[u8]| {
    let (sig, body) = data.split_at(data.len().min(28));
    let deps = &*DEPS;
    let Ok(req) = http::Request::builder()
        .method("POST")
        .uri("https://api.example.com/sms/inbound")
        .header("x-twilio-signature", String::from_utf8_lossy(sig).replace(['\r', '\n'], ""))
        .body(lambda_http::Body::Binary(body.to_vec()))
    else {
        return;
    };
    let _ = sms_inbound::webhook::authenticate(&req, deps, "/sms/inbound");
});
