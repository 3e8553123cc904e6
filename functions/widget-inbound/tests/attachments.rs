//! Visitor attachments, end to end against S3 as moto serves it: the presigned `PUT` the widget
//! is given is used for real (reqwest), the object is checked again with `HEAD`, and the signed
//! link in the transcript redirects to a presigned `GET` that returns the bytes as a download.
//!
//! Needs `AWS_ENDPOINT_URL_DYNAMODB` (moto serves S3 on the same port; `scripts/test` starts it).
//! Without it the S3 tests are skipped with a note, unless `CASEBRIDGE_REQUIRE_MOTO` is set.

mod helpers;

use std::sync::Arc;

use casebridge::config::{AttachmentPolicy, BaseUrl};
use casebridge::domain::*;
use casebridge::s3::S3;
use casebridge::store::Store;
use casebridge::store::memory::MemoryStore;
use helpers::{SECRET, now, req};
use lambda_http::Body;
use serde_json::{Value, json};
use widget_inbound::attachment_store::{AttachmentStore, MemoryAttachments, S3Attachments};
use widget_inbound::{Deps, handle};

const PDF: &[u8] = b"%PDF-1.4\n% a small test document\n%%EOF\n";
/// Another PDF of the same size: what a second `PUT` to the same presigned URL could carry.
const OTHER_PDF: &[u8] = b"%PDF-1.4\n% a replaced document!!\n%%EOF\n";
/// The start of a Windows executable (the "MZ" header).
const EXE: &[u8] = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00 not a pdf at all";

fn policy(max_bytes: u64) -> AttachmentPolicy {
    AttachmentPolicy {
        max_bytes,
        ..AttachmentPolicy::with_defaults(Some("casebridge-test".into()))
    }
}

fn deps(files: Option<Arc<dyn AttachmentStore>>, max_bytes: u64) -> Deps {
    let mut deps = helpers::deps();
    deps.widget.attachments = policy(max_bytes);
    deps.attachments = files;
    deps.public_base_url =
        Some(BaseUrl::parse("PUBLIC_BASE_URL", "https://api.example.com").unwrap());
    deps
}

/// S3 on moto with a fresh bucket, or `None` (skipped) when moto is not running.
async fn s3() -> Option<(Arc<S3Attachments>, S3, String)> {
    let endpoint = test_support::moto::endpoint()?;
    let client = S3::local(&endpoint).unwrap();
    let bucket = format!("attachments-{}", uuid::Uuid::new_v4().simple());
    client.create_bucket(&bucket).await.unwrap();
    Some((
        Arc::new(S3Attachments::new(client.clone(), bucket.clone())),
        client,
        bucket,
    ))
}

async fn call(
    store: &MemoryStore,
    deps: &Deps,
    r: lambda_http::Request,
) -> (u16, Value, http::HeaderMap) {
    let (status, body, resp) = helpers::call_with(store, deps, r).await;
    (status, body, resp.headers().clone())
}

struct Visitor {
    session: String,
    token: String,
}

impl Visitor {
    fn path(&self, tail: &str) -> String {
        format!("/widget/sessions/{}/{tail}", self.session)
    }
}

