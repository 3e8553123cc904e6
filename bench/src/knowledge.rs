//! The knowledge figures: how often the right article is found (hit@1, hit@3) on the question
//! set in `bench/knowledge/` (its held-out part never used for tuning), how many of those
//! questions the `rules` assistant answers without a person before and after the articles, and
//! what the index costs at 2,000 articles (snapshot size, build and load time, time to answer).
//!
//! `cargo run --release -p casebridge-bench -- knowledge` prints only this section; with
//! `--misses` it also lists the `tune` questions whose article is not in the top three (never
//! the held-out ones: they are what the figures are judged on).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use casebridge::assistant::rules::RulesAssistant;
use casebridge::assistant::{Concierge, Decision, Settings};
use casebridge::domain::*;
use casebridge::knowledge::snapshot::Snapshot;
use casebridge::knowledge::{Article, Index, Knowledge, KnowledgeConfig, folder};

type Error = Box<dyn std::error::Error>;

fn set_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge")
}

struct Question {
    split: String,
    lang: String,
    article: String,
    text: String,
}

fn questions() -> Result<Vec<Question>, Error> {
    let tsv = std::fs::read_to_string(set_dir().join("questions.tsv"))?;
    Ok(tsv
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some(Question {
                split: f.next()?.to_owned(),
                lang: f.next()?.to_owned(),
                article: f.next()?.to_owned(),
                text: f.next()?.to_owned(),
            })
        })
        .collect())
}

#[derive(Default)]
struct Hits {
    n: usize,
    at1: usize,
    at3: usize,
}

impl Hits {
    fn row(&self, what: &str) -> String {
        let pct = |k: usize| 100.0 * k as f64 / self.n.max(1) as f64;
        format!(
            "| {what} | {} | {:.0} % | {:.0} % |",
            self.n,
            pct(self.at1),
            pct(self.at3)
        )
    }
}

fn session() -> Session {
    let customer = Customer::Phone(
        PhoneNumber::parse("+15551230001", None)
            .unwrap_or_else(|_| unreachable!("a fixed valid number")),
    );
    Session::open(
        ConversationKey::new(Channel::Widget, customer, "bench"),
        jiff::Timestamp::now(),
    )
}

async fn answered(c: &Concierge, question: &str) -> Option<String> {
    let text = MessageText::parse(question).ok()?;
    let t = vec![NewMessage::new(Role::Customer, text).stored(1, jiff::Timestamp::now())];
    match c.respond(&session(), &t, jiff::Timestamp::now()).await {
        Decision::Reply {
            text,
            fallback: false,
            ..
        } => Some(text.as_str().to_owned()),
        _ => None,
    }
}

/// 2,000 articles: the set's 40, 50 times over, each copy with its own id, title and numbers.
fn many(articles: &[Article]) -> Vec<Article> {
    (0..50)
        .flat_map(|copy| {
            articles.iter().map(move |a| Article {
                id: format!("{copy}-{}", a.id),
                title: format!("{} (model {copy})", a.title),
                body: format!("{}\nApplies to model {copy}.", a.body),
                keywords: a.keywords.clone(),
                url: a.url.clone(),
            })
        })
        .collect()
}

