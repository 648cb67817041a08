//! Dynamic properties: evaluating them by calling exporters back
//! (`bourse.v1.DynamicPropEval.Eval`).
//!
//! A query hands over every (offer, property) pair it needs at once; this
//! module answers from the cache what is fresh enough, groups the rest by
//! evaluator and makes one batched call per evaluator, all concurrently
//! (bounded by a semaphore) and all bounded by the query's deadline. What
//! has not arrived by the deadline, failed, or came back with the wrong
//! type stays undefined for that query; it is never an error of the query.
//! An evaluator that fails is backed off exponentially and not called until
//! its backoff ends.
//!
//! This is the one place besides `service/` that speaks gRPC, as a client.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bourse_proto as pb;
use dashmap::DashMap;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::Semaphore;
use tonic::transport::{Channel, Endpoint};

use crate::offer::{Offer, PropValue};
use crate::service::convert::{value_from_pb, value_to_pb, value_type_to_pb};
use crate::trader::{Clock, Stats};
use crate::value::{PropId, Value};

/// First backoff after a failure; doubles per consecutive failure.
const BACKOFF_BASE_MS: u64 = 250;
/// Longest backoff.
const BACKOFF_MAX_MS: u64 = 30_000;
/// Cached values older than this are dropped by the sweeper whatever their
/// max age, so withdrawn offers do not linger in the cache.
const CACHE_RETENTION_MS: u64 = 60_000;

/// Counter names shown by `Admin.Stats`.
pub mod counters {
    /// Eval calls made (one per evaluator per query at most).
    pub const CALLS: &str = "dynamic.calls";
    /// Properties asked for in those calls.
    pub const ITEMS: &str = "dynamic.items";
    /// Properties answered from the cache.
    pub const CACHE_HITS: &str = "dynamic.cache_hits";
    /// Calls or items that failed (error status, error item, wrong type).
    pub const FAILURES: &str = "dynamic.failures";
    /// Calls that missed the query's deadline.
    pub const TIMEOUTS: &str = "dynamic.timeouts";
    /// Calls not made because the evaluator was backed off.
    pub const BACKOFF_SKIPS: &str = "dynamic.backoff_skips";
}

#[derive(Debug, Clone)]
struct Cached {
    value: Value,
    /// When the value was fetched.
    at_ms: u64,
    /// When the exporter sampled it: as it said (`age_ms`), or else
    /// between the fetch time minus the property's max age and the fetch.
    sampled_ms: (u64, u64),
}

impl Cached {
    /// Whether a query may use it rather than call the exporter: fetched
    /// within the property's max age and the query's staleness bound, and
    /// not superseded. An exporter samples at least once per max age, so
    /// once the sample it said it answered from is older than that, it has
    /// a newer one: the value is superseded. It is used anyway for a tenth
    /// of its max age after the fetch, so that an exporter whose sample is
    /// late is not called by every query.
    fn fresh(&self, now_ms: u64, max_age_ms: u64, max_staleness_ms: u64) -> bool {
        let fetched_age = now_ms.saturating_sub(self.at_ms);
        let sample_age = now_ms.saturating_sub(self.sampled_ms.1);
        let superseded = sample_age > max_age_ms && fetched_age >= max_age_ms / 10;
        fetched_age <= max_age_ms && fetched_age <= max_staleness_ms && !superseded
    }

    /// When a query that accepts values as old as their max age will
    /// call the exporter again: the first instant at which it is no
    /// longer `fresh`.
    fn renewal_ms(&self, max_age_ms: u64) -> u64 {
        let expired = self.at_ms.saturating_add(max_age_ms).saturating_add(1);
        let superseded = self
            .sampled_ms
            .1
            .saturating_add(max_age_ms)
            .saturating_add(1)
            .max(self.at_ms.saturating_add(max_age_ms / 10));
        expired.min(superseded)
    }
}

