//! `casebridge export` and `casebridge erase`: a customer's data on request, on the memory store
//! and on DynamoDB and S3 as moto serves them (nothing of the customer left behind, nobody
//! else's touched, the opt-out kept).

use casebridge::domain::*;
use casebridge::s3::S3;
use casebridge::store::{Consent, Gap, Store};
use casebridge_cli::customer_data::{self, Files};
use jiff::Timestamp;

const ANN: &str = "+15551230081";
const BOB: &str = "+15551230082";

fn phone(n: &str) -> Customer {
    Customer::Phone(PhoneNumber::parse(n, None).unwrap())
}

fn sms(n: &str, ours: &str) -> ConversationKey {
    ConversationKey::new(Channel::Sms, phone(n), ours)
}

fn now() -> Timestamp {
    Timestamp::now()
}

/// A conversation of `customer` with a customer message, a case in Creatio and an unanswered
/// question.
async fn conversation(store: &dyn Store, key: &ConversationKey, sid: &str, text: &str) -> Session {
    let (s, _) = store.find_or_open(key, now()).await.unwrap();
    let message = NewMessage::new(Role::Customer, MessageText::parse(text).unwrap())
        .with_provider_id(ProviderMessageId::parse(sid).unwrap());
    store.append(&s, vec![message], None, now()).await.unwrap();
    test_support::fixtures::with_an_agent(store, s.id, now()).await;
    store
        .record_gap(&Gap {
            session: s.id,
            question: text.into(),
            score: None,
            at: now(),
        })
        .await
        .unwrap();
    store.session(s.id).await.unwrap().unwrap()
}

#[tokio::test]
async fn a_customers_conversations_are_exported_then_erased_and_the_opt_out_kept() {
    let store = casebridge::store::memory::MemoryStore::new();
    // GIVEN Ann's conversation, handed to a rep, and her STOP; and Bob's
    let ann = conversation(
        &store,
        &sms(ANN, "+15550000081"),
        "SM081a",
        "my parcel is late",
    )
    .await;
    store
        .set_consent(&phone(ANN), Consent::OptedOut { since: now() }, now())
        .await
        .unwrap();
    let bob = conversation(
        &store,
        &sms(BOB, "+15550000081"),
        "SM082a",
        "opening hours?",
    )
    .await;
    // WHEN her data is exported
    let export = customer_data::export(&store, None, &phone(ANN), now())
        .await
        .unwrap();
    // THEN it holds her conversation, its case, her words and her opt-out, and nothing of Bob's
    assert_eq!(export["customer"], format!("tel:{ANN}"));
    assert_eq!(export["consent"]["opted_out"], true);
    let conversations = export["conversations"].as_array().unwrap();
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0]["session_id"], ann.id.to_string());
    assert!(conversations[0]["creatio_case"].is_string());
    assert_eq!(conversations[0]["messages"][0]["text"], "my parcel is late");
    assert_eq!(
        conversations[0]["unanswered_questions"][0]["question"],
        "my parcel is late"
    );
    assert!(!export.to_string().contains("opening hours"));
    // WHEN it is erased
    let out = customer_data::erase(&store, None, &phone(ANN), now())
        .await
        .unwrap();
    // THEN the conversation is gone, the STOP stays, the case is listed for the team
    assert!(out.starts_with("erased 1 conversation(s)"), "{out}");
    assert!(out.contains("opt-out (STOP)"), "{out}");
    assert!(out.contains("Creatio still holds these cases"), "{out}");
    assert_eq!(store.session(ann.id).await.unwrap(), None);
    assert!(matches!(
        store.consent(&phone(ANN)).await.unwrap(),
        Consent::OptedOut { .. }
    ));
    let again = customer_data::export(&store, None, &phone(ANN), now())
        .await
        .unwrap();
    assert_eq!(again["conversations"], serde_json::json!([]));
    // AND Bob's conversation is untouched, and the erasure is on record without Ann in it
    assert!(store.session(bob.id).await.unwrap().is_some());
    let erasures = store.erasures().await.unwrap();
    assert_eq!(erasures.len(), 1);
    assert_eq!(erasures[0].sessions, 1);
    assert!(!format!("{erasures:?}").contains("5551230081"));
    // AND who is asked for is read as a person types it
    let err =
        customer_data::customer(Some(&"not a number".to_owned()), DefaultCountry::US).unwrap_err();
    assert!(err.to_string().contains("not a phone number"), "{err}");
    assert_eq!(
        customer_data::customer(Some(&"(555) 123-0081".to_owned()), DefaultCountry::US).unwrap(),
        phone(ANN)
    );
}

