//! Where articles come from besides a folder: Creatio's knowledge base (read through the
//! client, incrementally, deletions found) and the snapshot a sync saves for the functions that
//! answer customers (in memory and in the table on moto, in chunks).

use std::sync::Arc;
use std::time::Duration;

use casebridge::assistant::rules::RulesAssistant;
use casebridge::assistant::{Concierge, Decision, Settings};
use casebridge::config::{BaseUrl, CreatioAuth, CreatioConfig};
use casebridge::creatio::{CreatioClient, RetryPolicy};
use casebridge::domain::*;
use casebridge::knowledge::snapshot::{MemorySnapshots, Snapshot, SnapshotStore, publish};
use casebridge::knowledge::sync::sync_to;
use casebridge::knowledge::{Article, Knowledge, KnowledgeConfig};
use creatio_sandbox::schema::{KNOWLEDGE_TYPE_GENERAL, KNOWLEDGE_TYPE_INTERNAL};
use creatio_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Map, json};

fn client(sb: &Sandbox) -> CreatioClient {
    let c = CreatioConfig::with_defaults(
        BaseUrl::parse("CREATIO_URL", &sb.url).unwrap(),
        false,
        CreatioAuth::Forms {
            username: "Supervisor".into(),
            password: "Supervisor".to_owned().into(),
        },
    );
    CreatioClient::new(
        &c,
        casebridge::http::client(Duration::from_secs(5)).unwrap(),
        RetryPolicy::default(),
    )
    .with_retry(test_support::quick_retry(1))
}

/// An article as a Creatio user writes one; `plain` None leaves `NotHtmlNote` empty, as an
/// article written by API or import has it.
fn article(sb: &Sandbox, kind: &str, name: &str, html: &str, plain: Option<&str>) -> uuid::Uuid {
    let mut row = Map::new();
    row.insert("Name".into(), json!(name));
    row.insert("Notes".into(), json!(html));
    row.insert("NotHtmlNote".into(), json!(plain.unwrap_or("")));
    row.insert("TypeId".into(), json!(kind));
    sb.insert("KnowledgeBase", row)
}

fn creatio_config() -> KnowledgeConfig {
    KnowledgeConfig {
        dir: None,
        s3: None,
        creatio: true,
        types: vec![LookupId::parse(KNOWLEDGE_TYPE_GENERAL).unwrap()],
        snapshot: false,
        sync_interval: Duration::from_secs(3600),
        threshold: casebridge::knowledge::config::DEFAULT_THRESHOLD,
    }
}

fn session() -> Session {
    let customer = Customer::Email(VerifiedEmail::parse("ann@example.com").unwrap());
    Session::open(
        ConversationKey::new(Channel::Widget, customer, "site"),
        test_support::now(),
    )
}

async fn ask(c: &Concierge, question: &str) -> Decision {
    let t = vec![Message {
        seq: 1,
        role: Role::Customer,
        text: MessageText::parse(question).unwrap(),
        provider_id: None,
        at: test_support::now(),
        attachments: vec![],
        delivery: None,
        fallback: false,
        card: None,
    }];
    c.respond(&session(), &t, test_support::now()).await
}

fn answered(d: &Decision, with: &str) -> bool {
    matches!(d, Decision::Reply { text, fallback: false, .. } if text.as_str().contains(with))
}

fn concierge(knowledge: Arc<Knowledge>) -> Concierge {
    Concierge::new(
        Arc::new(RulesAssistant::with_knowledge(knowledge)),
        Arc::new(Settings::embedded()),
    )
}

#[tokio::test]
async fn creatio_articles_of_the_configured_types_answer_even_without_their_plain_text() {
    // GIVEN a knowledge base with a customer-facing article written by API (no NotHtmlNote),
    // one written on the article page, and an internal one
    let sb = Sandbox::start(SandboxConfig::default()).await.unwrap();
    article(
        &sb,
        KNOWLEDGE_TYPE_GENERAL,
        "Changing your delivery address",
        "<p>You can change the <b>delivery address</b> of an order until it ships: open the order and choose <i>Edit address</i>.</p>",
        None,
    );
    article(
        &sb,
        KNOWLEDGE_TYPE_GENERAL,
        "Gift wrapping",
        "<p>Gift wrapping costs $5 per item.</p>",
        Some("Gift wrapping costs $5 per item and comes with a card."),
    );
    article(
        &sb,
        KNOWLEDGE_TYPE_INTERNAL,
        "Refund approval limits",
        "<p>Agents may approve refunds up to $200 without a supervisor.</p>",
        Some("Agents may approve refunds up to $200 without a supervisor."),
    );
    let knowledge = Knowledge::new(creatio_config()).with_creatio(client(&sb));
    let c = concierge(Arc::new(knowledge));
    // WHEN customers ask in their own words THEN Creatio's articles answer
    let d = ask(
        &c,
        "I moved house, can I still change the delivery address?",
    )
    .await;
    assert!(answered(&d, "until it ships"), "{d:?}");
    let d = ask(&c, "how much does gift wrapping cost?").await;
    assert!(
        answered(&d, "comes with a card"),
        "the plain text is used: {d:?}"
    );
    // AND an article of a type not configured never reaches a customer
    let d = ask(
        &c,
        "what refund limits can agents approve without a supervisor?",
    )
    .await;
    assert!(!answered(&d, "$200"), "{d:?}");
}

