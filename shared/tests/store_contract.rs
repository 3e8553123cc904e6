//! ONE contract for every `Store`: each test below runs against the in-memory store and against
//! the DynamoDB store (the real AWS SDK talking to a moto server on loopback, which the test
//! command starts and names in `AWS_ENDPOINT_URL_DYNAMODB`).
//!
//! Without that variable the DynamoDB half is skipped with a note, unless `CASEBRIDGE_REQUIRE_MOTO`
//! is set (the test command sets it), in which case a missing moto is a failure, not a skip.

use std::collections::HashSet;
use std::sync::Arc;

use casebridge::domain::*;
use casebridge::store::dynamo::DynamoStore;
use casebridge::store::memory::MemoryStore;
use casebridge::store::{
    Appended, Consent, Retention, SessionChanges, StateChange, Store, StoreError,
};
use jiff::Timestamp;

type DynStore = Arc<dyn Store>;

fn memory_store() -> Option<DynStore> {
    Some(Arc::new(MemoryStore::new()))
}

async fn dynamo_store() -> Option<DynStore> {
    Some(Arc::new(fresh_dynamo().await?))
}

async fn fresh_dynamo() -> Option<DynamoStore> {
    test_support::moto::store("contract").await
}

fn now() -> Timestamp {
    Timestamp::now()
}

fn sms_key(customer: &str) -> ConversationKey {
    ConversationKey::new(
        Channel::Sms,
        Customer::Phone(PhoneNumber::parse(customer, None).unwrap()),
        "+15557654321",
    )
}

fn text(s: &str) -> MessageText {
    MessageText::parse(s).unwrap()
}

fn customer_msg(s: &str, sid: &str) -> NewMessage {
    NewMessage::new(Role::Customer, text(s))
        .with_provider_id(ProviderMessageId::parse(sid).unwrap())
}

fn t(from: SessionState, to: SessionState) -> Transition {
    Transition::new(from, to).unwrap()
}

fn stored(a: Appended) -> (Session, Vec<Message>) {
    match a {
        Appended::Stored { session, messages } => (*session, messages),
        other => panic!("expected Stored, got {other:?}"),
    }
}

async fn race<T, F, Fut>(n: usize, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let tasks: Vec<_> = (0..n).map(|i| tokio::spawn(f(i))).collect();
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task panicked"))
        .collect()
}

// ---- the contract ----------------------------------------------------------------------------

async fn find_or_open_returns_the_same_session_per_conversation(store: DynStore) {
    // GIVEN no session for this customer
    let key = sms_key("+15551230001");
    assert_eq!(store.active_session(&key).await.unwrap(), None);
    // WHEN the conversation is found twice
    let (a, opened_a) = store.find_or_open(&key, now()).await.unwrap();
    let (b, opened_b) = store.find_or_open(&key, now()).await.unwrap();
    // THEN it is one session, opened once, with the assistant
    assert!(opened_a && !opened_b);
    assert_eq!(a.id, b.id);
    assert_eq!(a.state, SessionState::Assistant);
    assert_eq!(a.key, key);
    assert_eq!(
        store.active_session(&key).await.unwrap().map(|s| s.id),
        Some(a.id)
    );
    // AND another customer, or the same customer texting another of our numbers, is another one
    let (c, _) = store
        .find_or_open(&sms_key("+15551230002"), now())
        .await
        .unwrap();
    let mut other_number = key.clone();
    other_number.endpoint = "+15550000000".into();
    let (d, _) = store.find_or_open(&other_number, now()).await.unwrap();
    assert_ne!(a.id, c.id);
    assert_ne!(a.id, d.id);
}

async fn concurrent_find_or_open_agrees_on_one_session(store: DynStore) {
    let key = sms_key("+15551230003");
    let results = race(8, |_| {
        let (store, key) = (store.clone(), key.clone());
        async move { store.find_or_open(&key, now()).await.unwrap() }
    })
    .await;
    let ids: HashSet<SessionId> = results.iter().map(|(s, _)| s.id).collect();
    assert_eq!(ids.len(), 1, "racing opens must agree on one session");
    assert_eq!(results.iter().filter(|(_, opened)| *opened).count(), 1);
}