#[tokio::test]
async fn on_dynamodb_and_s3_nothing_of_the_customer_is_left_and_no_one_else_is_touched() {
    let Some(endpoint) = test_support::moto::endpoint() else {
        return;
    };
    let store = test_support::moto::store("erase").await.unwrap();
    let s3 = S3::local(&endpoint).unwrap();
    let bucket = format!("erase-{}", uuid::Uuid::new_v4().simple());
    s3.create_bucket(&bucket).await.unwrap();
    let files = Files {
        s3: &s3,
        bucket: &bucket,
    };
    // GIVEN Ann with two conversations on two of our numbers, files in the bucket for one of
    // them (a checked attachment and an upload never sent), and Bob with his own
    let ann_1 = conversation(
        &store,
        &sms(ANN, "+15550000081"),
        "SM081b",
        "my parcel is late",
    )
    .await;
    let ann_2 = conversation(&store, &sms(ANN, "+15550000082"), "SM081c", "and my refund").await;
    let bob = conversation(
        &store,
        &sms(BOB, "+15550000081"),
        "SM082b",
        "opening hours?",
    )
    .await;
    for (session, name) in [(&ann_1, "a1"), (&bob, "b1")] {
        for prefix in ["attachments", "uploads"] {
            s3.put(
                &bucket,
                &format!("{prefix}/{}/{name}", session.id),
                "application/pdf",
                None,
                b"%PDF-1.4".to_vec(),
            )
            .await
            .unwrap();
        }
    }
    // WHEN Ann's data is exported, THEN her files are listed with her conversations
    let export = customer_data::export(&store, Some(&files), &phone(ANN), now())
        .await
        .unwrap();
    assert_eq!(export["conversations"].as_array().unwrap().len(), 2);
    assert_eq!(
        export["conversations"][0]["files"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // WHEN it is erased
    let out = customer_data::erase(&store, Some(&files), &phone(ANN), now())
        .await
        .unwrap();
    assert!(out.contains("2 file(s)"), "{out}");
    // THEN no item of the table names Ann, her sessions or her cases, but for the erasure's
    // record, which keeps the case references for the team (and nothing else of hers)
    let all = raw_items(&endpoint, store.table_name()).await;
    let (records, items): (Vec<String>, Vec<String>) =
        all.into_iter().partition(|i| i.contains("S(\"erasure\")"));
    assert_eq!(records.len(), 1);
    assert!(records[0].contains(&ann_1.id.case_id().to_string()));
    assert!(!records[0].contains("5551230081") && !records[0].contains(&ann_1.id.to_string()));
    for s in [&ann_1, &ann_2] {
        for needle in [
            "5551230081".to_owned(),
            s.id.to_string(),
            s.id.case_id().to_string(),
        ] {
            let hit: Vec<&String> = items.iter().filter(|i| i.contains(&needle)).collect();
            assert!(hit.is_empty(), "{needle} is still in {hit:?}");
        }
    }
    // AND the only file left is Bob's
    let left: Vec<String> = s3
        .list(&bucket, "")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(
        left,
        [
            format!("attachments/{}/b1", bob.id),
            format!("uploads/{}/b1", bob.id)
        ]
    );
    // AND Bob's conversation, its provider id and its question are all there
    assert!(store.session(bob.id).await.unwrap().is_some());
    let pid = ProviderMessageId::parse("SM082b").unwrap();
    assert!(
        store
            .find_by_provider_id(Channel::Sms, &pid)
            .await
            .unwrap()
            .is_some()
    );
    assert!(items.iter().any(|i| i.contains("opening hours?")));
    // AND the erasure is on record
    assert_eq!(store.erasures().await.unwrap()[0].attachments, 2);
}

/// Every item of the table, as text.
async fn raw_items(endpoint: &str, table: &str) -> Vec<String> {
    let client = casebridge::aws::local_dynamodb_client(endpoint);
    let out = client.scan().table_name(table).send().await.unwrap();
    out.items().iter().map(|i| format!("{i:?}")).collect()
}