#[derive(Debug, Clone, Copy)]
struct Backoff {
    failures: u32,
    until_ms: u64,
}

/// Evaluated dynamic values of one offer for one query.
pub type OfferValues = Vec<(PropId, Value)>;

pub struct Evaluators {
    /// One lazily connected channel per evaluator address; channels
    /// multiplex calls over one HTTP/2 connection.
    channels: DashMap<String, Channel>,
    cache: DashMap<(Arc<str>, PropId), Cached>,
    backoff: DashMap<String, Backoff>,
    /// Bounds the callbacks in flight across all queries.
    in_flight: Arc<Semaphore>,
}

/// One pending call: the items asked of one evaluator.
struct Batch {
    evaluator: String,
    /// (offer index in the request, property) for each item, in order.
    slots: Vec<(usize, PropId)>,
    items: Vec<pb::EvalItem>,
}

impl Evaluators {
    pub fn new(max_in_flight: usize) -> Evaluators {
        Evaluators {
            channels: DashMap::new(),
            cache: DashMap::new(),
            backoff: DashMap::new(),
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
        }
    }

    fn channel(&self, evaluator: &str) -> Result<Channel, String> {
        if let Some(channel) = self.channels.get(evaluator) {
            return Ok(channel.clone());
        }
        let endpoint = Endpoint::from_shared(evaluator.to_string())
            .map_err(|e| format!("bad evaluator address '{evaluator}': {e}"))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true);
        let channel = endpoint.connect_lazy();
        self.channels.insert(evaluator.to_string(), channel.clone());
        Ok(channel)
    }

    fn backed_off(&self, evaluator: &str, now_ms: u64) -> bool {
        self.backoff.get(evaluator).is_some_and(|b| b.until_ms > now_ms)
    }

    fn failed(&self, evaluator: &str, now_ms: u64) {
        let mut entry =
            self.backoff.entry(evaluator.to_string()).or_insert(Backoff { failures: 0, until_ms: 0 });
        entry.failures = entry.failures.saturating_add(1);
        let delay = BACKOFF_BASE_MS
            .saturating_mul(1u64 << entry.failures.saturating_sub(1).min(16))
            .min(BACKOFF_MAX_MS);
        entry.until_ms = now_ms.saturating_add(delay);
        tracing::debug!(evaluator, failures = entry.failures, delay_ms = delay, "evaluator backed off");
    }

    fn succeeded(&self, evaluator: &str) {
        self.backoff.remove(evaluator);
    }

    /// Evaluates `wanted[i]` (dynamic properties of `offers[i]`) and
    /// returns the values obtained, per offer, within `deadline`. Cached
    /// values younger than both the property's max age and `max_staleness`
    /// are used without a call.
    pub async fn evaluate(
        &self,
        offers: &[Arc<Offer>],
        wanted: &[Vec<PropId>],
        deadline: Duration,
        max_staleness_ms: u64,
        clock: &Clock,
        stats: &Stats,
    ) -> Vec<OfferValues> {
        let now = clock.now_ms();
        let mut results: Vec<OfferValues> = vec![Vec::new(); offers.len()];
        let mut batches: HashMap<&str, Batch> = HashMap::new();
        let mut hits = 0;
        for (index, (offer, props)) in offers.iter().zip(wanted).enumerate() {
            for &prop_id in props {
                let Some(prop) = offer.get(prop_id) else { continue };
                let PropValue::Dynamic(dynamic) = &prop.value else { continue };
                let key = (offer.id.clone(), prop_id);
                if let Some(cached) = self.cache.get(&key)
                    && cached.fresh(now, dynamic.max_age_ms, max_staleness_ms)
                {
                    results[index].push((prop_id, cached.value.clone()));
                    hits += 1;
                    continue;
                }
                let batch = batches.entry(dynamic.evaluator.as_str()).or_insert_with(|| Batch {
                    evaluator: dynamic.evaluator.clone(),
                    slots: Vec::new(),
                    items: Vec::new(),
                });
                batch.slots.push((index, prop_id));
                batch.items.push(pb::EvalItem {
                    offer_id: offer.id.to_string(),
                    property: prop.name.to_string(),
                    extra_info: dynamic.extra_info.as_ref().map(value_to_pb),
                    value_type: value_type_to_pb(dynamic.value_type) as i32,
                });
            }
        }
        if hits > 0 {
            stats.bump(counters::CACHE_HITS, hits);
        }
        if batches.is_empty() {
            return results;
        }

        // The calls run inside this task rather than as tasks of their own:
        // each is an encode, a hand-over to its connection and a decode, so
        // a task per call would cost more than it overlaps.
        let mut calls = FuturesUnordered::new();
        // Evaluators of the calls still out, to back off those that are late.
        let mut outstanding: HashMap<usize, String> = HashMap::new();
        for (index, (_, batch)) in batches.into_iter().enumerate() {
            if self.backed_off(&batch.evaluator, now) {
                stats.bump(counters::BACKOFF_SKIPS, 1);
                continue;
            }
            let channel = match self.channel(&batch.evaluator) {
                Ok(channel) => channel,
                Err(reason) => {
                    tracing::warn!(evaluator = %batch.evaluator, %reason, "cannot call evaluator");
                    stats.bump(counters::FAILURES, 1);
                    self.failed(&batch.evaluator, now);
                    continue;
                }
            };
            stats.bump(counters::CALLS, 1);
            stats.bump(counters::ITEMS, batch.items.len() as u64);
            outstanding.insert(index, batch.evaluator.clone());
            let in_flight = &self.in_flight;
            calls.push(async move {
                let reply = async {
                    let _permit =
                        in_flight.acquire().await.map_err(|_| tonic::Status::cancelled("closing"))?;
                    let mut client = pb::dynamic_prop_eval_client::DynamicPropEvalClient::new(channel);
                    let mut request = tonic::Request::new(pb::EvalRequest { items: batch.items.clone() });
                    // Tell the evaluator how long we wait, so it can give up too.
                    request.set_timeout(deadline);
                    client.eval(request).await
                }
                .await;
                (index, batch, reply)
            });
        }

        let sleep = tokio::time::sleep(deadline);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                joined = calls.next() => {
                    let Some((index, batch, reply)) = joined else { break };
                    outstanding.remove(&index);
                    let now = clock.now_ms();
                    match reply {
                        Ok(reply) => {
                            self.succeeded(&batch.evaluator);
                            self.accept(&batch, reply.into_inner(), offers, &mut results, now, stats);
                        }
                        Err(status) => {
                            tracing::debug!(evaluator = %batch.evaluator, %status, "evaluation failed");
                            let code = status.code();
                            let timed_out = matches!(code, tonic::Code::DeadlineExceeded | tonic::Code::Cancelled);
                            stats.bump(if timed_out { counters::TIMEOUTS } else { counters::FAILURES }, 1);
                            self.failed(&batch.evaluator, now);
                        }
                    }
                }
                () = &mut sleep => {
                    // Whatever is still out missed the deadline: drop those
                    // calls (the evaluator sees them cancelled) and back off
                    // their evaluators so that the next queries do not wait.
                    drop(calls);
                    let now = clock.now_ms();
                    stats.bump(counters::TIMEOUTS, outstanding.len() as u64);
                    for evaluator in outstanding.values() {
                        tracing::debug!(%evaluator, "evaluator missed the deadline");
                        self.failed(evaluator, now);
                    }
                    break;
                }
            }
        }
        results
    }

    /// Takes the values of one reply, checking each against the type the
    /// offer declared for it.
    fn accept(
        &self,
        batch: &Batch,
        reply: pb::EvalResponse,
        offers: &[Arc<Offer>],
        results: &mut [OfferValues],
        now_ms: u64,
        stats: &Stats,
    ) {
        let mut failures = 0;
        for result in reply.results {
            let age_ms = result.age_ms;
            // Match a result to the item asked for by offer id and name.
            let Some(&(index, prop_id)) = batch.slots.iter().zip(&batch.items).find_map(|(slot, item)| {
                (item.offer_id == result.offer_id && item.property == result.property).then_some(slot)
            }) else {
                continue;
            };
            let offer = &offers[index];
            let Some(PropValue::Dynamic(dynamic)) = offer.get(prop_id).map(|p| &p.value) else { continue };
            let value = match result.outcome {
                Some(pb::eval_result::Outcome::Value(value)) => value_from_pb(&result.property, value).ok(),
                Some(pb::eval_result::Outcome::Error(reason)) => {
                    tracing::debug!(offer = %offer.id, property = %result.property, %reason, "evaluator reported an error");
                    None
                }
                None => None,
            };
            match value {
                Some(value) if value.value_type() == dynamic.value_type && value.validate().is_ok() => {
                    let sampled_ms = match age_ms {
                        Some(age) => (now_ms.saturating_sub(age), now_ms.saturating_sub(age)),
                        None => (now_ms.saturating_sub(dynamic.max_age_ms), now_ms),
                    };
                    let cached = Cached { value: value.clone(), at_ms: now_ms, sampled_ms };
                    // Calls overlap: keep a value sampled surely later than
                    // this one.
                    self.cache
                        .entry((offer.id.clone(), prop_id))
                        .and_modify(|kept| {
                            if kept.sampled_ms.0 <= cached.sampled_ms.1 {
                                *kept = cached.clone();
                            }
                        })
                        .or_insert_with(|| cached.clone());
                    if !results[index].iter().any(|(p, _)| *p == prop_id) {
                        results[index].push((prop_id, value));
                    }
                }
                _ => failures += 1,
            }
        }
        if failures > 0 {
            stats.bump(counters::FAILURES, failures);
        }
    }

    /// The cached value of an offer's property and when it was sampled, as
    /// (earliest, latest) in ms: one instant if the exporter said, or else
    /// from the fetch time minus the property's max age to the fetch.
    /// Queries running at the same time may each have fetched a value: the
    /// cache keeps the latest, which may be newer than the one a query saw.
    pub fn sampled_value(&self, offer_id: &Arc<str>, prop: PropId) -> Option<(Value, (u64, u64))> {
        self.cache.get(&(offer_id.clone(), prop)).map(|c| (c.value.clone(), c.sampled_ms))
    }

    /// When a query will next ask the exporter for a newer value of an
    /// offer's dynamic property (`None` if not cached or not dynamic).
    pub fn renewal_ms(&self, offer: &Offer, prop: PropId) -> Option<u64> {
        let PropValue::Dynamic(dynamic) = &offer.get(prop)?.value else { return None };
        self.cache.get(&(offer.id.clone(), prop)).map(|c| c.renewal_ms(dynamic.max_age_ms))
    }

    /// Drops cache entries too old to be used by any query.
    pub fn sweep(&self, now_ms: u64) {
        self.cache.retain(|_, cached| now_ms.saturating_sub(cached.at_ms) < CACHE_RETENTION_MS);
        self.backoff.retain(|_, b| b.until_ms + BACKOFF_MAX_MS > now_ms);
    }
}

/// An offer with the dynamic values evaluated for one query: what the
/// constraint, the preference and the reply see.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub offer: Arc<Offer>,
    pub dynamic: OfferValues,
}

impl crate::tcl::Properties for Candidate {
    fn get(&self, id: PropId) -> Option<&Value> {
        match &self.offer.get(id)?.value {
            PropValue::Static(value) => Some(value),
            PropValue::Dynamic(_) => self.dynamic.iter().find(|(p, _)| *p == id).map(|(_, v)| v),
        }
    }

    fn exists(&self, id: PropId) -> bool {
        self.offer.get(id).is_some()
    }
}
