//! Rules applied to the requests of access logs, in log order, first match wins: what each
//! rule matches, decides and drops, how much of each layer-7 attack the rules stop, and how
//! many good clients they would have limited or blocked: the figure that says whether a rule
//! can be deployed.

use std::collections::HashSet;

use levee_logs::Request;
use levee_rules::{Engine, RulesFile};
use serde::Serialize;

use crate::profile::ClientKey;
use crate::{Judged, Level, VECTORS};

/// Per-rule results.
#[derive(Debug, Clone, Serialize)]
pub struct RuleOnLog {
    /// The rule's id.
    pub id: String,
    /// Its action (`block`, `allow`, `log`, `rate_limit`).
    pub action: String,
    /// Its expression, as the rules file reads once printed.
    pub expression: String,
    /// Requests the expression matches on its own.
    pub matched: u64,
    /// Requests this rule decided (first match wins).
    pub decided: u64,
    /// Of those, the requests it dropped (all for block, over the limit for rate_limit).
    pub dropped: u64,
    /// Good clients with at least one request dropped by this rule.
    pub good_clients_hit: u64,
}

/// What the rules stop of one attack vector.
#[derive(Debug, Clone, Serialize)]
pub struct VectorStopped {
    /// The vector.
    pub vector: String,
    /// Requests of its clients.
    pub requests: u64,
    /// Of them, requests the rules dropped.
    pub stopped: u64,
    /// `stopped / requests`.
    pub share: f64,
}

/// Good clients and how many the rules limited or blocked.
#[derive(Debug, Clone, Serialize)]
pub struct GoodClients {
    /// Clients judged good.
    pub total: u64,
    /// Of them, clients with at least one request dropped.
    pub limited_or_blocked: u64,
    /// `limited_or_blocked / total`.
    pub share: f64,
}

/// The simulation of a rules file on logs (schema in `docs/l7.md`).
#[derive(Debug, Clone, Serialize)]
pub struct LogSimulation {
    /// The rules file applied.
    pub rules_file: String,
    /// Requests the rules were applied to.
    pub requests: u64,
    /// Of them, requests dropped.
    pub blocked: u64,
    /// Of them, requests passed.
    pub passed: u64,
    /// What the rules stop of each attack vector.
    pub attacks: Vec<VectorStopped>,
    /// Good clients, and how many the rules limited or blocked.
    pub good_clients: GoodClients,
    /// Requests of clients judged good that the rules dropped.
    pub good_requests_dropped: u64,
    /// Each rule's counts, in the file's order.
    pub rules: Vec<RuleOnLog>,
}

/// The second pass of a simulation, beside the verdicts of the first.
pub struct LogSimulator {
    engine: Engine,
    rules: Vec<RuleOnLog>,
    requests: u64,
    blocked: u64,
    per_vector: [(u64, u64); VECTORS.len()],
    good_hit: Vec<HashSet<ClientKey>>,
    good_any: HashSet<ClientKey>,
    good_requests_dropped: u64,
}

impl LogSimulator {
    /// A simulation of `file` with no request yet.
    pub fn new(file: &RulesFile) -> LogSimulator {
        LogSimulator {
            engine: Engine::new(file),
            rules: file
                .rules
                .iter()
                .map(|r| RuleOnLog {
                    id: r.id.clone(),
                    action: r.action.name().into(),
                    expression: r.expression.to_string(),
                    matched: 0,
                    decided: 0,
                    dropped: 0,
                    good_clients_hit: 0,
                })
                .collect(),
            requests: 0,
            blocked: 0,
            per_vector: [(0, 0); VECTORS.len()],
            good_hit: vec![HashSet::new(); file.rules.len()],
            good_any: HashSet::new(),
            good_requests_dropped: 0,
        }
    }

    /// Applies the rules to a request (requests in log order); `judged` holds the verdicts.
    pub fn add(&mut self, r: &Request<'_>, judged: &Judged) {
        self.requests += 1;
        let v = self.engine.apply(r.ts.unwrap_or(0), r);
        for &i in self.engine.hits() {
            self.rules[i].matched += 1;
        }
        for &i in self.engine.logged() {
            self.rules[i].decided += 1;
        }
        let (key, level, vector) = judged.judgement(r);
        if let Some(vec) = vector {
            self.per_vector[vec].0 += 1;
        }
        let Some(i) = v.decided else { return };
        self.rules[i].decided += 1;
        if !v.dropped {
            return;
        }
        self.rules[i].dropped += 1;
        self.blocked += 1;
        if let Some(vec) = vector {
            self.per_vector[vec].1 += 1;
        }
        if let (Some(key), Some(Level::Good)) = (key, level) {
            self.good_requests_dropped += 1;
            self.good_hit[i].insert(key);
            self.good_any.insert(key);
        }
    }

    /// The simulation, once every request was added; `rules_file` names the file.
    pub fn finish(mut self, rules_file: String, judged: &Judged) -> LogSimulation {
        for (r, hit) in self.rules.iter_mut().zip(&self.good_hit) {
            r.good_clients_hit = hit.len() as u64;
        }
        let total = judged.good_clients();
        let share = |a: u64, of: u64| if of == 0 { 0.0 } else { a as f64 / of as f64 };
        LogSimulation {
            rules_file,
            requests: self.requests,
            blocked: self.blocked,
            passed: self.requests - self.blocked,
            attacks: VECTORS
                .iter()
                .zip(self.per_vector)
                .filter(|(_, (n, _))| *n > 0)
                .map(|(v, (n, stopped))| VectorStopped {
                    vector: v.to_string(),
                    requests: n,
                    stopped,
                    share: share(stopped, n),
                })
                .collect(),
            good_clients: GoodClients {
                total,
                limited_or_blocked: self.good_any.len() as u64,
                share: share(self.good_any.len() as u64, total),
            },
            good_requests_dropped: self.good_requests_dropped,
            rules: self.rules,
        }
    }
}
