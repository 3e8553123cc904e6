//! Bad input at every public route of the local stack (the same handlers the Lambda binaries
//! run): each request gets its 4xx with a JSON (or TwiML-free) answer, and nothing is stored.
//! Text that is valid but hostile (HTML, script, quotes, OData operators, emoji) is stored as
//! text and comes back escaped or as plain JSON strings.

use std::sync::Arc;

use casebridge::config::Config;
use casebridge::sms::signature::sign;
use casebridge::store::Store;
use casebridge::store::memory::MemoryStore;
use casebridge_local::App;
use creatio_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

const TOKEN: &str = "abuse-twilio-token";
const WEBHOOK: &str = "abuse-webhook-token";
const WIDGET_SECRET: &str = "abuse-widget-secret-0123456789abcdef";
const SITE: &str = "https://shop.example.com";

struct Stack {
    base: String,
    store: Arc<MemoryStore>,
    http: reqwest::Client,
    _sandbox: Sandbox,
}

async fn stack() -> Stack {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut env = test_support::stack_env(&base, &sandbox.url);
    env.extend([
        ("CREATIO_WEBHOOK_TOKEN", WEBHOOK),
        ("WIDGET_SECRET", WIDGET_SECRET),
        ("WIDGET_IDENTITY_SECRET", "abuse-identity-secret-0123456789"),
        ("WIDGET_ALLOWED_ORIGINS", SITE),
        ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
        ("TWILIO_AUTH_TOKEN", TOKEN),
        ("TWILIO_FROM", "+15557654321"),
        ("TWILIO_API_URL", "http://127.0.0.1:9"),
    ]);
    let store = Arc::new(MemoryStore::new());
    let app = Arc::new(App::new(store.clone(), Config::from_source(&env).unwrap()));
    tokio::spawn(async move { casebridge_local::serve(listener, app).await });
    Stack {
        base,
        store,
        http: casebridge::http::client(std::time::Duration::from_secs(10)).unwrap(),
        _sandbox: sandbox,
    }
}

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