#[tokio::test]
async fn a_sync_reads_what_changed_drops_what_was_deleted_and_writes_only_when_needed() {
    let sb = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let hours = article(
        &sb,
        KNOWLEDGE_TYPE_GENERAL,
        "Store hours",
        "<p>Our stores open at 9.</p>",
        Some("Our stores open at 9 every day."),
    );
    let gone = article(
        &sb,
        KNOWLEDGE_TYPE_GENERAL,
        "Old promotion",
        "<p>Free shipping in May.</p>",
        Some("Free shipping in May."),
    );
    let snapshots = MemorySnapshots::default();
    let creatio = client(&sb);
    let config = creatio_config();
    // GIVEN a first sync
    let first = sync_to(&snapshots, &config, Some(&creatio), test_support::now())
        .await
        .unwrap();
    assert_eq!((first.articles, first.written), (2, true));
    // WHEN one article is deleted and another added in Creatio
    assert!(sb.remove("KnowledgeBase", gone));
    article(
        &sb,
        KNOWLEDGE_TYPE_GENERAL,
        "Loyalty points",
        "<p>Every dollar earns a point.</p>",
        Some("Every dollar earns a point."),
    );
    sb.clear_log();
    let later = test_support::now() + jiff::SignedDuration::from_hours(1);
    let second = sync_to(&snapshots, &config, Some(&creatio), later)
        .await
        .unwrap();
    // THEN the snapshot has the kept and the new article, not the deleted one
    assert!(second.written);
    let (version, _) = snapshots.current().await.unwrap().unwrap();
    let titles: Vec<String> = snapshots
        .load(version)
        .await
        .unwrap()
        .articles
        .into_iter()
        .map(|a| a.title)
        .collect();
    let mut titles = titles;
    titles.sort();
    assert_eq!(titles, ["Loyalty points", "Store hours"]);
    // AND it asked for the ids and for what changed: two reads of KnowledgeBase
    let reads = sb
        .requests()
        .iter()
        .filter(|r| r.path.contains("KnowledgeBase"))
        .count();
    assert_eq!(reads, 2);
    // AND with nothing changed, nothing is written
    let third = sync_to(&snapshots, &config, Some(&creatio), later)
        .await
        .unwrap();
    assert!(!third.written);
    assert_eq!(third.version, second.version);
    // AND an article its editor emptied is dropped, not answered from its old text
    let mut emptied = Map::new();
    emptied.insert("Id".into(), json!(hours.to_string()));
    emptied.insert("Name".into(), json!("Store hours"));
    emptied.insert("TypeId".into(), json!(KNOWLEDGE_TYPE_GENERAL));
    sb.insert("KnowledgeBase", emptied);
    let fourth = sync_to(&snapshots, &config, Some(&creatio), later)
        .await
        .unwrap();
    assert_eq!(fourth.articles, 1);
}