async fn appends_get_gap_free_seqs_and_read_back_in_order(store: DynStore) {
    let (s, _) = store
        .find_or_open(&sms_key("+15551230004"), now())
        .await
        .unwrap();
    let (s, first) = stored(
        store
            .append(
                &s,
                vec![customer_msg("Where is my order #1234?", "SM0001")],
                None,
                now(),
            )
            .await
            .unwrap(),
    );
    assert_eq!(first[0].seq, 1);
    assert_eq!(s.last_seq, 1);
    let (s, more) = stored(
        store
            .append(
                &s,
                vec![
                    NewMessage::new(
                        Role::Assistant,
                        text("It ships <b>today</b> & arrives soon."),
                    ),
                    NewMessage::new(Role::System, text("consent: opted in")),
                ],
                None,
                now(),
            )
            .await
            .unwrap(),
    );
    assert_eq!(more.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![2, 3]);
    assert_eq!(s.last_seq, 3);

    let (session, transcript) = store.transcript(s.id).await.unwrap().unwrap();
    assert_eq!(session.last_seq, 3);
    assert_eq!(
        transcript.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(
        transcript.iter().map(|m| m.role).collect::<Vec<_>>(),
        vec![Role::Customer, Role::Assistant, Role::System]
    );
    // Text comes back byte for byte, markup and all: escaping is the renderer's job.
    assert_eq!(
        transcript[1].text.as_str(),
        "It ships <b>today</b> & arrives soon."
    );
    assert_eq!(
        transcript[0].provider_id.as_ref().unwrap().as_str(),
        "SM0001"
    );
    // Outbound messages start Pending; inbound and system ones carry no delivery status.
    assert_eq!(transcript[0].delivery, None);
    assert_eq!(transcript[1].delivery, Some(DeliveryStatus::Pending));
    assert_eq!(transcript[2].delivery, None);
}

async fn attachments_are_kept_by_reference(store: DynStore) {
    let (s, _) = store
        .find_or_open(&sms_key("+15551230005"), now())
        .await
        .unwrap();
    let att = vec![
        Attachment {
            url: "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1".into(),
            content_type: Some("image/jpeg".into()),
        },
        Attachment {
            url: "https://example.com/f.pdf".into(),
            content_type: None,
        },
    ];
    let msg = customer_msg("photo of the damage", "MM0001").with_attachments(att.clone());
    stored(store.append(&s, vec![msg], None, now()).await.unwrap());
    let (_, transcript) = store.transcript(s.id).await.unwrap().unwrap();
    assert_eq!(transcript[0].attachments, att);
}

async fn the_assistant_fallback_flag_is_kept(store: DynStore) {
    // GIVEN a customer question the assistant could not answer, then one it could
    let (s, _) = store
        .find_or_open(&sms_key("+15551230015"), now())
        .await
        .unwrap();
    let turn = vec![
        customer_msg("what is the meaning of life", "SM-fb-1"),
        NewMessage::new(Role::Assistant, text("Sorry, I do not know that.")).as_fallback(),
        NewMessage::new(Role::Assistant, text("Our hours are 9 to 5.")),
    ];
    stored(store.append(&s, turn, None, now()).await.unwrap());
    // THEN the flag reads back on exactly the fallback turn
    let (_, transcript) = store.transcript(s.id).await.unwrap().unwrap();
    let flags: Vec<bool> = transcript.iter().map(|m| m.fallback).collect();
    assert_eq!(flags, [false, true, false]);
}

async fn an_actions_card_is_kept_with_its_answer(store: DynStore) {
    // GIVEN an answer that came from an action
    let (s, _) = store
        .find_or_open(&sms_key("+15551230018"), now())
        .await
        .unwrap();
    let card = test_support::fixtures::order_card();
    let turn = vec![
        customer_msg("where is my order 5511", "SM-card-1"),
        NewMessage::new(Role::Assistant, text("Order 5511: shipped."))
            .with_card(Some(card.clone())),
    ];
    stored(store.append(&s, turn, None, now()).await.unwrap());
    // THEN the card reads back on that message only
    let (_, transcript) = store.transcript(s.id).await.unwrap().unwrap();
    let cards: Vec<Option<Card>> = transcript.iter().map(|m| m.card.clone()).collect();
    assert_eq!(cards, [None, Some(card)]);
}

async fn consent_outlives_sessions_and_is_per_customer(store: DynStore) {
    let ann = Customer::Phone(PhoneNumber::parse("+15551230016", None).unwrap());
    let bob = Customer::Phone(PhoneNumber::parse("+15551230017", None).unwrap());
    // GIVEN nothing on record THEN consent is granted
    assert_eq!(store.consent(&ann).await.unwrap(), Consent::Granted);
    // WHEN Ann opts out THEN only Ann is opted out, since that time
    let since: Timestamp = "2026-03-01T10:00:00Z".parse().unwrap();
    store
        .set_consent(&ann, Consent::OptedOut { since }, since)
        .await
        .unwrap();
    assert_eq!(
        store.consent(&ann).await.unwrap(),
        Consent::OptedOut { since }
    );
    assert_eq!(store.consent(&bob).await.unwrap(), Consent::Granted);
    // WHEN she opts in again THEN consent is granted
    store
        .set_consent(&ann, Consent::Granted, now())
        .await
        .unwrap();
    assert_eq!(store.consent(&ann).await.unwrap(), Consent::Granted);
}

async fn a_turn_reads_the_session_its_transcript_and_consent(store: DynStore) {
    let key = sms_key("+15551230030");
    // GIVEN a conversation nobody has opened THEN the turn opens it, empty, with consent
    let first = store.open_turn(&key, now()).await.unwrap();
    assert!(first.opened);
    assert!(first.transcript.is_empty());
    assert_eq!(first.consent, Consent::Granted);
    // WHEN two messages are stored and the customer opts out
    let (_, written) = stored(
        store
            .append(
                &first.session,
                vec![
                    customer_msg("one", "SMturn1"),
                    customer_msg("two", "SMturn2"),
                ],
                None,
                now(),
            )
            .await
            .unwrap(),
    );
    let since: Timestamp = "2026-03-01T10:00:00Z".parse().unwrap();
    store
        .set_consent(&key.customer, Consent::OptedOut { since }, since)
        .await
        .unwrap();
    // THEN the next turn finds the same session, the messages in order and the opt-out
    let next = store.open_turn(&key, now()).await.unwrap();
    assert!(!next.opened);
    assert_eq!(next.session.id, first.session.id);
    assert_eq!(next.session.last_seq, 2);
    assert_eq!(next.transcript, written);
    assert_eq!(next.consent, Consent::OptedOut { since });
    // WHEN the session closes THEN the next turn opens a new, empty one; the opt-out stays
    store
        .transition(
            first.session.id,
            t(SessionState::Assistant, SessionState::Closed),
            SessionChanges::default(),
            now(),
        )
        .await
        .unwrap();
    let after = store.open_turn(&key, now()).await.unwrap();
    assert!(after.opened);
    assert_ne!(after.session.id, first.session.id);
    assert!(after.transcript.is_empty());
    assert_eq!(after.consent, Consent::OptedOut { since });
    // AND racing turns for a new conversation agree on one session
    let key = sms_key("+15551230031");
    let ids: HashSet<SessionId> = race(6, |_| {
        let (store, key) = (store.clone(), key.clone());
        async move { store.open_turn(&key, now()).await.unwrap().session.id }
    })
    .await
    .into_iter()
    .collect();
    assert_eq!(ids.len(), 1);
}

async fn sessions_needing_sync_are_listed_for_replay(store: DynStore) {
    // GIVEN one session with the assistant, one handed off, one with a case and an unsynced message,
    // and one fully synced
    let open = |p: &'static str| {
        let store = store.clone();
        async move { store.find_or_open(&sms_key(p), now()).await.unwrap().0 }
    };
    let quiet = open("+15551230020").await;
    store
        .append(&quiet, vec![customer_msg("hi", "SM-ns-1")], None, now())
        .await
        .unwrap();
    let waiting = open("+15551230021").await;
    store
        .append(
            &waiting,
            vec![customer_msg("agent", "SM-ns-2")],
            Some(t(SessionState::Assistant, SessionState::HandoffRequested).into()),
            now(),
        )
        .await
        .unwrap();
    let behind = open("+15551230022").await;
    let synced = open("+15551230023").await;
    for (s, sid) in [(&behind, "SM-ns-3"), (&synced, "SM-ns-4")] {
        store
            .append(s, vec![customer_msg("agent", sid)], None, now())
            .await
            .unwrap();
        store
            .link_case(
                s.id,
                CreatioLink {
                    case_id: s.id.case_id(),
                    case_number: None,
                    contact_id: None,
                },
            )
            .await
            .unwrap();
    }
    store.advance_watermark(synced.id, 1).await.unwrap();
    // THEN exactly the handed-off one and the one behind are listed
    let listed: HashSet<SessionId> = store
        .needing_sync()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .filter(|id| [quiet.id, waiting.id, behind.id, synced.id].contains(id))
        .collect();
    assert_eq!(listed, HashSet::from([waiting.id, behind.id]));
}