impl Stack {
    async fn sms(&self, body: Vec<u8>, signature: Option<String>) -> (u16, String) {
        let mut r = self
            .http
            .post(format!("{}/sms/inbound", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(s) = signature {
            r = r.header("x-twilio-signature", s);
        }
        let r = r.send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn signed_sms(&self, p: &[(String, String)]) -> (u16, String) {
        let url = format!("{}/sms/inbound", self.base);
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(p)
            .finish();
        self.sms(body.into_bytes(), Some(sign(TOKEN, &url, p)))
            .await
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, Value) {
        let mut r = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .body(body);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn start_widget(&self) -> (String, String) {
        let (s, b) = self
            .send(
                "POST",
                "/widget/sessions",
                &[("origin", SITE), ("content-type", "application/json")],
                b"{}".to_vec(),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        (
            b["session_id"].as_str().unwrap().to_owned(),
            b["token"].as_str().unwrap().to_owned(),
        )
    }

    fn stored_messages(&self) -> usize {
        self.store
            .all_sessions()
            .iter()
            .map(|s| s.last_seq as usize)
            .sum()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sms_webhooks_are_refused_and_store_nothing() {
    let st = stack().await;
    let url = format!("{}/sms/inbound", st.base);
    let good = params(&[
        ("MessageSid", "SMa1"),
        ("From", "+15551230001"),
        ("To", "+15557654321"),
        ("Body", "hi"),
    ]);
    let body = |p: &[(String, String)]| {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(p)
            .finish()
            .into_bytes()
    };
    let cases: Vec<(&str, Vec<u8>, Option<String>, u16)> = vec![
        ("no signature", body(&good), None, 403),
        (
            "a wrong signature",
            body(&good),
            Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()),
            403,
        ),
        (
            "signed for another URL",
            body(&good),
            Some(sign(TOKEN, "https://evil.example.com/sms/inbound", &good)),
            403,
        ),
        (
            "signed with another token",
            body(&good),
            Some(sign("another-token", &url, &good)),
            403,
        ),
        (
            "a body changed after signing",
            body(&params(&[
                ("MessageSid", "SMa1"),
                ("From", "+15551230001"),
                ("To", "+15557654321"),
                ("Body", "hi!"),
            ])),
            Some(sign(TOKEN, &url, &good)),
            403,
        ),
        (
            "a body over the size limit",
            vec![b'a'; 2 * 1024 * 1024],
            Some(sign(TOKEN, &url, &[])),
            413,
        ),
    ];
    for (what, b, sig, want) in cases {
        let (status, text) = st.sms(b, sig).await;
        assert_eq!(status, want, "{what}: {text}");
        assert!(
            !text.contains("<Message>"),
            "{what}: no reply to a refused webhook"
        );
    }
    // Signed, but not a message casebridge can take.
    for (what, p, want) in [
        (
            "no From",
            params(&[
                ("MessageSid", "SMa2"),
                ("To", "+15557654321"),
                ("Body", "hi"),
            ]),
            400,
        ),
        (
            "no MessageSid",
            params(&[
                ("From", "+15551230001"),
                ("To", "+15557654321"),
                ("Body", "hi"),
            ]),
            400,
        ),
        (
            "From that is not a number",
            params(&[
                ("MessageSid", "SMa3"),
                ("From", "not a number"),
                ("To", "+15557654321"),
                ("Body", "hi"),
            ]),
            400,
        ),
        (
            "OData in From",
            params(&[
                ("MessageSid", "SMa4"),
                ("From", "+1555' or 1 eq 1 or '"),
                ("To", "+15557654321"),
                ("Body", "hi"),
            ]),
            400,
        ),
        (
            "a number too short",
            params(&[
                ("MessageSid", "SMa5"),
                ("From", "+1 555"),
                ("To", "+15557654321"),
                ("Body", "hi"),
            ]),
            400,
        ),
    ] {
        let (status, text) = st.signed_sms(&p).await;
        assert_eq!(status, want, "{what}: {text}");
    }
    // Malformed form encoding, correctly signed over what it decodes to.
    let raw = b"MessageSid=SMa6&From=%2B15551230001&Body=%E0%A4%A&To".to_vec();
    let decoded: Vec<(String, String)> = form_urlencoded::parse(&raw).into_owned().collect();
    let (status, _) = st.sms(raw, Some(sign(TOKEN, &url, &decoded))).await;
    assert!((400..500).contains(&status), "malformed form: {status}");
    assert_eq!(st.stored_messages(), 0, "nothing stored");
    assert!(st.store.all_sessions().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_sms_text_is_stored_as_text_and_escaped_in_twiml() {
    let st = stack().await;
    let text = "<Say>hi</Say> & <script>alert('x')</script> 😀 ' or 1 eq 1";
    let p = params(&[
        ("MessageSid", "SMh1"),
        ("From", "+15551230001"),
        ("To", "+15557654321"),
        ("Body", text),
    ]);
    let (status, twiml) = st.signed_sms(&p).await;
    assert_eq!(status, 200);
    assert!(
        !twiml.contains("<Say>") && !twiml.contains("<script>"),
        "{twiml}"
    );
    let sessions = st.store.all_sessions();
    let (_, transcript) = st.store.transcript(sessions[0].id).await.unwrap().unwrap();
    assert_eq!(transcript[0].text.as_str(), text);
}

/// What, method, path, headers, body, the status wanted.
type WidgetCase<'a> = (
    &'a str,
    &'a str,
    String,
    Vec<(&'a str, String)>,
    Vec<u8>,
    u16,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_widget_calls_are_refused_and_store_nothing() {
    let st = stack().await;
    let (id, token) = st.start_widget().await;
    let (_, other_token) = st.start_widget().await;
    let before = st.stored_messages();
    let path = format!("/widget/sessions/{id}/messages");
    let auth = format!("Bearer {token}");
    let json_h = [
        ("origin", SITE),
        ("content-type", "application/json"),
        ("authorization", auth.as_str()),
    ];
    let forged = format!("Bearer {}x", &token[..token.len() - 1]);
    let none_jwt = format!(
        "{}.{}.",
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0",
        "eyJlbWFpbCI6ImFAZXhhbXBsZS5jb20iLCJleHAiOjQxMDI0NDQ4MDB9"
    );
    let cases: Vec<WidgetCase> = vec![
        (
            "forged token",
            "POST",
            path.clone(),
            vec![("origin", SITE.into()), ("authorization", forged)],
            br#"{"text":"hi"}"#.to_vec(),
            401,
        ),
        (
            "no token",
            "POST",
            path.clone(),
            vec![("origin", SITE.into())],
            br#"{"text":"hi"}"#.to_vec(),
            401,
        ),
        (
            "another session's token",
            "POST",
            path.clone(),
            vec![
                ("origin", SITE.into()),
                ("authorization", format!("Bearer {other_token}")),
            ],
            br#"{"text":"hi"}"#.to_vec(),
            403,
        ),
        (
            "an alg:none identity",
            "POST",
            "/widget/sessions".into(),
            vec![("origin", SITE.into())],
            json!({"identity": none_jwt}).to_string().into_bytes(),
            401,
        ),
        (
            "malformed JSON",
            "POST",
            path.clone(),
            json_h.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            b"{\"text\": ".to_vec(),
            400,
        ),
        (
            "text over the limit",
            "POST",
            path.clone(),
            json_h.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            json!({"text": "a".repeat(8001)}).to_string().into_bytes(),
            400,
        ),
        (
            "a body over 64 KB",
            "POST",
            path.clone(),
            json_h.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            json!({"text": "a".repeat(70_000)}).to_string().into_bytes(),
            413,
        ),
        (
            "an origin not on the list",
            "POST",
            path.clone(),
            vec![
                ("origin", "https://evil.example.com".into()),
                ("authorization", auth.clone()),
            ],
            br#"{"text":"hi"}"#.to_vec(),
            403,
        ),
        (
            "an unknown session id",
            "POST",
            format!(
                "/widget/sessions/{}/messages",
                casebridge::domain::SessionId::new_random()
            ),
            json_h.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            br#"{"text":"hi"}"#.to_vec(),
            403,
        ),
        (
            "not a session id",
            "POST",
            "/widget/sessions/%27%20or%201%20eq%201/messages".into(),
            json_h.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            br#"{"text":"hi"}"#.to_vec(),
            404,
        ),
        (
            "after that is not a number",
            "GET",
            format!("{path}?after=1;drop"),
            json_h.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            Vec::new(),
            400,
        ),
    ];
    for (what, method, p, headers, body, want) in cases {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, b) = st.send(method, &p, &h, body).await;
        assert_eq!(status, want, "{what}: {b}");
        assert!(b["error"].is_string(), "{what}: a JSON error message: {b}");
    }
    assert_eq!(st.stored_messages(), before, "nothing stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_widget_text_comes_back_as_a_json_string() {
    let st = stack().await;
    let (id, token) = st.start_widget().await;
    let text = "<img src=x onerror=alert(1)> \u{202e}'; DROP TABLE x; -- 👩‍👩‍👧 $filter=Name eq 'a'";
    let (status, b) = st
        .send(
            "POST",
            &format!("/widget/sessions/{id}/messages"),
            &[
                ("origin", SITE),
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {token}")),
            ],
            json!({"text": text}).to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, 200, "{b}");
    // The right-to-left override (a format character) is stripped; the emoji's zero-width
    // joiners, also format characters, are kept: they are part of the emoji.
    assert_eq!(b["messages"][0]["text"], text.replace('\u{202e}', ""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_creatio_webhooks_are_refused() {
    let st = stack().await;
    let case = uuid::Uuid::new_v4().to_string();
    let good = json!({"event_type": "case_updated", "caseId": case})
        .to_string()
        .into_bytes();
    let bearer = format!("Bearer {WEBHOOK}");
    for (what, path, auth, body, want) in [
        (
            "no token",
            "/creatio/reply".to_owned(),
            None,
            good.clone(),
            401,
        ),
        (
            "a wrong token",
            "/creatio/reply".to_owned(),
            Some("Bearer nope".to_owned()),
            good.clone(),
            401,
        ),
        (
            "a wrong path token",
            "/creatio/reply/nope".to_owned(),
            None,
            good.clone(),
            401,
        ),
        (
            "malformed JSON",
            "/creatio/reply".to_owned(),
            Some(bearer.clone()),
            b"{\"caseId\":".to_vec(),
            400,
        ),
        (
            "a case id that is not a GUID",
            "/creatio/reply".to_owned(),
            Some(bearer.clone()),
            json!({"event_type": "case_updated", "caseId": "' or 1 eq 1"})
                .to_string()
                .into_bytes(),
            400,
        ),
        (
            "an unknown event",
            "/creatio/reply".to_owned(),
            Some(bearer.clone()),
            json!({"event_type": "drop", "caseId": case})
                .to_string()
                .into_bytes(),
            400,
        ),
        (
            "a body over 16 KB",
            "/creatio/reply".to_owned(),
            Some(bearer.clone()),
            vec![b' '; 20_000],
            400,
        ),
    ] {
        let mut h = vec![("content-type", "application/json")];
        if let Some(a) = &auth {
            h.push(("authorization", a.as_str()));
        }
        let (status, b) = st.send("POST", &path, &h, body).await;
        assert_eq!(status, want, "{what}: {b}");
        assert!(b["error"].is_string(), "{what}: {b}");
    }
    // A case casebridge does not know (Creatio's process fires for every case, e-mail cases
    // included) is acknowledged and ignored, not refused: a 4xx would mark the process failed.
    let (status, b) = st
        .send(
            "POST",
            "/creatio/reply",
            &[
                ("content-type", "application/json"),
                ("authorization", &bearer),
            ],
            good,
        )
        .await;
    assert_eq!(
        (status, b["status"].as_str()),
        (200, Some("ignored: no conversation for this case"))
    );
    assert!(st.store.all_sessions().is_empty());
}
