//! The Twilio webhook's form parser and signature check, on any body and signature header.
#![no_main]

use casebridge::assistant::Concierge;
use casebridge::config::BaseUrl;
use casebridge::domain::DefaultCountry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (sig, body) = data.split_at(data.len().min(28));
    let deps = sms_inbound::Deps {
        concierge: Concierge::embedded_default(),
        auth_token: "fuzz-token".to_owned().into(),
        public_base_url: BaseUrl::parse("PUBLIC_BASE_URL", "https://api.example.com").ok(),
        default_country: DefaultCountry::US,
        idle_timeout: jiff::SignedDuration::from_hours(3),
    };
    let Ok(req) = http::Request::builder()
        .method("POST")
        .uri("https://api.example.com/sms/inbound")
        .header("x-twilio-signature", String::from_utf8_lossy(sig).replace(['\r', '\n'], ""))
        .body(lambda_http::Body::Binary(body.to_vec()))
    else {
        return;
    };
    let _ = sms_inbound::webhook::authenticate(&req, &deps, "/sms/inbound");
});
