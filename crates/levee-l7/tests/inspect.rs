//! The request inspection measured on requests nobody here wrote: the OWASP Core Rule Set's
//! regression cases as access-log lines (`../shared/data/l7-payloads/`), 616 attacks and 101
//! benign near-misses, each its own client. Every line is read by the log reader and inspected
//! as the analysis inspects it; the share of attacks flagged (recall) and of benign cases
//! flagged (false positives) are printed per class and must hold the bounds.

use std::collections::BTreeMap;
use std::path::PathBuf;

use levee_l7::inspect::{Finding, Inspector};
use levee_l7::patterns::{Category, Patterns};
use levee_logs::{Entry, FormatSpec, LogReader};

fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel)
}

/// Each case's label and class, by client address.
fn labels() -> BTreeMap<String, (String, String, String)> {
    let text = std::fs::read_to_string(shared("l7-payloads/crs-labels.csv")).unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.splitn(5, ',').collect();
        out.insert(
            f[0].to_string(),
            (f[1].to_string(), f[2].to_string(), f[4].to_string()),
        );
    }
    out
}

/// The categories of each client's request, as the analysis finds them.
fn inspected() -> BTreeMap<String, (u32, String)> {
    let patterns = Patterns::new();
    let inspector = Inspector::new();
    let path = shared("l7-payloads/crs-requests.log");
    let mut reader = LogReader::open(&path, FormatSpec::Auto).unwrap();
    let mut out = BTreeMap::new();
    while let Some(entry) = reader.next_entry() {
        let Entry::Request(r) = entry.unwrap() else {
            panic!("every line of the CRS log is a request")
        };
        // As the analysis scans a request (`Patterns::scan`), and, for the message of a
        // false positive, the first rule the inspection matched.
        let mask = patterns.scan(&r.target, r.user_agent.as_deref(), r.referer.as_deref());
        let mut f = Finding::default();
        inspector.target(&r.target, &mut f);
        for h in [r.user_agent.as_deref(), r.referer.as_deref()]
            .into_iter()
            .flatten()
        {
            inspector.header(h, &mut f);
        }
        let why = f
            .first
            .map(|(n, p)| format!("{n}: {p}"))
            .unwrap_or_default();
        out.insert(r.client.to_string(), (mask, why));
    }
    out
}

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn crs_attacks_are_flagged_and_their_near_misses_are_not() {
    let labels = labels();
    let found = inspected();
    assert_eq!(found.len(), labels.len(), "every case read");
    let mut per_class: BTreeMap<(String, String), (u32, u32)> = BTreeMap::new();
    let (mut attacks, mut caught, mut benign, mut flagged) = (0, 0, 0, 0);
    for (ip, (label, class, title)) in &labels {
        let (mask, why) = &found[ip];
        let hit = *mask != 0;
        let e = per_class.entry((label.clone(), class.clone())).or_default();
        e.0 += 1;
        e.1 += u32::from(hit);
        if label == "attack" {
            attacks += 1;
            caught += u32::from(hit);
            if !hit {
                println!("missed  {title}");
            }
        } else {
            benign += 1;
            flagged += u32::from(hit);
            if hit {
                let names: Vec<_> = Category::of_mask(*mask).map(Category::name).collect();
                println!("flagged {title}: {names:?} ({why})");
            }
        }
    }
    for ((label, class), (n, hit)) in &per_class {
        println!("{label:7} {class:17} {hit:4} of {n:4} flagged");
    }
    let recall = f64::from(caught) / f64::from(attacks);
    let false_positive = f64::from(flagged) / f64::from(benign);
    println!(
        "attacks flagged: {caught} of {attacks} ({:.1} %); benign flagged: {flagged} of {benign} ({:.1} %)",
        recall * 100.0,
        false_positive * 100.0
    );
    assert!(recall >= 0.90, "recall {recall:.3}");
    assert!(
        false_positive <= 0.02,
        "false positives {false_positive:.3}"
    );
}