pub async fn run() -> Result<(), Error> {
    let articles = folder::read(&set_dir().join("articles"))?;
    let questions = questions()?;
    let index = Index::build(articles.clone());
    println!("\n## Knowledge: finding the right article\n");
    println!(
        "{} articles, {} questions (`bench/knowledge/`, written by hand; `heldout` never used for tuning).\n",
        articles.len(),
        questions.len()
    );
    println!("| questions | n | hit@1 | hit@3 |\n|---|---|---|---|");
    let mut by: BTreeMap<String, Hits> = BTreeMap::new();
    for q in &questions {
        let top = index.top(&q.text, None, 3);
        let at = top.iter().position(|h| h.article.id == q.article);
        if at.is_none() && q.split == "tune" && std::env::args().any(|a| a == "--misses") {
            let found: Vec<&str> = top.iter().map(|h| h.article.id.as_str()).collect();
            println!("miss: {} -> {:?} (wanted {})", q.text, found, q.article);
        }
        for key in [
            format!("{} (all languages)", q.split),
            format!("{}, {}", q.split, q.lang),
        ] {
            let h = by.entry(key).or_default();
            h.n += 1;
            h.at1 += usize::from(at == Some(0));
            h.at3 += usize::from(at.is_some());
        }
    }
    for (what, h) in &by {
        println!("{}", h.row(what));
    }
    let heldout = by.get("heldout (all languages)");
    let met = heldout.is_some_and(|h| h.at3 * 10 >= h.n * 9);
    println!(
        "\nGoal: hit@3 ≥ 90 % on the held-out part: {} ({} of {}).",
        if met { "met" } else { "**missed**" },
        heldout.map_or(0, |h| h.at3),
        heldout.map_or(0, |h| h.n)
    );

    // The rules assistant on each question as the first message of a conversation.
    let faq_only = Concierge::embedded_default();
    let knowledge = Arc::new(Knowledge::new(KnowledgeConfig::folder(
        set_dir().join("articles"),
    )));
    let with_articles = Concierge::new(
        Arc::new(RulesAssistant::with_knowledge(knowledge.clone())),
        Arc::new(Settings::embedded()),
    )
    .with_knowledge(knowledge);
    let titles: BTreeMap<&str, &str> = articles
        .iter()
        .map(|a| (a.id.as_str(), a.title.as_str()))
        .collect();
    let (mut before, mut after, mut right) = (0, 0, 0);
    let started = Instant::now();
    for q in &questions {
        before += usize::from(answered(&faq_only, &q.text).await.is_some());
        if let Some(a) = answered(&with_articles, &q.text).await {
            after += 1;
            right += usize::from(
                titles
                    .get(q.article.as_str())
                    .is_some_and(|t| a.contains(t)),
            );
        }
    }
    let per_question = started.elapsed() / (2 * questions.len().max(1) as u32);
    let pct = |k: usize| 100.0 * k as f64 / questions.len().max(1) as f64;
    println!("\n## Knowledge: questions answered without a person (rules assistant)\n");
    println!("| assistant | answered | answered from the right article |\n|---|---|---|");
    println!("| FAQ of the settings only | {:.0} % | - |", pct(before));
    println!(
        "| FAQ and the articles (threshold {}) | {:.0} % | {:.0} % |",
        casebridge::knowledge::config::DEFAULT_THRESHOLD,
        pct(after),
        pct(right)
    );
    println!("\nTime to decide on one question, index warm: {per_question:.2?}.");

    // Scale: 2,000 articles.
    let big = many(&articles);
    let started = Instant::now();
    let snapshot = Snapshot::new(big, jiff::Timestamp::now());
    let bytes = serde_json::to_vec(&snapshot)?;
    let build = started.elapsed();
    let passages = snapshot.prepared.as_ref().map_or(0, |p| p.passages.len());
    let started = Instant::now();
    let loaded: Snapshot = serde_json::from_slice(&bytes)?;
    let parse = started.elapsed();
    let index = match loaded.prepared {
        Some(p) => Index::from_prepared(loaded.articles, p),
        None => Index::build(loaded.articles),
    };
    let load = started.elapsed();
    let started = Instant::now();
    for q in &questions {
        let _ = index.best(&q.text, None);
    }
    let search = started.elapsed() / questions.len().max(1) as u32;
    println!("\n## Knowledge: 2,000 articles\n");
    println!("| figure | value | goal |\n|---|---|---|");
    println!("| passages | {passages} | |");
    println!(
        "| snapshot size (JSON, in the table in 350 KB chunks) | {:.2} MB | |",
        bytes.len() as f64 / 1e6
    );
    println!(
        "| build (read, cut, detect, stem: the sync does it) | {build:.0?} | off the hot path |"
    );
    println!(
        "| load (parse the snapshot, count the index) | {load:.0?} (parse {parse:.0?}) | ≤ 50 ms |"
    );
    println!("| best passage for one question | {search:.2?} | |");
    match std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
        Ok(endpoint) => cold_function(&endpoint, &snapshot).await?,
        Err(_) => println!(
            "\nIn a cold function: skipped, set AWS_ENDPOINT_URL_DYNAMODB (scripts/bench starts moto)."
        ),
    }
    Ok(())
}

/// Rounds of the cold-function measure (each a fresh process); medians and the highest RSS.
const COLD_ROUNDS: usize = 5;

