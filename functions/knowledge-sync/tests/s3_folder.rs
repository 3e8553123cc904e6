//! The knowledge folder in S3 (`CASEBRIDGE_KNOWLEDGE_S3`), read by the knowledge-sync function
//! from S3 on moto: the articles under the prefix, as a local folder's files are read, and a
//! snapshot published from them.

use casebridge::knowledge::snapshot::{MemorySnapshots, SnapshotStore};
use casebridge::s3::S3;
use knowledge_sync::{Deps, handler, read_s3};

/// S3 on moto.
fn s3_client(endpoint: &str) -> S3 {
    S3::local(endpoint).unwrap()
}

#[tokio::test]
async fn the_articles_under_the_prefix_are_read_and_published() {
    let Some(endpoint) = test_support::moto::endpoint() else {
        return;
    };
    // GIVEN a bucket with a knowledge folder under kb/, and other things
    let client = s3_client(&endpoint);
    let bucket = format!("knowledge-{}", uuid_like());
    client.create_bucket(&bucket).await.unwrap();
    for (key, body) in [
        (
            "kb/returns.md",
            b"---\nurl: https://help.example.com/returns\n---\n# Returns\n\nUnused items can be returned within 30 days.\n".to_vec(),
        ),
        (
            "kb/stores/hours.html",
            b"<html><head><title>Store hours</title></head><body><p>Our stores open at 9.</p></body></html>".to_vec(),
        ),
        ("kb/logo.png", b"\x89PNG not an article".to_vec()),
        ("kb/latin1.txt", b"caf\xe9 au lait".to_vec()),
        ("drafts/secret.md", b"# Not published\n\nDraft.".to_vec()),
    ] {
        client
            .put(&bucket, key, "application/octet-stream", None, body)
            .await
            .unwrap();
    }
    let folder =
        casebridge::knowledge::config::S3Folder::parse(&format!("s3://{bucket}/kb/")).unwrap();
    // (S3 pages a listing: four keys under kb/ in pages of two are all listed)
    let paged = client.list_in_pages(&bucket, "kb/", Some(2)).await.unwrap();
    assert_eq!(paged.len(), 4, "{paged:?}");
    // (a missing key is an answer, a missing bucket a mistake)
    use casebridge::s3::Got;
    assert_eq!(
        client.get(&bucket, "kb/none.md", 1024).await.unwrap(),
        Got::Missing
    );
    assert!(
        client
            .get(&format!("{bucket}-missing"), "kb/returns.md", 1024)
            .await
            .is_err()
    );
    // WHEN the function reads it
    let articles = read_s3(&client, &folder).await.unwrap();
    // THEN the two articles under the prefix, named by their keys under it
    let ids: Vec<&str> = articles.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["returns.md", "stores/hours.html"]);
    assert_eq!(articles[0].title, "Returns");
    assert_eq!(
        articles[0].url.as_deref(),
        Some("https://help.example.com/returns")
    );
    assert_eq!(articles[1].title, "Store hours");
    // AND a scheduled run publishes them as the snapshot
    let config =
        test_support::config(&[("CASEBRIDGE_KNOWLEDGE_S3", &format!("s3://{bucket}/kb/"))]);
    let deps = Deps::from_config(&config).unwrap().with_s3(client);
    let snapshots = MemorySnapshots::default();
    let event = lambda_runtime::LambdaEvent::new(serde_json::json!({}), Default::default());
    let out = handler(&snapshots, &deps, event).await.unwrap();
    assert_eq!(out["articles"], 2);
    let (version, _) = snapshots.current().await.unwrap().unwrap();
    assert_eq!(snapshots.load(version).await.unwrap().articles.len(), 2);
}

#[test]
fn a_bad_s3_location_is_named_at_start_up() {
    let err = casebridge::config::Config::from_source(&std::collections::HashMap::from([(
        "CASEBRIDGE_KNOWLEDGE_S3",
        "https://bucket/kb",
    )]))
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("CASEBRIDGE_KNOWLEDGE_S3"), "{err}");
}

fn uuid_like() -> String {
    format!("{:x}", jiff::Timestamp::now().as_nanosecond())
}
