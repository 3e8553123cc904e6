//! The fuzz targets' entry points (`fuzz/fuzz_targets/`), run on the stable toolchain inside the
//! test command: valid inputs, mutated a few thousand times with a fixed seed (bit flips,
//! truncation, inserted bytes, spliced fragments). Each must be answered without a panic, and a
//! mutated signed input must never pass the check its original passed. The coverage-guided runs
//! are `cargo +nightly fuzz run <target>` (docs/testing.md, "Fuzzing").

use casebridge::domain::MessageText;
use casebridge::domain::{SessionId, VisitorId};
use casebridge::sms::signature::sign;
use casebridge::widget::auth::{
    IdentityPolicy, issue_session_token, verify_identity, verify_session_token,
    verify_visitor_proof, visitor_proof,
};

const ROUNDS: usize = 4000;
const FRAGMENTS: &[&[u8]] = &[
    b"%",
    b"%FF",
    b"&",
    b"=",
    b"+",
    b"\0",
    b"\xF0\x9F\x98\x80",
    b"'",
    b" or 1 eq 1",
    b"<script>",
    b"{\"",
    b"\"}",
    b".",
    b"eyJhbGciOiJub25lIn0",
    b"\xFF\xFE",
];

fn mutate(rng: &mut fastrand::Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..rng.usize(1..4) {
        match rng.u8(0..5) {
            0 if !v.is_empty() => {
                let i = rng.usize(0..v.len());
                v[i] ^= 1 << rng.u8(0..8);
            }
            1 if !v.is_empty() => v.truncate(rng.usize(0..v.len())),
            2 => {
                let i = rng.usize(0..=v.len());
                v.insert(i, rng.u8(..));
            }
            3 => {
                let i = rng.usize(0..=v.len());
                let f = FRAGMENTS[rng.usize(0..FRAGMENTS.len())];
                v.splice(i..i, f.iter().copied());
            }
            _ => {
                let n = rng.usize(0..64);
                v = (0..n).map(|_| rng.u8(..)).collect();
            }
        }
    }
    v
}

use test_support::now;

