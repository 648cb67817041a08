//! The callback service `bourse.v1.DynamicPropEval`: the broker asks for
//! the current values of dynamic properties, several of several offers in
//! one call. Answers come from the latest sample; nothing is measured
//! here, so a call costs a lock-free read and some encoding.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};

use bourse_proto as pb;
use tokio::sync::watch;
use tonic::{Request, Response, Status};

use crate::measure::{Demand, Metric, Sample};

/// How many offer ids the agent remembers: the current one and a few
/// before it, so that a broker still holding an older id (a call racing a
/// re-export) gets values rather than errors.
const REMEMBERED_OFFERS: usize = 8;

/// The ids of the offers this agent exported. The exporter writes, the
/// callback service reads.
#[derive(Debug, Default, Clone)]
pub struct OfferIds(Arc<RwLock<VecDeque<String>>>);

impl OfferIds {
    pub fn add(&self, id: &str) {
        let mut ids = self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if ids.iter().any(|known| known == id) {
            return;
        }
        if ids.len() == REMEMBERED_OFFERS {
            ids.pop_front();
        }
        ids.push_back(id.to_string());
    }

    pub fn contains(&self, id: &str) -> bool {
        self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner()).iter().any(|known| known == id)
    }
}

/// Answers one batch from one sample.
pub fn evaluate(sample: &Sample, offers: &OfferIds, items: Vec<pb::EvalItem>) -> Vec<pb::EvalResult> {
    items
        .into_iter()
        .map(|item| {
            let outcome = answer(sample, offers, &item);
            // How old the figure is, so the broker knows what it includes.
            let taken = match Metric::from_name(&item.property) {
                Some(Metric::Connections) => sample.connections_taken,
                _ => sample.taken,
            };
            let age_ms = taken.map(|t| u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX));
            pb::EvalResult {
                offer_id: item.offer_id,
                property: item.property,
                outcome: Some(outcome),
                age_ms,
            }
        })
        .collect()
}

fn answer(sample: &Sample, offers: &OfferIds, item: &pb::EvalItem) -> pb::eval_result::Outcome {
    use pb::eval_result::Outcome;
    if !offers.contains(&item.offer_id) {
        return Outcome::Error(format!("offer '{}' is not exported by this agent", item.offer_id));
    }
    let Some(metric) = Metric::from_name(&item.property) else {
        return Outcome::Error(format!("'{}' is not a dynamic property of this agent", item.property));
    };
    let asked = pb::ValueType::try_from(item.value_type).unwrap_or(pb::ValueType::Unspecified);
    if asked != pb::ValueType::Unspecified && asked != metric.value_type() {
        return Outcome::Error(format!(
            "'{}' is {}, not {}",
            item.property,
            metric.value_type().as_str_name(),
            asked.as_str_name()
        ));
    }
    match sample.value(metric) {
        Some(value) => Outcome::Value(value),
        None => Outcome::Error(format!("'{}' is not measured on this system", item.property)),
    }
}

/// The tonic service.
#[derive(Clone)]
pub struct EvalService {
    /// Written by the sampler thread.
    sample: watch::Receiver<Arc<Sample>>,
    offers: OfferIds,
    /// Tells the sampler that `connections` is wanted.
    demand: Demand,
}

impl EvalService {
    pub fn new(sample: watch::Receiver<Arc<Sample>>, offers: OfferIds, demand: Demand) -> EvalService {
        EvalService { sample, offers, demand }
    }
}

/// Most items one call may hold (every property of ~10,000 offers).
const MAX_ITEMS: usize = 100_000;

#[tonic::async_trait]
impl pb::dynamic_prop_eval_server::DynamicPropEval for EvalService {
    async fn eval(&self, request: Request<pb::EvalRequest>) -> Result<Response<pb::EvalResponse>, Status> {
        let items = request.into_inner().items;
        if items.len() > MAX_ITEMS {
            return Err(Status::invalid_argument(format!("items: at most {MAX_ITEMS} per call")));
        }
        if items.iter().any(|item| item.property == Metric::Connections.name()) {
            self.demand.mark();
        }
        // Clone the Arc and release the channel's lock before encoding.
        let sample = self.sample.borrow().clone();
        Ok(Response::new(pb::EvalResponse { results: evaluate(&sample, &self.offers, items) }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use pb::dynamic_prop_eval_server::DynamicPropEval;
    use pb::eval_result::Outcome;

    fn item(offer: &str, property: &str, value_type: pb::ValueType) -> pb::EvalItem {
        pb::EvalItem {
            offer_id: offer.into(),
            property: property.into(),
            extra_info: None,
            value_type: value_type as i32,
        }
    }

    #[tokio::test]
    async fn answers_a_batch_item_by_item() {
        let sample = Sample {
            connections: Some(3),
            load: Some(0.25),
            cpu: Some(0.5),
            mem_free: Some(1 << 30),
            ..Sample::default()
        };
        let (_tx, rx) = watch::channel(Arc::new(sample));
        let offers = OfferIds::default();
        offers.add("o1");
        offers.add("o2");
        let service = EvalService::new(rx, offers, Demand::default());
        use pb::ValueType as T;
        let items = vec![
            item("o1", "connections", T::Uint64),
            item("o1", "load", T::Double),
            item("o2", "cpu", T::Unspecified),
            item("o2", "mem_free", T::Uint64),
            item("o1", "titles", T::StringSeq),
            item("stranger", "load", T::Double),
            item("o2", "load", T::Uint64),
            item("o1", "disk_free", T::Uint64),
        ];
        let response = service.eval(Request::new(pb::EvalRequest { items })).await.unwrap().into_inner();
        let outcomes: Vec<(String, String, Outcome)> =
            response.results.into_iter().map(|r| (r.offer_id, r.property, r.outcome.unwrap())).collect();
        assert_eq!(outcomes.len(), 8);
        let value = |i: usize| match &outcomes[i].2 {
            Outcome::Value(v) => v.clone(),
            Outcome::Error(e) => panic!("item {i}: {e}"),
        };
        let error = |i: usize| match &outcomes[i].2 {
            Outcome::Error(e) => e.clone(),
            Outcome::Value(v) => panic!("item {i}: unexpected {v:?}"),
        };
        assert_eq!(value(0), pb::Value::uint64(3));
        assert_eq!(value(1), pb::Value::double(0.25));
        assert_eq!(value(2), pb::Value::double(0.5));
        assert_eq!(value(3), pb::Value::uint64(1 << 30));
        assert!(error(4).contains("not a dynamic property"), "{}", error(4));
        assert!(error(5).contains("not exported by this agent"), "{}", error(5));
        assert!(error(6).contains("VALUE_TYPE_DOUBLE"), "{}", error(6));
        assert!(error(7).contains("not measured"), "{}", error(7));
        assert_eq!((outcomes[5].0.as_str(), outcomes[5].1.as_str()), ("stranger", "load"));
    }

    #[test]
    fn remembers_a_bounded_number_of_offers() {
        let offers = OfferIds::default();
        for i in 0..20 {
            offers.add(&format!("o{i}"));
        }
        offers.add("o19");
        assert!(offers.contains("o19") && offers.contains("o12"));
        assert!(!offers.contains("o11") && !offers.contains("o0"));
    }
}