async fn an_anonymous_session_can_be_linked_to_a_verified_identity(store: DynStore) {
    let visitor = |v: &str| {
        ConversationKey::new(
            Channel::Widget,
            Customer::Visitor(VisitorId::parse(v).unwrap()),
            "widget",
        )
    };
    let email = ConversationKey::new(
        Channel::Widget,
        Customer::Email(VerifiedEmail::parse("linked@example.com").unwrap()),
        "widget",
    );
    // GIVEN an anonymous conversation
    let (a, _) = store
        .find_or_open(&visitor("visitor-a-123"), now())
        .await
        .unwrap();
    store
        .append(&a, vec![customer_msg("hi", "w-link-1")], None, now())
        .await
        .unwrap();
    // WHEN the visitor presents a verified identity THEN the same session is now theirs
    let linked = store.link_identity(&a, &email, now()).await.unwrap();
    assert_eq!((linked.id, &linked.key), (a.id, &email));
    assert_eq!(
        store.active_session(&email).await.unwrap().map(|s| s.id),
        Some(a.id)
    );
    assert!(
        store
            .active_session(&visitor("visitor-a-123"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.transcript(a.id).await.unwrap().unwrap().1.len(), 1);
    // AND another anonymous session cannot take the same identity
    let (b, _) = store
        .find_or_open(&visitor("visitor-b-123"), now())
        .await
        .unwrap();
    assert!(matches!(
        store.link_identity(&b, &email, now()).await,
        Err(StoreError::AlreadyActive)
    ));
    // AND once the linked session is closed, the identity is free again
    store
        .transition(
            a.id,
            t(SessionState::Assistant, SessionState::Closed),
            SessionChanges::default(),
            now(),
        )
        .await
        .unwrap();
    let linked_b = store.link_identity(&b, &email, now()).await.unwrap();
    assert_eq!(linked_b.id, b.id);
    assert!(matches!(
        store
            .link_identity(&a, &visitor("visitor-c-123"), now())
            .await,
        Err(StoreError::Closed(_))
    ));
}

async fn a_redelivered_message_is_stored_once(store: DynStore) {
    // GIVEN a session, WHEN the same MessageSid arrives 5 times at once (Twilio retries)
    let (s, _) = store
        .find_or_open(&sms_key("+15551230006"), now())
        .await
        .unwrap();
    let outcomes = race(5, |_| {
        let (store, s) = (store.clone(), s.clone());
        async move {
            store
                .append(&s, vec![customer_msg("hello", "SMdup0001")], None, now())
                .await
                .unwrap()
        }
    })
    .await;
    // THEN exactly one stored it, the others were told where it went, and the transcript has one
    let stored_count = outcomes
        .iter()
        .filter(|o| matches!(o, Appended::Stored { .. }))
        .count();
    assert_eq!(stored_count, 1, "{outcomes:?}");
    for o in &outcomes {
        if let Appended::AlreadySeen { session_id, seq } = o {
            assert_eq!((*session_id, *seq), (s.id, 1));
        }
    }
    let (session, transcript) = store.transcript(s.id).await.unwrap().unwrap();
    assert_eq!(transcript.len(), 1);
    assert_eq!(session.last_seq, 1);
    // AND a later redelivery, with a stale view, still changes nothing
    let again = store
        .append(&s, vec![customer_msg("hello", "SMdup0001")], None, now())
        .await
        .unwrap();
    assert_eq!(
        again,
        Appended::AlreadySeen {
            session_id: s.id,
            seq: 1
        }
    );
    let pid = ProviderMessageId::parse("SMdup0001").unwrap();
    let r = store
        .find_by_provider_id(Channel::Sms, &pid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((r.session_id, r.seq), (s.id, 1));
    // Provider ids are per channel: the same id on the widget is not a duplicate of the SMS one.
    assert_eq!(
        store
            .find_by_provider_id(Channel::Widget, &pid)
            .await
            .unwrap(),
        None
    );
}

async fn concurrent_appends_neither_lose_nor_double_a_seq(store: DynStore) {
    let (s, _) = store
        .find_or_open(&sms_key("+15551230007"), now())
        .await
        .unwrap();
    let outcomes = race(10, |i| {
        let (store, s) = (store.clone(), s.clone());
        // Every writer starts from the same (soon stale) view of the session.
        async move {
            store
                .append(
                    &s,
                    vec![customer_msg(&format!("m{i}"), &format!("SMc{i:04}"))],
                    None,
                    now(),
                )
                .await
                .unwrap()
        }
    })
    .await;
    for o in outcomes {
        stored(o);
    }
    let (session, transcript) = store.transcript(s.id).await.unwrap().unwrap();
    assert_eq!(session.last_seq, 10);
    assert_eq!(
        transcript.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );
    let texts: HashSet<&str> = transcript.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts.len(), 10);
}

async fn racing_handoff_requests_have_exactly_one_winner(store: DynStore) {
    let (s, _) = store
        .find_or_open(&sms_key("+15551230008"), now())
        .await
        .unwrap();
    let results = race(8, |i| {
        let store = store.clone();
        async move {
            store
                .transition(
                    s.id,
                    t(SessionState::Assistant, SessionState::HandoffRequested),
                    SessionChanges {
                        handoff_reason: Some(format!("reason {i}")),
                        ..Default::default()
                    },
                    now(),
                )
                .await
        }
    })
    .await;
    let winners: Vec<&Session> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one transition wins: {results:?}");
    for r in &results {
        if let Err(e) = r {
            assert!(
                matches!(
                    e,
                    StoreError::StateChanged {
                        expected: SessionState::Assistant,
                        actual: SessionState::HandoffRequested,
                        ..
                    }
                ),
                "{e:?}"
            );
        }
    }
    let session = store.session(s.id).await.unwrap().unwrap();
    assert_eq!(session.state, SessionState::HandoffRequested);
    assert_eq!(session.handoff_reason, winners[0].handoff_reason);
}

async fn a_message_and_its_handoff_land_together_once(store: DynStore) {
    // The handoff notice and the state change are one write; racing writers hand off once.
    let (s, _) = store
        .find_or_open(&sms_key("+15551230009"), now())
        .await
        .unwrap();
    let results = race(6, |_| {
        let (store, s) = (store.clone(), s.clone());
        async move {
            store
                .append(
                    &s,
                    vec![NewMessage::new(
                        Role::Assistant,
                        text("A person will follow up."),
                    )],
                    Some(StateChange {
                        transition: t(SessionState::Assistant, SessionState::HandoffRequested),
                        handoff_reason: Some("customer asked for a person".into()),
                    }),
                    now(),
                )
                .await
        }
    })
    .await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(results.iter().all(|r| match r {
        Ok(_) => true,
        Err(e) => matches!(e, StoreError::StateChanged { .. }),
    }));
    let (session, transcript) = store.transcript(s.id).await.unwrap().unwrap();
    assert_eq!(session.state, SessionState::HandoffRequested);
    assert_eq!(
        session.handoff_reason.as_deref(),
        Some("customer asked for a person")
    );
    assert_eq!(transcript.len(), 1, "the losers wrote no message");
}

async fn a_closed_session_never_reopens(store: DynStore) {
    let key = sms_key("+15551230010");
    let (s, _) = store.find_or_open(&key, now()).await.unwrap();
    let (s, _) = stored(
        store
            .append(&s, vec![customer_msg("hi", "SMcl0001")], None, now())
            .await
            .unwrap(),
    );
    let closed = store
        .transition(
            s.id,
            t(SessionState::Assistant, SessionState::Closed),
            SessionChanges::default(),
            now(),
        )
        .await
        .unwrap();
    assert_eq!(closed.state, SessionState::Closed);
    // Nothing more can be appended, even with a view from before the close.
    let err = store
        .append(
            &s,
            vec![customer_msg("still there?", "SMcl0002")],
            None,
            now(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Closed(id) if id == s.id),
        "{err:?}"
    );
    // No transition leaves closed (refused before it reaches the store) …
    assert!(Transition::new(SessionState::Closed, SessionState::Assistant).is_err());
    // … and a transition that assumed another state is refused by the store.
    let err = store
        .transition(
            s.id,
            t(SessionState::WithAgent, SessionState::Closed),
            SessionChanges::default(),
            now(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::StateChanged {
                actual: SessionState::Closed,
                ..
            } | StoreError::Closed(_)
        ),
        "{err:?}"
    );
    // The next message opens a new session for the same conversation.
    assert_eq!(store.active_session(&key).await.unwrap(), None);
    let (next, opened) = store.find_or_open(&key, now()).await.unwrap();
    assert!(opened);
    assert_ne!(next.id, s.id);
    assert_eq!(next.state, SessionState::Assistant);
    assert_eq!(next.last_seq, 0);
    assert_eq!(
        store.session(s.id).await.unwrap().unwrap().state,
        SessionState::Closed
    );
}

async fn a_session_is_found_by_its_creatio_case(store: DynStore) {
    let (s, _) = store
        .find_or_open(&sms_key("+15551230011"), now())
        .await
        .unwrap();
    store
        .transition(
            s.id,
            t(SessionState::Assistant, SessionState::HandoffRequested),
            SessionChanges::default(),
            now(),
        )
        .await
        .unwrap();
    let link = CreatioLink {
        case_id: s.id.case_id(),
        case_number: Some("SR00000042".into()),
        contact_id: Some(ContactId::parse("5e5e202a-f46b-1410-3692-0050ba5d6c38").unwrap()),
    };
    let with_agent = store
        .transition(
            s.id,
            t(SessionState::HandoffRequested, SessionState::WithAgent),
            SessionChanges {
                creatio: Some(link.clone()),
                ..Default::default()
            },
            now(),
        )
        .await
        .unwrap();
    assert_eq!(with_agent.creatio.as_ref(), Some(&link));
    let found = store.find_by_case(s.id.case_id()).await.unwrap().unwrap();
    assert_eq!(found.id, s.id);
    assert_eq!(found.creatio, Some(link));
    assert_eq!(found.state, SessionState::WithAgent);
    let unknown = SessionId::new_random().case_id();
    assert_eq!(store.find_by_case(unknown).await.unwrap(), None);

    // link_case records a link without a state change (case created early).
    let (other, _) = store
        .find_or_open(&sms_key("+15551230012"), now())
        .await
        .unwrap();
    let linked = store
        .link_case(
            other.id,
            CreatioLink {
                case_id: other.id.case_id(),
                case_number: None,
                contact_id: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(linked.state, SessionState::Assistant);
    assert_eq!(
        store
            .find_by_case(other.id.case_id())
            .await
            .unwrap()
            .unwrap()
            .id,
        other.id
    );
}

async fn the_watermark_only_moves_forward(store: DynStore) {
    let (s, _) = store
        .find_or_open(&sms_key("+15551230013"), now())
        .await
        .unwrap();
    let (s, _) = stored(
        store
            .append(
                &s,
                vec![
                    customer_msg("one", "SMw1"),
                    customer_msg("two", "SMw2"),
                    customer_msg("three", "SMw3"),
                ],
                None,
                now(),
            )
            .await
            .unwrap(),
    );
    assert_eq!(s.unsynced(), 1..=3);
    assert_eq!(
        store.advance_watermark(s.id, 2).await.unwrap().synced_seq,
        2
    );
    assert_eq!(
        store.advance_watermark(s.id, 1).await.unwrap().synced_seq,
        2,
        "never backwards"
    );
    assert_eq!(
        store.advance_watermark(s.id, 2).await.unwrap().synced_seq,
        2
    );
    let err = store.advance_watermark(s.id, 4).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::WatermarkPastEnd {
                seq: 4,
                last_seq: 3,
                ..
            }
        ),
        "{err:?}"
    );
    let session = store.session(s.id).await.unwrap().unwrap();
    assert_eq!(session.synced_seq, 2);
    assert_eq!(session.unsynced(), 3..=3);
    assert_eq!(
        store
            .advance_watermark(s.id, 3)
            .await
            .unwrap()
            .unsynced()
            .count(),
        0
    );
}

async fn delivery_status_is_recorded_on_the_outbound_message(store: DynStore) {
    let (s, _) = store
        .find_or_open(&sms_key("+15551230014"), now())
        .await
        .unwrap();
    let (s, msgs) = stored(
        store
            .append(
                &s,
                vec![NewMessage::new(Role::Agent, text("We refunded you."))],
                None,
                now(),
            )
            .await
            .unwrap(),
    );
    let seq = msgs[0].seq;
    let sid = ProviderMessageId::parse("SMout0001").unwrap();
    store
        .record_delivery(s.id, seq, DeliveryStatus::Sent, Some(&sid))
        .await
        .unwrap();
    // The status callback finds the message by the provider's id …
    let r = store
        .find_by_provider_id(Channel::Sms, &sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((r.session_id, r.seq), (s.id, seq));
    // … and records the outcome.
    let failed = DeliveryStatus::Undelivered {
        error_code: Some("30003".into()),
    };
    store
        .record_delivery(s.id, seq, failed.clone(), None)
        .await
        .unwrap();
    let (_, transcript) = store.transcript(s.id).await.unwrap().unwrap();
    assert_eq!(transcript[0].delivery, Some(failed));
    assert_eq!(transcript[0].provider_id.as_ref(), Some(&sid));
    let err = store
        .record_delivery(s.id, 99, DeliveryStatus::Delivered, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NoSuchMessage { seq: 99, .. }),
        "{err:?}"
    );
}

async fn polling_reads_only_what_is_new(store: DynStore) {
    let (s, _) = store
        .find_or_open(&sms_key("+15551230015"), now())
        .await
        .unwrap();
    let (s, _) = stored(
        store
            .append(
                &s,
                vec![
                    customer_msg("a", "SMp1"),
                    NewMessage::new(Role::Assistant, text("b")),
                ],
                None,
                now(),
            )
            .await
            .unwrap(),
    );
    assert_eq!(store.messages_after(s.id, 0, 50).await.unwrap().len(), 2);
    let after1 = store.messages_after(s.id, 1, 50).await.unwrap();
    assert_eq!(after1.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![2]);
    assert!(store.messages_after(s.id, 2, 50).await.unwrap().is_empty());
    assert!(
        store
            .messages_after(s.id, 500, 50)
            .await
            .unwrap()
            .is_empty()
    );
    // A page at most: the oldest new ones first.
    let page = store.messages_after(s.id, 0, 1).await.unwrap();
    assert_eq!(page.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![1]);
}

async fn a_long_conversation_is_read_in_a_window_of_its_latest_messages(store: DynStore) {
    let (s, _) = store
        .find_or_open(&sms_key("+15551230061"), now())
        .await
        .unwrap();
    let batch: Vec<NewMessage> = (1..=30)
        .map(|i| NewMessage::new(Role::Customer, text(&format!("message {i}"))))
        .collect();
    stored(store.append(&s, batch, None, now()).await.unwrap());
    let (session, recent) = store.recent(s.id, 5).await.unwrap().unwrap();
    assert_eq!(session.last_seq, 30);
    assert_eq!(
        recent.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![26, 27, 28, 29, 30]
    );
    let (_, all) = store.recent(s.id, 100).await.unwrap().unwrap();
    assert_eq!(all.len(), 30);
    assert!(
        store
            .recent(SessionId::new_random(), 5)
            .await
            .unwrap()
            .is_none()
    );
    // What the customer wrote is counted on the session: bytes of text and attachments.
    assert_eq!(
        session.customer_bytes,
        (1..=30)
            .map(|i| format!("message {i}").len() as u64)
            .sum::<u64>()
    );
    let with_file =
        NewMessage::new(Role::Customer, text("see file")).with_attachments(vec![Attachment {
            url: "https://x/a".into(),
            content_type: None,
        }]);
    let (after, _) = stored(
        store
            .append(
                &session,
                vec![with_file, NewMessage::new(Role::Assistant, text("thanks"))],
                None,
                now(),
            )
            .await
            .unwrap(),
    );
    assert_eq!(after.customer_attachments, 1);
    assert_eq!(after.customer_bytes, session.customer_bytes + 8);
    let read = store.session(s.id).await.unwrap().unwrap();
    assert_eq!(
        (read.customer_bytes, read.customer_attachments),
        (after.customer_bytes, 1)
    );
    // An open turn reads the window too.
    let turn = store
        .open_turn(&sms_key("+15551230061"), now())
        .await
        .unwrap();
    assert_eq!(
        turn.transcript.len(),
        32.min(casebridge::store::TRANSCRIPT_WINDOW)
    );
    assert_eq!(turn.transcript.last().unwrap().seq, 32);
}

async fn allowances_are_counted_per_key_and_window(store: DynStore) {
    use casebridge::store::Allowance;
    use std::time::Duration;
    let hour = Duration::from_secs(3600);
    let t: Timestamp = "2026-12-04T10:15:00Z".parse().unwrap();
    for _ in 0..3 {
        assert_eq!(
            store
                .take_allowance("ip:sessions:192.0.2.1", hour, 3, t)
                .await
                .unwrap(),
            Allowance::Granted
        );
    }
    // The fourth in the same hour is refused until the next hour starts.
    assert_eq!(
        store
            .take_allowance("ip:sessions:192.0.2.1", hour, 3, t)
            .await
            .unwrap(),
        Allowance::Exhausted {
            retry_after: Duration::from_secs(45 * 60)
        }
    );
    // Another address is counted apart; the next window starts afresh.
    assert_eq!(
        store
            .take_allowance("ip:sessions:192.0.2.2", hour, 3, t)
            .await
            .unwrap(),
        Allowance::Granted
    );
    let next = t + jiff::SignedDuration::from_mins(50);
    assert_eq!(
        store
            .take_allowance("ip:sessions:192.0.2.1", hour, 3, next)
            .await
            .unwrap(),
        Allowance::Granted
    );
}

async fn sync_errors_are_recorded_and_cleared(store: DynStore) {
    let (s, _) = store
        .find_or_open(&sms_key("+15551230016"), now())
        .await
        .unwrap();
    store
        .set_sync_error(s.id, Some("Creatio: Column UsrCategory not found".into()))
        .await
        .unwrap();
    assert_eq!(
        store
            .session(s.id)
            .await
            .unwrap()
            .unwrap()
            .sync_error
            .as_deref(),
        Some("Creatio: Column UsrCategory not found")
    );
    store.set_sync_error(s.id, None).await.unwrap();
    assert_eq!(store.session(s.id).await.unwrap().unwrap().sync_error, None);
}

async fn unknown_sessions_are_reported_as_such(store: DynStore) {
    let ghost = SessionId::new_random();
    assert_eq!(store.session(ghost).await.unwrap(), None);
    assert_eq!(store.transcript(ghost).await.unwrap(), None);
    let err = store
        .transition(
            ghost,
            t(SessionState::Assistant, SessionState::Closed),
            SessionChanges::default(),
            now(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(id) if id == ghost),
        "{err:?}"
    );
    assert!(matches!(
        store.set_sync_error(ghost, None).await,
        Err(StoreError::NotFound(_))
    ));
    let fake = Session::open(sms_key("+15551230017"), now());
    let err = store
        .append(&fake, vec![customer_msg("x", "SMghost")], None, now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

fn activity() -> ActivityId {
    ActivityId::from_uuid(uuid::Uuid::new_v4())
}

async fn an_activity_is_queued_once_and_moves_only_from_the_state_named(store: DynStore) {
    let a = activity();
    let case = CaseId::from_uuid(uuid::Uuid::new_v4());
    // GIVEN the webhook and the catch-up both report the same activity
    assert!(
        store
            .enqueue(a, None, OutboxSource::Webhook, now())
            .await
            .unwrap()
    );
    assert!(
        !store
            .enqueue(a, Some(case), OutboxSource::CatchUp, now())
            .await
            .unwrap()
    );
    // THEN it is recorded once, as the first report made it
    let e = store.outbox_entry(a).await.unwrap().unwrap();
    assert_eq!(
        (e.state, e.source, e.case_id, e.attempts),
        (OutboxState::Queued, OutboxSource::Webhook, None, 0)
    );
    // WHEN a delivery attempt fails twice, the attempts are counted
    for _ in 0..2 {
        let e = store
            .change_outbox(
                a,
                OutboxChange::from_deliverable(OutboxState::Retrying)
                    .with_case(case)
                    .with_outcome("Twilio is unavailable")
                    .counting_a_failure(),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(e.state, OutboxState::Retrying);
    }
    let e = store.outbox_entry(a).await.unwrap().unwrap();
    assert_eq!((e.attempts, e.case_id), (2, Some(case)));
    assert_eq!(e.outcome.as_deref(), Some("Twilio is unavailable"));
    assert_eq!(store.unfinished_outbox().await.unwrap(), vec![e.clone()]);
    // AND of eight racing deliveries that finish it, exactly one moves it
    let wins = race(8, |i| {
        let store = store.clone();
        async move {
            store
                .change_outbox(
                    a,
                    OutboxChange::from_deliverable(OutboxState::Done)
                        .with_outcome(format!("sent {i}")),
                )
                .await
                .unwrap()
                .is_some()
        }
    })
    .await;
    assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{wins:?}");
    let e = store.outbox_entry(a).await.unwrap().unwrap();
    assert_eq!(e.state, OutboxState::Done);
    // A finished entry is not delivered again, nor queued again.
    assert!(
        store
            .change_outbox(a, OutboxChange::from_deliverable(OutboxState::Done))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .change_outbox(a, OutboxChange::requeue())
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.unfinished_outbox().await.unwrap().is_empty());
    // Unknown activities have no entry, and changing one changes nothing.
    let ghost = activity();
    assert_eq!(store.outbox_entry(ghost).await.unwrap(), None);
    assert!(
        store
            .change_outbox(ghost, OutboxChange::from_deliverable(OutboxState::Done))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.outbox_entry(ghost).await.unwrap(), None);
}

async fn a_waiting_reply_is_found_by_its_case_and_queued_again(store: DynStore) {
    // GIVEN a session linked to a case, and replies on that case and on another
    let (s, _) = store
        .find_or_open(&sms_key("+15551230051"), now())
        .await
        .unwrap();
    let case = s.id.case_id();
    let other_case = CaseId::from_uuid(uuid::Uuid::new_v4());
    let (waiting, other, queued) = (activity(), activity(), activity());
    for a in [waiting, other, queued] {
        store
            .enqueue(a, None, OutboxSource::Webhook, now())
            .await
            .unwrap();
    }
    for (a, c) in [(waiting, case), (other, other_case)] {
        store
            .change_outbox(
                a,
                OutboxChange::from_deliverable(OutboxState::Waiting)
                    .with_case(c)
                    .with_outcome("no conversation for this case yet"),
            )
            .await
            .unwrap()
            .unwrap();
    }
    store
        .change_outbox(
            queued,
            OutboxChange::from_deliverable(OutboxState::Retrying).with_case(case),
        )
        .await
        .unwrap()
        .unwrap();
    store
        .link_case(
            s.id,
            CreatioLink {
                case_id: case,
                case_number: None,
                contact_id: None,
            },
        )
        .await
        .unwrap();
    // THEN the case's session is still found by it, though outbox entries name the case too
    assert_eq!(store.find_by_case(case).await.unwrap().unwrap().id, s.id);
    assert_eq!(store.find_by_case(other_case).await.unwrap(), None);
    // AND only the entry waiting on this case is listed for it
    let w = store.waiting_for_case(case).await.unwrap();
    assert_eq!(
        w.iter().map(|e| e.activity_id).collect::<Vec<_>>(),
        [waiting]
    );
    // WHEN it is queued again, it is queued and no longer waiting
    let e = store
        .change_outbox(waiting, OutboxChange::requeue())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.state, OutboxState::Queued);
    assert!(store.waiting_for_case(case).await.unwrap().is_empty());
    // AND the batch read finds exactly the known ones
    let mut found: Vec<ActivityId> = store
        .outbox_entries(&[waiting, activity(), other, queued, activity()])
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.activity_id)
        .collect();
    found.sort();
    let mut expected = vec![waiting, other, queued];
    expected.sort();
    assert_eq!(found, expected);
    assert!(store.outbox_entries(&[]).await.unwrap().is_empty());
}

async fn a_status_check_counts_reports_and_finishes_only_what_it_saw(store: DynStore) {
    let case = CaseId::from_uuid(uuid::Uuid::new_v4());
    assert_eq!(store.status_check(case).await.unwrap(), None);
    // GIVEN a case reported changed: its check is queued
    let first = store.request_status_check(case, now()).await.unwrap();
    assert_eq!(
        (first.state, first.reports, first.case_id),
        (OutboxState::Queued, 1, case)
    );
    // WHEN its check fails for now, it is retrying, with the failure and the attempt counted
    assert!(
        store
            .finish_status_check(case, 1, OutboxState::Retrying, "Creatio: 503")
            .await
            .unwrap()
    );
    let c = store.status_check(case).await.unwrap().unwrap();
    assert_eq!((c.state, c.attempts), (OutboxState::Retrying, 1));
    assert_eq!(c.outcome.as_deref(), Some("Creatio: 503"));
    assert_eq!(
        store
            .unfinished_status_checks()
            .await
            .unwrap()
            .iter()
            .map(|c| c.case_id)
            .collect::<Vec<_>>(),
        [case]
    );
    // AND a report during a check queues it again, so the older check cannot mark it done
    let second = store.request_status_check(case, now()).await.unwrap();
    assert_eq!(
        (second.state, second.reports, second.attempts),
        (OutboxState::Queued, 2, 0)
    );
    assert!(
        !store
            .finish_status_check(case, 1, OutboxState::Done, "still open")
            .await
            .unwrap()
    );
    assert_eq!(
        store.status_check(case).await.unwrap().unwrap().state,
        OutboxState::Queued
    );
    // THEN the check that saw both reports finishes it
    assert!(
        store
            .finish_status_check(case, 2, OutboxState::Done, "closed")
            .await
            .unwrap()
    );
    assert!(store.unfinished_status_checks().await.unwrap().is_empty());
    // AND a case nobody reported has nothing to finish
    let other = CaseId::from_uuid(uuid::Uuid::new_v4());
    assert!(
        !store
            .finish_status_check(other, 1, OutboxState::Done, "x")
            .await
            .unwrap()
    );
    assert_eq!(store.status_check(other).await.unwrap(), None);
}

async fn a_customers_data_is_found_and_erased_and_no_one_elses(store: DynStore) {
    use casebridge::store::{Erasure, Gap};
    let ann = Customer::Phone(PhoneNumber::parse("+15551230071", None).unwrap());
    let (ann_1, bob) = (sms_key("+15551230071"), sms_key("+15551230072"));
    let mut ann_2 = ann_1.clone();
    ann_2.endpoint = "+15550000071".into();
    // GIVEN Ann: a closed conversation with a reply in the outbox, a status check and an
    // unanswered question, an open one on another of our numbers, and her opt-out
    let (first, _) = store.find_or_open(&ann_1, now()).await.unwrap();
    store
        .append(
            &first,
            vec![customer_msg("where is my parcel", "SMa071")],
            None,
            now(),
        )
        .await
        .unwrap();
    store
        .transition(
            first.id,
            t(SessionState::Assistant, SessionState::Closed),
            SessionChanges::default(),
            now(),
        )
        .await
        .unwrap();
    let activity = ActivityId::from_uuid(uuid::Uuid::new_v4());
    let case = first.id.case_id();
    store
        .enqueue(activity, Some(case), OutboxSource::Webhook, now())
        .await
        .unwrap();
    store.request_status_check(case, now()).await.unwrap();
    let gap = |session: SessionId, question: &str| Gap {
        session,
        question: question.into(),
        score: None,
        at: now(),
    };
    store
        .record_gap(&gap(first.id, "where is my parcel"))
        .await
        .unwrap();
    let (second, _) = store.find_or_open(&ann_2, now()).await.unwrap();
    store
        .append(
            &second,
            vec![customer_msg("hello again", "SMa072")],
            None,
            now(),
        )
        .await
        .unwrap();
    store
        .set_consent(&ann, Consent::OptedOut { since: now() }, now())
        .await
        .unwrap();
    // AND Bob, with his own conversation and question
    let (bobs, _) = store.find_or_open(&bob, now()).await.unwrap();
    store
        .append(
            &bobs,
            vec![customer_msg("opening hours?", "SMb071")],
            None,
            now(),
        )
        .await
        .unwrap();
    store
        .record_gap(&gap(bobs.id, "opening hours?"))
        .await
        .unwrap();
    // WHEN Ann's data is looked for, THEN both her conversations and what hangs off them
    let found = store.customer_sessions(&ann).await.unwrap();
    assert_eq!(
        found.iter().map(|s| s.id).collect::<Vec<_>>(),
        [first.id, second.id]
    );
    let records = store.session_records(&found[0]).await.unwrap();
    assert_eq!(records.outbox.len(), 1);
    assert_eq!(records.status_check.map(|c| c.case_id), Some(case));
    assert_eq!(records.gaps.len(), 1);
    // WHEN it is erased
    let mut items = 0;
    for s in &found {
        items += store.erase_session(s).await.unwrap();
    }
    assert!(items >= 8, "{items} items removed");
    // THEN nothing of Ann is left but her opt-out, and a message arriving for an erased
    // conversation is refused rather than written into what was emptied
    assert!(
        store
            .append(&second, vec![customer_msg("late", "SMa073")], None, now())
            .await
            .is_err()
    );
    assert!(store.customer_sessions(&ann).await.unwrap().is_empty());
    assert_eq!(store.session(first.id).await.unwrap(), None);
    assert_eq!(store.active_session(&ann_2).await.unwrap(), None);
    for sid in ["SMa071", "SMa072"] {
        let pid = ProviderMessageId::parse(sid).unwrap();
        assert_eq!(
            store.find_by_provider_id(Channel::Sms, &pid).await.unwrap(),
            None
        );
    }
    assert_eq!(store.outbox_entry(activity).await.unwrap(), None);
    assert_eq!(store.status_check(case).await.unwrap(), None);
    let day = jiff::SignedDuration::from_hours(24);
    let questions: Vec<String> = store
        .gaps(now() - day, now() + day)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.question)
        .collect();
    assert_eq!(questions, ["opening hours?"]);
    assert!(matches!(
        store.consent(&ann).await.unwrap(),
        Consent::OptedOut { .. }
    ));
    // AND Bob's is untouched
    assert_eq!(
        store
            .customer_sessions(&Customer::Phone(
                PhoneNumber::parse("+15551230072", None).unwrap()
            ))
            .await
            .unwrap()
            .len(),
        1
    );
    let pid = ProviderMessageId::parse("SMb071").unwrap();
    assert!(
        store
            .find_by_provider_id(Channel::Sms, &pid)
            .await
            .unwrap()
            .is_some()
    );
    // AND the erasure is recorded, without who
    let erasure = Erasure {
        at: now(),
        sessions: 2,
        items,
        attachments: 0,
        cases: vec![case.to_string()],
    };
    store.record_erasure(&erasure).await.unwrap();
    assert_eq!(store.erasures().await.unwrap(), [erasure]);
}

async fn the_catchup_marks_only_move_forward(store: DynStore) {
    assert_eq!(
        store.catchup_marks().await.unwrap(),
        CatchUpMarks::default()
    );
    // Creatio's times carry microseconds: they survive the round trip.
    let t0: Timestamp = "2026-12-01T10:00:00.323936Z".parse().unwrap();
    let c0: Timestamp = "2026-12-01T09:00:00Z".parse().unwrap();
    store
        .advance_catchup_mark(CatchUpMark::Activities, t0)
        .await
        .unwrap();
    store
        .advance_catchup_mark(CatchUpMark::Cases, c0)
        .await
        .unwrap();
    let marks = store.catchup_marks().await.unwrap();
    assert_eq!((marks.activities, marks.cases), (Some(t0), Some(c0)));
    store
        .advance_catchup_mark(
            CatchUpMark::Activities,
            t0 - jiff::SignedDuration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(store.catchup_marks().await.unwrap().activities, Some(t0));
    let t1 = t0 + jiff::SignedDuration::from_micros(1);
    store
        .advance_catchup_mark(CatchUpMark::Activities, t1)
        .await
        .unwrap();
    let marks = store.catchup_marks().await.unwrap();
    assert_eq!((marks.activities, marks.cases), (Some(t1), Some(c0)));
}

async fn unanswered_questions_are_kept_and_read_by_period(store: DynStore) {
    use casebridge::store::Gap;
    // GIVEN questions nobody answered on two days, one with a score
    let id = SessionId::new_random();
    let d1: Timestamp = "2026-12-01T23:59:00Z".parse().unwrap();
    let d2: Timestamp = "2026-12-02T08:00:00.5Z".parse().unwrap();
    let gap = |q: &str, at, score| Gap {
        session: id,
        question: q.into(),
        score,
        at,
    };
    store
        .record_gap(&gap("Do you sell bicycles?", d1, Some(0.25)))
        .await
        .unwrap();
    store
        .record_gap(&gap("Can I pay in bitcoin?", d2, None))
        .await
        .unwrap();
    // WHEN a period is read THEN what falls in it comes back, oldest first, as recorded
    let all = store
        .gaps(d1 - jiff::SignedDuration::from_hours(1), d2)
        .await
        .unwrap();
    assert_eq!(
        all,
        vec![
            gap("Do you sell bicycles?", d1, Some(0.25)),
            gap("Can I pay in bitcoin?", d2, None)
        ]
    );
    let later = store
        .gaps(d1 + jiff::SignedDuration::from_secs(1), d2)
        .await
        .unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].question, "Can I pay in bitcoin?");
}

async fn the_read_mark_and_its_watermark_only_move_forward(store: DynStore) {
    let (s, _) = store
        .find_or_open(&sms_key("+15551230019"), now())
        .await
        .unwrap();
    let (s, _) = stored(
        store
            .append(
                &s,
                vec![customer_msg("one", "SMr1"), customer_msg("two", "SMr2")],
                None,
                now(),
            )
            .await
            .unwrap(),
    );
    // Forward only, never past the last message.
    assert!(store.mark_read(s.id, 1, now()).await.unwrap());
    assert!(!store.mark_read(s.id, 1, now()).await.unwrap());
    assert!(!store.mark_read(s.id, 3, now()).await.unwrap());
    assert!(store.mark_read(s.id, 2, now()).await.unwrap());
    let read = store.session(s.id).await.unwrap().unwrap();
    assert_eq!(read.read.map(|r| r.seq), Some(2));
    assert_eq!(read.read_synced_seq, 0);
    // The case's watermark: forward only too; the mark survives an append.
    store.advance_read_watermark(s.id, 2).await.unwrap();
    store.advance_read_watermark(s.id, 1).await.unwrap();
    let (s, _) = stored(
        store
            .append(&read, vec![customer_msg("three", "SMr3")], None, now())
            .await
            .unwrap(),
    );
    let s = store.session(s.id).await.unwrap().unwrap();
    assert_eq!((s.read.map(|r| r.seq), s.read_synced_seq), (Some(2), 2));
    assert!(matches!(
        store.mark_read(SessionId::new_random(), 1, now()).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn widget_sockets_are_listed_per_session_until_removed_or_expired(store: DynStore) {
    use casebridge::widget::socket::ConnectionId;
    // GIVEN two tabs of one conversation and one of another
    let (a, b) = (SessionId::new_random(), SessionId::new_random());
    let now = Timestamp::now();
    let c = |s: &str| ConnectionId::parse(s).unwrap();
    store.add_connection(a, &c("tab1+A="), now).await.unwrap();
    store.add_connection(a, &c("tab2/A="), now).await.unwrap();
    store.add_connection(b, &c("tab1_B="), now).await.unwrap();
    // WHEN a session's sockets are read THEN its own, and only those, come back
    let mut of_a = store.connections(a, now).await.unwrap();
    of_a.sort();
    assert_eq!(of_a, vec![c("tab1+A="), c("tab2/A=")]);
    assert_eq!(store.connections(b, now).await.unwrap(), vec![c("tab1_B=")]);
    // AND a socket removed by its id alone ($disconnect names nothing else) is gone, and its
    // session was known
    assert_eq!(
        store.remove_connection(&c("tab1+A="), None).await.unwrap(),
        Some(a)
    );
    assert_eq!(store.connections(a, now).await.unwrap(), vec![c("tab2/A=")]);
    assert_eq!(
        store.remove_connection(&c("tab1+A="), None).await.unwrap(),
        None
    );
    // AND one to be forgotten only if opened before a time it was not opened before stays (a 410
    // while its handshake finishes)
    let earlier = now - jiff::SignedDuration::from_secs(10);
    assert_eq!(
        store
            .remove_connection(&c("tab2/A="), Some(earlier))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.connections(a, now).await.unwrap(), vec![c("tab2/A=")]);
    // AND past API Gateway's longest connection, a socket is no longer listed (before the
    // table's TTL deletes it)
    let later =
        now + casebridge::widget::socket::CONNECTION_LIFETIME + jiff::SignedDuration::from_secs(1);
    assert!(store.connections(a, later).await.unwrap().is_empty());
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::memory_store().unwrap()).await
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(store) = super::dynamo_store().await {
                        super::$name(store).await
                    }
                }
            )*
        }
    };
}

