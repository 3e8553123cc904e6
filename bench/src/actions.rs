//! What one action adds to an answered turn: the `rules` assistant answering "where is my order
//! 5511" from the sample shop's order API on loopback (the local stack's demo actions), against
//! the same assistant answering an FAQ question, on the same concierge. The store's requests are
//! the same for both (the turn's one read and one write); the action adds one HTTP request to
//! the team's API, and its latency.
//!
//! `cargo run --release -p casebridge-bench -- actions` prints only this section.

use std::sync::Arc;
use std::time::{Duration, Instant};

use casebridge::assistant::rules::RulesAssistant;
use casebridge::assistant::{Concierge, Decision, Settings};
use casebridge::domain::*;
use creatio_sandbox::shop::{DEMO_TOKEN, ShopStandIn, demo_actions, sample_orders};

type Error = Box<dyn std::error::Error>;

const TURNS: usize = 200;

async fn timed(c: &Concierge, question: &str) -> Result<(Duration, bool), Error> {
    let session = Session::open(
        ConversationKey::new(
            Channel::Sms,
            Customer::Phone(PhoneNumber::parse("+15551230001", None)?),
            "+15557654321",
        ),
        jiff::Timestamp::now(),
    );
    let transcript = vec![
        NewMessage::new(Role::Customer, MessageText::parse(question)?)
            .stored(1, jiff::Timestamp::now()),
    ];
    let started = Instant::now();
    let d = c
        .respond(&session, &transcript, jiff::Timestamp::now())
        .await;
    let elapsed = started.elapsed();
    Ok((
        elapsed,
        matches!(
            d,
            Decision::Reply {
                fallback: false,
                ..
            }
        ),
    ))
}

pub async fn run() -> Result<(), Error> {
    let shop = ShopStandIn::start(DEMO_TOKEN, sample_orders()).await?;
    let text = format!(
        "{}{}",
        Settings::embedded_text(),
        demo_actions(&shop.url, &format!("Bearer {DEMO_TOKEN}"))
    );
    let settings = Settings::parse(&text)?;
    let actions = Concierge::actions_from(&settings, &|_| None)?.ok_or("no actions")?;
    let c = Concierge::new(Arc::new(RulesAssistant::default()), Arc::new(settings))
        .with_actions(actions);
    println!(
        "\n## Actions: what one action adds to an answered turn (rules assistant, loopback API)\n"
    );
    println!(
        "| turn | answered | median | p99 | requests to the team's API a turn |\n|---|---|---|---|---|"
    );
    for (what, question) in [
        ("FAQ answer", "What is your return policy?"),
        ("order status from the action", "where is my order 5511"),
    ] {
        let before = shop.requests().len();
        let mut times = Vec::with_capacity(TURNS);
        let mut answered = 0;
        for _ in 0..TURNS {
            let (t, ok) = timed(&c, question).await?;
            times.push(t);
            answered += usize::from(ok);
        }
        times.sort();
        let calls = (shop.requests().len() - before) as f64 / TURNS as f64;
        println!(
            "| {what} | {answered} of {TURNS} | {:.2?} | {:.2?} | {calls:.0} |",
            times[TURNS / 2],
            times[TURNS * 99 / 100]
        );
    }
    println!(
        "\nThe DynamoDB requests of a turn do not change (the action's answer is stored in the \
         same write as the question); the added cost is the API call: one request, its latency \
         (here over loopback; a real API adds its own), and nothing when no trigger matches."
    );
    Ok(())
}