#[test]
fn the_twilio_form_and_signature_path_survives_mutation() {
    let deps = sms_inbound::Deps::from_config(&test_support::config(&[
        ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
        ("TWILIO_AUTH_TOKEN", "fuzz-token"),
        ("TWILIO_FROM", "+15557654321"),
        ("PUBLIC_BASE_URL", "https://api.example.com"),
    ]))
    .unwrap();
    let url = "https://api.example.com/sms/inbound";
    let params: Vec<(String, String)> = [
        ("MessageSid", "SM0123"),
        ("From", "+15551230001"),
        ("To", "+15557654321"),
        ("Body", "Where is order #A-1? 😀 & more"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish()
        .into_bytes();
    let signature = sign("fuzz-token", url, &params);
    let request = |body: Vec<u8>| {
        http::Request::builder()
            .method("POST")
            .uri(url)
            .header("x-twilio-signature", signature.as_str())
            .body(lambda_http::Body::Binary(body))
            .unwrap()
    };
    assert!(
        sms_inbound::webhook::authenticate(&request(body.clone()), &deps, "/sms/inbound").is_ok()
    );
    let mut rng = fastrand::Rng::with_seed(0x5eed_0001);
    let mut passed = 0;
    for _ in 0..ROUNDS {
        let m = mutate(&mut rng, &body);
        if sms_inbound::webhook::authenticate(&request(m.clone()), &deps, "/sms/inbound").is_ok() {
            // Only a body that decodes to the same parameters may pass.
            let same: Vec<(String, String)> = form_urlencoded::parse(&m).into_owned().collect();
            let mut a = same.clone();
            let mut b = params.clone();
            a.sort();
            b.sort();
            assert_eq!(a, b, "a changed form passed the signature check");
            passed += 1;
        }
    }
    eprintln!("{ROUNDS} mutated Twilio forms; {passed} equivalent ones passed");
}

#[test]
fn widget_tokens_and_identity_jwts_survive_mutation() {
    let secret = b"fuzz-widget-secret-0123456789abcdef";
    let id = SessionId::new_random();
    let visitor = VisitorId::new_random();
    let token = issue_session_token(secret, id, &visitor, now());
    assert!(verify_session_token(secret, &token, now()).is_ok());
    let mut rng = fastrand::Rng::with_seed(0x5eed_0002);
    for _ in 0..ROUNDS {
        let m = String::from_utf8_lossy(&mutate(&mut rng, token.as_bytes())).into_owned();
        if m != token
            && let Ok((sid, _)) = verify_session_token(secret, &m, now())
        {
            // Base64 padding bits can make two spellings decode alike; the claims cannot change.
            assert_eq!(sid, id, "a forged token named another session: {m}");
        }
        // The same strings as identity JWTs: never valid without the identity key.
        assert!(
            verify_identity(
                b"fuzz-identity-secret",
                &m,
                &IdentityPolicy::default(),
                now()
            )
            .is_err()
        );
    }
}

#[test]
fn visitor_ids_proofs_and_message_texts_survive_mutation() {
    let secret = b"fuzz-widget-secret-0123456789abcdef";
    let visitor = VisitorId::new_random();
    let proof = visitor_proof(secret, &visitor);
    let seed = format!("{}.{proof}", visitor.as_str());
    let mut rng = fastrand::Rng::with_seed(0x5eed_0005);
    for _ in 0..ROUNDS {
        let m = String::from_utf8_lossy(&mutate(&mut rng, seed.as_bytes())).into_owned();
        let (id, p) = m.split_once('.').unwrap_or((&m, ""));
        if let Ok(v) = VisitorId::parse_issued(id)
            && verify_visitor_proof(secret, &v, p)
        {
            assert_eq!(v, visitor, "a mutated id passed with a proof: {m}");
            assert_eq!(p, proof, "a mutated proof passed: {m}");
        }
        if let Ok(text) = MessageText::parse(&m) {
            // What is stored has no control or format characters left but line breaks and tabs.
            assert!(
                !text
                    .as_str()
                    .chars()
                    .any(|c| c.is_control() && !"\n\r\t".contains(c)),
                "a control character survived: {m:?}"
            );
        }
    }
}

#[test]
fn the_creatio_webhook_body_survives_mutation() {
    let seeds: &[&[u8]] = &[
        br#"{"event_type":"new_activity","caseId":"{0A1B2C3D-0000-4000-8000-000000000001}","activityId":"0a1b2c3d-0000-4000-8000-000000000002"}"#,
        br#"{"EventType":"case_updated","CASE_ID":"0a1b2c3d-0000-4000-8000-000000000001"}"#,
    ];
    let mut rng = fastrand::Rng::with_seed(0x5eed_0003);
    for _ in 0..ROUNDS {
        let seed = seeds[rng.usize(0..seeds.len())];
        let m = mutate(&mut rng, seed);
        let _ = creatio_reply::webhook::Call::parse(&lambda_http::Body::Binary(m));
    }
    for seed in seeds {
        assert!(
            creatio_reply::webhook::Call::parse(&lambda_http::Body::Binary(seed.to_vec())).is_ok()
        );
    }
}

#[test]
fn creatio_error_bodies_survive_mutation() {
    let seeds: &[&[u8]] = &[
        br#"{"error":{"code":"","message":"Column 'Foo' not found"}}"#,
        br#"{"odata.error":{"code":"","message":{"lang":"en-US","value":"Bad filter"}}}"#,
        br#"{"Message":"Invalid object reference","ExceptionType":"System.Exception"}"#,
        b"<html><body>Login</body></html>",
    ];
    let long = format!(r#"{{"error":{{"message":"{}"}}}}"#, "x".repeat(5000));
    assert_eq!(
        casebridge::creatio::error::error_message(500, &long)
            .chars()
            .count(),
        500
    );
    let mut rng = fastrand::Rng::with_seed(0x5eed_0004);
    for _ in 0..ROUNDS {
        let seed = seeds[rng.usize(0..seeds.len())];
        let m = mutate(&mut rng, seed);
        let message = casebridge::creatio::error::error_message(
            400 + u16::from(rng.u8(..)),
            &String::from_utf8_lossy(&m),
        );
        assert!(
            message.chars().count() <= 500,
            "error messages stay bounded: {message}"
        );
    }
}