contract!(
    find_or_open_returns_the_same_session_per_conversation,
    concurrent_find_or_open_agrees_on_one_session,
    appends_get_gap_free_seqs_and_read_back_in_order,
    attachments_are_kept_by_reference,
    the_assistant_fallback_flag_is_kept,
    an_actions_card_is_kept_with_its_answer,
    consent_outlives_sessions_and_is_per_customer,
    a_turn_reads_the_session_its_transcript_and_consent,
    sessions_needing_sync_are_listed_for_replay,
    an_anonymous_session_can_be_linked_to_a_verified_identity,
    a_redelivered_message_is_stored_once,
    concurrent_appends_neither_lose_nor_double_a_seq,
    racing_handoff_requests_have_exactly_one_winner,
    a_message_and_its_handoff_land_together_once,
    a_closed_session_never_reopens,
    a_session_is_found_by_its_creatio_case,
    the_watermark_only_moves_forward,
    delivery_status_is_recorded_on_the_outbound_message,
    polling_reads_only_what_is_new,
    sync_errors_are_recorded_and_cleared,
    unknown_sessions_are_reported_as_such,
    an_activity_is_queued_once_and_moves_only_from_the_state_named,
    a_waiting_reply_is_found_by_its_case_and_queued_again,
    the_catchup_marks_only_move_forward,
    a_status_check_counts_reports_and_finishes_only_what_it_saw,
    a_customers_data_is_found_and_erased_and_no_one_elses,
    a_long_conversation_is_read_in_a_window_of_its_latest_messages,
    allowances_are_counted_per_key_and_window,
    unanswered_questions_are_kept_and_read_by_period,
    widget_sockets_are_listed_per_session_until_removed_or_expired,
    the_read_mark_and_its_watermark_only_move_forward,
);