/// The 2,000-article snapshot in a table on moto, and the release `sms-inbound` started cold
/// under the Runtime API emulator with one signed question as its first event: init with and
/// without `CASEBRIDGE_KNOWLEDGE_SNAPSHOT` (nothing may be added before the first question),
/// the first question (which loads the snapshot), and the process's peak RSS.
async fn cold_function(endpoint: &str, snapshot: &Snapshot) -> Result<(), Error> {
    use casebridge::knowledge::snapshot::publish;
    use casebridge::store::Retention;
    use casebridge::store::dynamo::DynamoStore;
    let bin = crate::target_release().join("sms-inbound");
    println!("\n## Knowledge: 2,000 articles in a cold function (sms-inbound, release, moto)\n");
    if !bin.exists() {
        println!(
            "skipped: {} missing (scripts/bench builds it)",
            bin.display()
        );
        return Ok(());
    }
    let client = casebridge::aws::local_dynamodb_client(endpoint);
    let table = format!("bench-knowledge-{}", uuid::Uuid::new_v4().simple());
    DynamoStore::create_table(&client, &table).await?;
    let store = DynamoStore::new(client, table.clone(), Retention::default());
    publish(&store.knowledge_snapshots(), snapshot).await?;

    let token = "bench-twilio-token";
    let url = "https://api.example.com/sms/inbound";
    let question = "my espresso machine is leaking water, is that covered?";
    let mut rounds: Vec<(bool, crate::coldstart::Start)> = Vec::new();
    for round in 0..COLD_ROUNDS {
        for knowledge in [false, true] {
            let sid = format!("SM{:032x}", round * 2 + usize::from(knowledge));
            let from = format!("+1555123{:04}", round * 2 + usize::from(knowledge));
            let params = [
                ("AccountSid", "AC00000000000000000000000000000000"),
                ("MessageSid", sid.as_str()),
                ("From", from.as_str()),
                ("To", "+15550006666"),
                ("Body", question),
                ("NumMedia", "0"),
            ];
            let signature = test_support::twilio::signature(token, url, &params);
            let body: String = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params)
                .finish();
            let event = crate::coldstart::http_event(
                "POST",
                "/sms/inbound",
                serde_json::json!({
                    "host": "api.example.com",
                    "content-type": "application/x-www-form-urlencoded",
                    "x-twilio-signature": signature,
                }),
                &body,
            );
            let mut env = crate::function_env();
            env.retain(|(k, _)| k != "AWS_ENDPOINT_URL_DYNAMODB" && k != "TABLE_NAME");
            env.push(("AWS_ENDPOINT_URL_DYNAMODB".into(), endpoint.into()));
            env.push(("TABLE_NAME".into(), table.clone()));
            if knowledge {
                env.push(("CASEBRIDGE_KNOWLEDGE_SNAPSHOT".into(), "true".into()));
            }
            let start = crate::coldstart::start_once(&bin, &env, event).await?;
            rounds.push((knowledge, start));
        }
    }
    let figures = |with: bool| {
        let of: Vec<&crate::coldstart::Start> = rounds
            .iter()
            .filter(|(k, _)| *k == with)
            .map(|(_, s)| s)
            .collect();
        (
            crate::coldstart::median(of.iter().map(|s| s.init).collect()),
            crate::coldstart::median(of.iter().map(|s| s.first_invocation).collect()),
            of.iter().map(|s| s.peak_rss_kb).max().unwrap_or(0),
            of.last().map(|s| s.response.clone()).unwrap_or_default(),
        )
    };
    let (init_off, first_off, rss_off, _) = figures(false);
    let (init_on, first_on, rss_on, answer) = figures(true);
    let answered = answer.contains("arrant");
    println!(
        "| | init | first question | peak RSS |\n|---|---|---|---|\n\
         | without articles | {init_off:.1?} | {first_off:.1?} | {:.1} MB |\n\
         | with the 2,000-article snapshot | {init_on:.1?} | {first_on:.1?} | {:.1} MB |",
        rss_off as f64 / 1024.0,
        rss_on as f64 / 1024.0,
    );
    println!(
        "\nMedian of {COLD_ROUNDS} cold starts each, interleaved; the first question with articles \
         reads the snapshot's chunks from moto, parses it and answers{}. Goals: nothing added \
         to init, peak RSS ≤ 40 MB.",
        if answered {
            " (from the warranty article)"
        } else {
            " (**not** from the warranty article: check the response)"
        }
    );
    Ok(())
}