async fn start(store: &MemoryStore, deps: &Deps) -> (Visitor, Value) {
    let (status, b, _) = call(
        store,
        deps,
        req("POST", "/widget/sessions", None, Some(json!({}))),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    (
        Visitor {
            session: b["session_id"].as_str().unwrap().to_owned(),
            token: b["token"].as_str().unwrap().to_owned(),
        },
        b,
    )
}

async fn declare(store: &MemoryStore, deps: &Deps, v: &Visitor, body: Value) -> (u16, Value) {
    let (s, b, _) = call(
        store,
        deps,
        req("POST", &v.path("attachments"), Some(&v.token), Some(body)),
    )
    .await;
    (s, b)
}

/// The browser's part: `PUT` the bytes to the presigned URL with the headers it was given.
async fn upload(ticket: &Value, bytes: &[u8]) -> u16 {
    let http = casebridge::http::client(std::time::Duration::from_secs(10)).unwrap();
    let mut put = http
        .put(ticket["upload"]["url"].as_str().unwrap())
        .body(bytes.to_vec());
    for (k, v) in ticket["upload"]["headers"].as_object().unwrap() {
        put = put.header(k, v.as_str().unwrap());
    }
    put.send().await.unwrap().status().as_u16()
}

async fn stored(store: &MemoryStore, v: &Visitor) -> Vec<Message> {
    store
        .messages_after(SessionId::parse(&v.session).unwrap(), 0, 100)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_visitor_attaches_a_pdf_and_the_case_link_downloads_it() {
    let Some((files, client, bucket)) = s3().await else {
        return;
    };
    // GIVEN attachments on S3 and a visitor in a chat
    let deps = deps(Some(files), 1024 * 1024);
    let store = MemoryStore::new();
    let (v, started) = start(&store, &deps).await;
    assert_eq!(started["attachments"]["max_bytes"], 1024 * 1024);
    // WHEN they declare, upload and send a PDF
    let (status, ticket) = declare(
        &store,
        &deps,
        &v,
        json!({"name": "C:\\scans\\reçu 7.pdf", "content_type": "application/pdf", "size": PDF.len()}),
    )
    .await;
    assert_eq!(status, 200, "{ticket}");
    assert_eq!(ticket["upload"]["method"], "PUT");
    assert_eq!(
        ticket["upload"]["headers"]["content-type"],
        "application/pdf"
    );
    assert_eq!(upload(&ticket, PDF).await, 200);
    let id = ticket["attachment_id"].as_str().unwrap();
    let send = json!({"attachment_id": id});
    let (status, b, _) = call(
        &store,
        &deps,
        req(
            "POST",
            &v.path("messages"),
            Some(&v.token),
            Some(send.clone()),
        ),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    // THEN the message names the file and carries a signed link, and a retry stores nothing new
    let first = &b["messages"][0];
    assert_eq!(first["role"], "customer");
    assert_eq!(
        first["text"],
        format!("Sent a file: reçu 7.pdf ({} bytes)", PDF.len())
    );
    let link = first["attachments"][0]["url"].as_str().unwrap().to_owned();
    assert!(
        link.starts_with(&format!(
            "https://api.example.com/attachments/{}/{id}?sig=",
            v.session
        )),
        "{link}"
    );
    assert_eq!(first["attachments"][0]["content_type"], "application/pdf");
    let before = stored(&store, &v).await.len();
    let (status, _, _) = call(
        &store,
        &deps,
        req("POST", &v.path("messages"), Some(&v.token), Some(send)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(stored(&store, &v).await.len(), before);
    let kept = stored(&store, &v).await;
    assert_eq!(kept[0].attachments[0].url, link);
    // AND the link redirects to a short-lived URL that serves the bytes as a download
    let path = link.trim_start_matches("https://api.example.com");
    let resp = handle(&store, &deps, req("GET", path, None, None), now()).await;
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.contains(&bucket) && location.contains("X-Amz-Expires=300"),
        "{location}"
    );
    let http = casebridge::http::client(std::time::Duration::from_secs(10)).unwrap();
    let got = http.get(&location).send().await.unwrap();
    assert_eq!(got.status(), 200);
    let disposition = got.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"re_u 7.pdf\""),
        "{disposition}"
    );
    assert_eq!(got.bytes().await.unwrap().as_ref(), PDF);
    // AND the checked file is kept under its own key, and the upload is gone
    let key = format!("attachments/{}/{id}", v.session);
    assert!(client.head(&bucket, &key).await.unwrap().is_some());
    let upload_key = format!("uploads/{}/{id}", v.session);
    let gone = client.head(&bucket, &upload_key).await.unwrap();
    assert!(gone.is_none(), "the upload was left behind");
    // AND the transcript page links it
    let sig = casebridge::widget::links::transcript_signature(
        SECRET.as_bytes(),
        SessionId::parse(&v.session).unwrap(),
    );
    let page = handle(
        &store,
        &deps,
        req(
            "GET",
            &format!("/transcripts/{}?sig={sig}", v.session),
            None,
            None,
        ),
        now(),
    )
    .await;
    let Body::Text(html) = page.body() else {
        panic!("no page")
    };
    assert!(
        html.contains(&format!("href=\"{}\"", link.replace('&', "&amp;"))),
        "{html}"
    );
}

#[tokio::test]
async fn declared_files_outside_the_policy_are_refused_and_nothing_is_stored() {
    let Some((files, ..)) = s3().await else {
        return;
    };
    let deps = deps(Some(files), 1000);
    let store = MemoryStore::new();
    let (v, _) = start(&store, &deps).await;
    let cases = [
        (
            json!({"name": "big.pdf", "content_type": "application/pdf", "size": 1001}),
            413,
            "limit is 1000 bytes",
        ),
        (
            json!({"name": "x.html", "content_type": "text/html", "size": 10}),
            400,
            "\"text/html\" are not accepted",
        ),
        (
            json!({"name": "x.svg", "content_type": "image/svg+xml", "size": 10}),
            400,
            "not accepted",
        ),
        (
            json!({"name": "empty.txt", "content_type": "text/plain", "size": 0}),
            400,
            "empty",
        ),
        (
            json!({"name": "x.pdf", "size": 10}),
            400,
            "content_type is missing",
        ),
        (
            json!({"name": "x.pdf", "content_type": "application/pdf"}),
            400,
            "size is missing",
        ),
        (
            json!({"name": "x.pdf", "content_type": "application/pdf", "size": -1}),
            400,
            "invalid JSON",
        ),
        (
            json!({"name": "x.pdf", "content_type": "application/pdf", "size": 5, "acl": "public-read"}),
            400,
            "unknown field",
        ),
    ];
    for (body, want, says) in cases {
        let (status, b) = declare(&store, &deps, &v, body.clone()).await;
        assert_eq!(status, want, "{body}: {b}");
        assert!(b["error"].as_str().unwrap().contains(says), "{body}: {b}");
    }
    assert!(stored(&store, &v).await.is_empty());
    // A token for another session is refused before anything else.
    let (other, _) = start(&store, &deps).await;
    let (status, _, _) = call(
        &store,
        &deps,
        req(
            "POST",
            &v.path("attachments"),
            Some(&other.token),
            Some(json!({"name": "a.pdf", "content_type": "application/pdf", "size": 5})),
        ),
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn an_upload_that_is_not_what_was_declared_is_deleted_and_refused() {
    let Some((files, client, bucket)) = s3().await else {
        return;
    };
    let deps = deps(Some(files), 1000);
    let store = MemoryStore::new();
    let (v, _) = start(&store, &deps).await;
    // S3 itself refuses a body that does not match the signed length and type; this checks
    // casebridge's own second look, by writing past the ticket straight into the bucket.
    for (content_type, bytes, want) in [
        ("application/pdf", vec![b'x'; 1001], 413),
        ("text/html", b"<script>alert(1)</script>".to_vec(), 400),
        // The declared type, but not its bytes.
        ("application/pdf", EXE.to_vec(), 400),
    ] {
        let (status, ticket) = declare(
            &store,
            &deps,
            &v,
            json!({"name": "a.pdf", "content_type": "application/pdf", "size": 10}),
        )
        .await;
        assert_eq!(status, 200);
        let id = ticket["attachment_id"].as_str().unwrap();
        let key = format!("uploads/{}/{id}", v.session);
        client
            .put(&bucket, &key, content_type, None, bytes.to_vec())
            .await
            .unwrap();
        let (status, b, _) = call(
            &store,
            &deps,
            req(
                "POST",
                &v.path("messages"),
                Some(&v.token),
                Some(json!({"attachment_id": id})),
            ),
        )
        .await;
        assert_eq!(status, want, "{b}");
        let gone = client.head(&bucket, &key).await.unwrap();
        assert!(gone.is_none(), "{content_type} upload was kept");
        let kept = format!("attachments/{}/{id}", v.session);
        let never = client.head(&bucket, &kept).await.unwrap();
        assert!(never.is_none(), "{content_type} was kept for serving");
    }
    // Never uploaded, or not an id at all: refused, nothing stored.
    let (_, ticket) = declare(
        &store,
        &deps,
        &v,
        json!({"name": "a.pdf", "content_type": "application/pdf", "size": 10}),
    )
    .await;
    for (id, says) in [
        (
            ticket["attachment_id"].as_str().unwrap(),
            "has not been uploaded",
        ),
        ("../../other-session/file", "not a valid id"),
    ] {
        let (status, b, _) = call(
            &store,
            &deps,
            req(
                "POST",
                &v.path("messages"),
                Some(&v.token),
                Some(json!({"attachment_id": id})),
            ),
        )
        .await;
        assert_eq!(status, 400, "{b}");
        assert!(b["error"].as_str().unwrap().contains(says), "{b}");
    }
    assert!(stored(&store, &v).await.is_empty());
}

#[tokio::test]
async fn attachment_links_open_only_with_their_own_signature() {
    let files: Arc<dyn AttachmentStore> = Arc::new(MemoryAttachments::new(
        BaseUrl::parse("x", "http://127.0.0.1:3000").unwrap(),
    ));
    let deps = deps(Some(files), 1000);
    let store = MemoryStore::new();
    let a = SessionId::new_random();
    let b = SessionId::new_random();
    let file = uuid::Uuid::new_v4().to_string();
    let good = casebridge::widget::links::attachment_signature(SECRET.as_bytes(), a, &file);
    let transcript_sig = casebridge::widget::links::transcript_signature(SECRET.as_bytes(), a);
    let wrong_key = casebridge::widget::links::attachment_signature(
        b"another-secret-0123456789abcdef!",
        a,
        &file,
    );
    let resp = handle(
        &store,
        &deps,
        req(
            "GET",
            &format!("/attachments/{a}/{file}?sig={good}"),
            None,
            None,
        ),
        now(),
    )
    .await;
    assert_eq!(resp.status(), 302);
    for path in [
        format!("/attachments/{b}/{file}?sig={good}"),
        format!("/attachments/{a}/{file}?sig={transcript_sig}"),
        format!("/attachments/{a}/{file}?sig={wrong_key}"),
        format!("/attachments/{a}/{file}"),
        format!("/attachments/{a}/not-a-uuid?sig={good}"),
    ] {
        let resp = handle(&store, &deps, req("GET", &path, None, None), now()).await;
        assert_eq!(resp.status(), 404, "{path}");
    }
}

#[tokio::test]
async fn without_storage_attachments_are_off_and_the_widget_is_told() {
    let deps = deps(None, 1000);
    let store = MemoryStore::new();
    let (v, started) = start(&store, &deps).await;
    assert_eq!(started["attachments"], Value::Null);
    let (status, b) = declare(
        &store,
        &deps,
        &v,
        json!({"name": "a.pdf", "content_type": "application/pdf", "size": 5}),
    )
    .await;
    assert_eq!(
        (status, b["error"].as_str().unwrap()),
        (404, "attachments are not enabled on this widget")
    );
    let (status, _, _) = call(
        &store,
        &deps,
        req(
            "POST",
            &v.path("messages"),
            Some(&v.token),
            Some(json!({"attachment_id": uuid::Uuid::new_v4().to_string()})),
        ),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_local_store_holds_uploads_to_the_same_rules_as_a_presigned_url() {
    use widget_inbound::attachment_store::{Fetched, LocalRefusal};
    let refused = |status, reason| Err(LocalRefusal { status, reason });
    let files = MemoryAttachments::new(BaseUrl::parse("x", "http://127.0.0.1:3000").unwrap());
    let up = files
        .upload(
            "uploads/s/f",
            "image/png",
            4,
            "attachment; filename=\"a.png\"",
        )
        .await
        .unwrap();
    let ticket = up.url.split("ticket=").nth(1).unwrap().to_owned();
    assert_eq!(
        files.put("uploads/s/f", "forged", "image/png", vec![1; 4]),
        refused(403, "the upload ticket does not match")
    );
    assert_eq!(
        files.put("uploads/s/f", &ticket, "text/html", vec![1; 4]),
        refused(403, "the content type is not the one declared")
    );
    assert_eq!(
        files.put("uploads/s/f", &ticket, "image/png", vec![1; 5]),
        refused(400, "the body is not the declared size")
    );
    assert_eq!(
        files.put("uploads/s/other", &ticket, "image/png", vec![1; 4]),
        refused(403, "no upload is expected for this key")
    );
    assert!(files.head("uploads/s/f").await.unwrap().is_none());
    files
        .put("uploads/s/f", &ticket, "image/png", vec![1; 4])
        .unwrap();
    let head = files.head("uploads/s/f").await.unwrap().unwrap();
    assert_eq!(
        (head.size, head.content_type.as_str(), head.name.as_deref()),
        (4, "image/png", Some("a.png"))
    );
    // As with S3, the same presigned upload can be used again until it expires.
    files
        .put("uploads/s/f", &ticket, "image/png", vec![2; 4])
        .unwrap();
    assert!(matches!(
        files.fetch("uploads/s/f", 3).await.unwrap(),
        Fetched::TooLarge { size: 4 }
    ));
    // A download needs the signed link, unchanged.
    let link = files.download_url("uploads/s/f").await.unwrap();
    let query = link.split_once('?').unwrap().1;
    let field = |k: &str| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    let (expires, sig) = (field("expires"), field("sig"));
    assert_eq!(
        files.get("uploads/s/f", &expires, &sig).unwrap().bytes,
        vec![2; 4]
    );
    let later = (expires.parse::<u64>().unwrap() + 3600).to_string();
    for (what, expires, sig, key) in [
        ("no signature", "", "", "uploads/s/f"),
        ("a longer life", later.as_str(), sig.as_str(), "uploads/s/f"),
        ("another key", expires.as_str(), sig.as_str(), "uploads/s/g"),
        ("a forged signature", expires.as_str(), "00", "uploads/s/f"),
    ] {
        assert_eq!(
            files.get(key, expires, sig).err().map(|r| r.status),
            Some(403),
            "{what}"
        );
    }
}

/// Declares, uploads and sends one file; the message's JSON.
async fn send_file(
    store: &MemoryStore,
    deps: &Deps,
    v: &Visitor,
    name: &str,
    content_type: &str,
    bytes: &[u8],
) -> (u16, Value, Value) {
    let (status, ticket) = declare(
        store,
        deps,
        v,
        json!({"name": name, "content_type": content_type, "size": bytes.len()}),
    )
    .await;
    assert_eq!(status, 200, "{ticket}");
    assert_eq!(upload(&ticket, bytes).await, 200);
    let (status, b, _) = call(
        store,
        deps,
        req(
            "POST",
            &v.path("messages"),
            Some(&v.token),
            Some(json!({"attachment_id": ticket["attachment_id"]})),
        ),
    )
    .await;
    (status, b, ticket)
}

/// Follows a case's attachment link to the bytes and the name they download as.
async fn download(store: &MemoryStore, deps: &Deps, link: &str) -> (String, Vec<u8>) {
    let path = link.trim_start_matches("https://api.example.com");
    let resp = handle(store, deps, req("GET", path, None, None), now()).await;
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let http = casebridge::http::client(std::time::Duration::from_secs(10)).unwrap();
    let got = http.get(&location).send().await.unwrap();
    assert_eq!(got.status(), 200);
    let disposition = got.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    (disposition, got.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn the_name_a_file_is_kept_under_ends_in_its_checked_type() {
    let Some((files, ..)) = s3().await else {
        return;
    };
    // GIVEN a visitor whose files are named to mislead
    let deps = deps(Some(files), 1024 * 1024);
    let store = MemoryStore::new();
    let (v, _) = start(&store, &deps).await;
    for (name, content_type, bytes, kept) in [
        (
            "payroll-2026.exe",
            "application/pdf",
            PDF,
            "payroll-2026.pdf",
        ),
        (
            "x.html",
            "text/plain",
            b"plain words only".as_slice(),
            "x.txt",
        ),
        // A right-to-left override would make this read "invoiceexe.pdf" to the rep.
        (
            "invoice\u{202e}fdp.exe",
            "application/pdf",
            PDF,
            "invoicefdp.pdf",
        ),
    ] {
        // WHEN each is sent
        let (status, b, _) = send_file(&store, &deps, &v, name, content_type, bytes).await;
        assert_eq!(status, 200, "{name}: {b}");
        // THEN the message, the transcript and the download name the kept file, hidden
        // characters gone and the extension the checked type's
        let text = b["messages"][0]["text"].as_str().unwrap();
        assert!(
            text.starts_with(&format!("Sent a file: {kept} (")),
            "{text}"
        );
        assert!(!text.contains('\u{202e}'));
        let link = b["messages"][0]["attachments"][0]["url"].as_str().unwrap();
        let (disposition, got) = download(&store, &deps, link).await;
        assert!(
            disposition.starts_with(&format!("attachment; filename=\"{kept}\"")),
            "{name}: {disposition}"
        );
        assert_eq!(got, bytes);
    }
    // AND a text file that is really a page or a program is refused
    for bytes in [b"<!DOCTYPE html><html><body>hi".as_slice(), EXE] {
        let (status, b, _) = send_file(&store, &deps, &v, "notes.txt", "text/plain", bytes).await;
        assert_eq!(status, 400, "{b}");
    }
}

#[tokio::test]
async fn a_file_replaced_after_the_check_is_not_served() {
    let Some((files, ..)) = s3().await else {
        return;
    };
    // GIVEN a PDF that was checked and sent
    let deps = deps(Some(files), 1024 * 1024);
    let store = MemoryStore::new();
    let (v, _) = start(&store, &deps).await;
    let (status, b, ticket) =
        send_file(&store, &deps, &v, "receipt.pdf", "application/pdf", PDF).await;
    assert_eq!(status, 200, "{b}");
    let link = b["messages"][0]["attachments"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    // WHEN the visitor uses the same presigned upload again (S3 accepts it until it expires)
    assert_eq!(upload(&ticket, OTHER_PDF).await, 200);
    // AND retries the message
    let (status, _, _) = call(
        &store,
        &deps,
        req(
            "POST",
            &v.path("messages"),
            Some(&v.token),
            Some(json!({"attachment_id": ticket["attachment_id"]})),
        ),
    )
    .await;
    assert_eq!(status, 200);
    // THEN the case's link still serves what was checked
    let (_, got) = download(&store, &deps, &link).await;
    assert_eq!(got, PDF);
}

#[tokio::test]
async fn a_conversation_takes_a_limited_number_of_files() {
    let files: Arc<dyn AttachmentStore> = Arc::new(MemoryAttachments::new(
        BaseUrl::parse("x", "https://api.example.com").unwrap(),
    ));
    // GIVEN a widget that takes one file per conversation, and a visitor who sent one
    let mut deps = deps(Some(files), 1000);
    deps.widget.limits.max_attachments = 1;
    let store = MemoryStore::new();
    let (v, _) = start(&store, &deps).await;
    let session = store
        .session(SessionId::parse(&v.session).unwrap())
        .await
        .unwrap()
        .unwrap();
    let sent = NewMessage::new(Role::Customer, MessageText::parse("Sent a file").unwrap())
        .with_attachments(vec![Attachment {
            url: "https://api.example.com/attachments/x".into(),
            content_type: Some("application/pdf".into()),
        }]);
    store
        .append(&session, vec![sent], None, now())
        .await
        .unwrap();
    // WHEN they ask to upload another
    let (status, b) = declare(
        &store,
        &deps,
        &v,
        json!({"name": "b.pdf", "content_type": "application/pdf", "size": 5}),
    )
    .await;
    // THEN the answer is 429 and no upload is issued
    assert_eq!(status, 429, "{b}");
    assert!(b["error"].as_str().unwrap().contains("1 files"), "{b}");
    assert!(b.get("upload").is_none());
}

#[tokio::test]
async fn upload_tickets_never_sent_in_a_message_count_against_the_files_limit() {
    // GIVEN a conversation that may send 3 files
    let files = MemoryAttachments::new(BaseUrl::parse("x", "http://127.0.0.1:3000").unwrap());
    let mut deps = deps(Some(Arc::new(files)), 1000);
    deps.widget.limits.max_attachments = 3;
    let store = MemoryStore::new();
    let (v, _) = start(&store, &deps).await;
    let pdf = json!({"name": "a.pdf", "content_type": "application/pdf", "size": 100});
    // WHEN it asks for upload tickets and never sends a message with them
    for _ in 0..3 {
        assert_eq!(declare(&store, &deps, &v, pdf.clone()).await.0, 200);
    }
    // THEN the fourth ticket is refused, as a fourth file would be
    let (status, body) = declare(&store, &deps, &v, pdf).await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("3 file uploads"),
        "{body}"
    );
}