// ---- DynamoDB-only: what the table itself must look like --------------------------------------

#[tokio::test]
async fn dynamodb_items_carry_a_ttl_and_the_table_has_ttl_enabled() {
    let Some(store) = fresh_dynamo().await else {
        return;
    };
    let at = Timestamp::now();
    let (s, _) = store
        .find_or_open(&sms_key("+15551230018"), at)
        .await
        .unwrap();
    stored(
        store
            .append(&s, vec![customer_msg("x", "SMttl1")], None, at)
            .await
            .unwrap(),
    );
    let client = store.client();
    let ttl = client
        .describe_time_to_live()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    let desc = ttl.time_to_live_description.unwrap();
    assert_eq!(desc.attribute_name.as_deref(), Some("expires_at"));
    let items = client
        .scan()
        .table_name(store.table())
        .send()
        .await
        .unwrap()
        .items
        .unwrap();
    // session, active pointer, message, provider id
    assert_eq!(items.len(), 4, "{items:?}");
    let expected = Retention::default().expires_at(at);
    for item in items {
        let exp: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
        assert!((exp - expected).abs() <= 1, "{exp} vs {expected}");
    }
}

#[tokio::test]
async fn dynamodb_a_refused_append_writes_nothing_at_all() {
    // A closed session must refuse the *whole* transaction: no message, no provider-id item.
    let Some(store) = fresh_dynamo().await else {
        return;
    };
    let (s, _) = store
        .find_or_open(&sms_key("+15551230019"), now())
        .await
        .unwrap();
    store
        .transition(
            s.id,
            t(SessionState::Assistant, SessionState::Closed),
            SessionChanges::default(),
            now(),
        )
        .await
        .unwrap();
    assert!(
        store
            .append(&s, vec![customer_msg("late", "SMlate")], None, now())
            .await
            .is_err()
    );
    let pid = ProviderMessageId::parse("SMlate").unwrap();
    assert_eq!(
        store.find_by_provider_id(Channel::Sms, &pid).await.unwrap(),
        None
    );
    let (_, transcript) = store.transcript(s.id).await.unwrap().unwrap();
    assert!(transcript.is_empty());
}