#[tokio::test]
async fn a_sync_replaces_the_articles_of_the_sources_it_reads_and_keeps_the_others() {
    let sb = Sandbox::start(SandboxConfig::default()).await.unwrap();
    article(
        &sb,
        KNOWLEDGE_TYPE_GENERAL,
        "Store hours",
        "<p>Our stores open at 9.</p>",
        Some("Our stores open at 9 every day."),
    );
    let dir = std::env::temp_dir().join(format!("kb-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("gift-cards.md"),
        "# Gift cards\n\nGift cards never expire.\n",
    )
    .unwrap();
    let snapshots = MemorySnapshots::default();
    let creatio = client(&sb);
    let titles = || async {
        let (v, _) = snapshots.current().await.unwrap().unwrap();
        let mut t: Vec<String> = snapshots
            .load(v)
            .await
            .unwrap()
            .articles
            .into_iter()
            .map(|a| a.title)
            .collect();
        t.sort();
        t
    };
    // GIVEN the folder synced from a laptop (no Creatio in that run)
    let folder_only = KnowledgeConfig::folder(&dir);
    sync_to(&snapshots, &folder_only, None, test_support::now())
        .await
        .unwrap();
    // WHEN the scheduled function syncs Creatio (it has no folder)
    sync_to(
        &snapshots,
        &creatio_config(),
        Some(&creatio),
        test_support::now(),
    )
    .await
    .unwrap();
    // THEN the snapshot has both
    assert_eq!(titles().await, ["Gift cards", "Store hours"]);
    // AND a folder sync after a file was deleted drops it and keeps Creatio's
    std::fs::remove_file(dir.join("gift-cards.md")).unwrap();
    sync_to(&snapshots, &folder_only, None, test_support::now())
        .await
        .unwrap();
    assert_eq!(titles().await, ["Store hours"]);
    std::fs::remove_dir_all(dir).ok();
}

fn one(title: &str, body: &str) -> Article {
    Article {
        id: format!("{title}.md"),
        title: title.into(),
        body: body.into(),
        keywords: String::new(),
        url: None,
    }
}

#[tokio::test]
async fn a_warm_function_picks_up_a_newer_snapshot_within_its_interval() {
    // GIVEN a function whose articles come from a snapshot, checked every 50 ms
    let snapshots = Arc::new(MemorySnapshots::default());
    let first = Snapshot::new(
        vec![one(
            "Parking",
            "Free parking is available behind every store.",
        )],
        test_support::now(),
    );
    publish(snapshots.as_ref(), &first).await.unwrap();
    let knowledge = Arc::new(Knowledge::new(KnowledgeConfig {
        sync_interval: Duration::from_millis(50),
        ..creatio_config()
    }));
    knowledge.use_snapshots(snapshots.clone());
    let c = concierge(knowledge);
    assert!(answered(
        &ask(&c, "is there parking at the store?").await,
        "Free parking"
    ));
    // WHEN a sync publishes a newer snapshot with another article
    let second = Snapshot::new(
        vec![
            one("Parking", "Free parking is available behind every store."),
            one(
                "Loyalty points",
                "Every dollar you spend earns a loyalty point.",
            ),
        ],
        test_support::now() + jiff::SignedDuration::from_mins(5),
    );
    assert!(publish(snapshots.as_ref(), &second).await.unwrap());
    // THEN after the interval the warm function answers from it
    tokio::time::sleep(Duration::from_millis(60)).await;
    let d = ask(&c, "how do I earn loyalty points?").await;
    assert!(answered(&d, "earns a loyalty point"), "{d:?}");
}

#[tokio::test]
async fn the_table_keeps_a_snapshot_in_chunks_and_lets_the_one_it_replaces_expire() {
    let Some(store) = test_support::moto::store("kb").await else {
        return;
    };
    let snapshots = store.knowledge_snapshots();
    // GIVEN a snapshot of over 1 MB (several chunks)
    let big: Vec<Article> = (0..400)
        .map(|i| {
            one(
                &format!("Article {i}"),
                &"A sentence about shipping. ".repeat(100),
            )
        })
        .collect();
    let first = Snapshot::new(big, test_support::now());
    snapshots.save(&first).await.unwrap();
    assert_eq!(
        snapshots.current().await.unwrap(),
        Some((first.version, first.digest.clone()))
    );
    assert_eq!(snapshots.load(first.version).await.unwrap(), first);
    // WHEN a newer one replaces it
    let second = Snapshot::new(
        vec![one("Store hours", "Our stores open at 9.")],
        test_support::now() + jiff::SignedDuration::from_mins(1),
    );
    snapshots.save(&second).await.unwrap();
    // THEN it is the current one, and the old chunks expire (a container may still be reading
    // them, so they are not deleted at once)
    assert_eq!(snapshots.load(second.version).await.unwrap(), second);
    let chunks = serde_json::to_vec(&first)
        .unwrap()
        .len()
        .div_ceil(350 * 1024);
    assert!(chunks >= 3, "{chunks}");
    for i in 0..chunks {
        let item = store
            .client()
            .get_item()
            .table_name(store.table())
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!(
                    "K#knowledge#{}",
                    first.version
                )),
            )
            .key(
                "sk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("C#{i:04}")),
            )
            .send()
            .await
            .unwrap()
            .item
            .unwrap_or_else(|| panic!("chunk {i} kept"));
        assert!(
            item.contains_key(casebridge::store::dynamo::TTL_ATTRIBUTE),
            "chunk {i}"
        );
    }
}

#[tokio::test]
async fn a_knowledge_base_past_creatios_row_limit_is_read_in_pages() {
    // GIVEN more articles than Creatio answers in one query (20,000)
    let sb = Sandbox::start(SandboxConfig::default()).await.unwrap();
    for n in 0..=creatio_sandbox::ROW_LIMIT {
        let mut row = Map::new();
        row.insert("Name".into(), json!(format!("Article {n}")));
        row.insert("TypeId".into(), json!(KNOWLEDGE_TYPE_GENERAL));
        sb.insert("KnowledgeBase", row);
    }
    let creatio = client(&sb);
    // WHEN they are read in one query, Creatio refuses it
    let one = creatio.query("KnowledgeBase", None, &["Id"], None).await;
    assert!(
        matches!(
            one,
            Err(casebridge::creatio::CreatioError::Api { status: 500, .. })
        ),
        "{one:?}"
    );
    // THEN read in pages, every one comes back once
    let all = creatio
        .query_all("KnowledgeBase", None, &["Id"])
        .await
        .unwrap();
    let ids: std::collections::HashSet<&str> =
        all.iter().filter_map(|r| r["Id"].as_str()).collect();
    assert_eq!(ids.len(), creatio_sandbox::ROW_LIMIT + 1);
    assert_eq!(all.len(), ids.len());
}
