//! Dynamic properties evaluated by callback: a real broker (in process,
//! on a loopback socket) calling `DynamicPropEval` servers on loopback
//! sockets (see `common`).

mod common;

use std::time::{Duration, Instant};

use bourse_proto as pb;
use common::{Harness, TestEvaluator, hosts, prop};

#[tokio::test]
async fn live_values_drive_constraints_and_preferences() {
    let h = Harness::start().await;
    let evaluator = TestEvaluator::default();
    let addr = evaluator.clone().serve().await;
    let a = h.export("a", 10, addr, 0).await;
    let b = h.export("b", 10, addr, 0).await;
    let c = h.export("c", 10, addr, 0).await;
    evaluator.set(&a, "connections", pb::Value::uint64(10)); // full
    evaluator.set(&b, "connections", pb::Value::uint64(3));
    evaluator.set(&c, "connections", pb::Value::uint64(9));
    evaluator.set(&a, "load", pb::Value::double(0.1));
    evaluator.set(&b, "load", pb::Value::double(0.8));
    evaluator.set(&c, "load", pb::Value::double(0.2));

    let reply = h.query("connections < max_connections", "min load", vec![]).await;
    assert_eq!(hosts(&reply), ["c", "b"], "a is full; c is less loaded than b");
    assert_eq!(
        prop(&reply.offers[0], "load"),
        Some(&pb::value::Kind::DoubleValue(0.2)),
        "desired dynamic value evaluated"
    );
    assert_eq!(prop(&reply.offers[0], "connections"), Some(&pb::value::Kind::Uint64Value(9)));

    // Figures change; max_age 0 means every query asks again.
    evaluator.set(&c, "connections", pb::Value::uint64(10));
    evaluator.set(&a, "connections", pb::Value::uint64(0));
    let reply = h.query("connections < max_connections", "min load", vec![]).await;
    assert_eq!(hosts(&reply), ["a", "b"]);
    h.broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn one_call_per_evaluator_per_query_and_none_while_cached() {
    let h = Harness::start().await;
    let first = TestEvaluator::default();
    let second = TestEvaluator::default();
    let (addr1, addr2) = (first.clone().serve().await, second.clone().serve().await);
    for i in 0..4 {
        h.export(&format!("one-{i}"), 10, addr1, 60_000).await;
        h.export(&format!("two-{i}"), 10, addr2, 60_000).await;
    }
    first.set("*", "load", pb::Value::double(0.5));
    first.set("*", "connections", pb::Value::uint64(1));
    second.set("*", "load", pb::Value::double(0.25));
    second.set("*", "connections", pb::Value::uint64(2));

    let reply = h.query("load < 1.0", "min load", vec![]).await;
    assert_eq!(reply.offers.len(), 8);
    assert_eq!((first.calls(), second.calls()), (1, 1), "one batched call per evaluator");
    assert_eq!(h.counter("dynamic.calls").await, 2);
    assert_eq!(h.counter("dynamic.items").await, 16, "load and connections of 8 offers");

    let hits_before = h.counter("dynamic.cache_hits").await;
    let reply = h.query("load < 1.0", "min load", vec![]).await;
    assert_eq!(reply.offers.len(), 8);
    assert_eq!((first.calls(), second.calls()), (1, 1), "no call while the values are fresh");
    assert_eq!(h.counter("dynamic.cache_hits").await, hits_before + 16);

    // A query that tolerates no staleness asks again, once per evaluator.
    let fresh = vec![pb::Policy::new("max_staleness_ms", pb::Value::uint64(0))];
    h.query("load < 1.0", "", fresh).await;
    assert_eq!((first.calls(), second.calls()), (2, 2));

    // Static-only queries with no dynamic desired property make no call.
    let mut lookup = pb::lookup_client::LookupClient::new(h.channel.clone());
    lookup
        .query(pb::QueryRequest {
            r#type: "MediaServer".into(),
            constraint: "max_connections > 1".into(),
            desired: Some(pb::DesiredProps { mode: pb::PropsMode::None as i32, names: vec![] }),
            ..Default::default()
        })
        .await
        .expect("query");
    assert_eq!((first.calls(), second.calls()), (2, 2));
    h.broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_hanging_evaluator_does_not_hold_the_query() {
    let h = Harness::start().await;
    let quick = TestEvaluator::default();
    let slow = TestEvaluator::default();
    *slow.state.delay.lock().expect("lock") = Duration::from_secs(30);
    let (quick_addr, slow_addr) = (quick.clone().serve().await, slow.clone().serve().await);
    h.export("quick", 10, quick_addr, 0).await;
    h.export("slow", 10, slow_addr, 0).await;
    quick.set("*", "load", pb::Value::double(0.9));
    quick.set("*", "connections", pb::Value::uint64(1));

    let deadline = vec![pb::Policy::new("dynamic_deadline_ms", pb::Value::uint64(300))];
    let started = Instant::now();
    let reply = h.query("", "min load", deadline.clone()).await;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(300 + 700), "query took {elapsed:?} with a 300 ms deadline");
    assert_eq!(hosts(&reply), ["quick", "slow"], "the unevaluable offer sorts last");
    assert_eq!(prop(&reply.offers[1], "load"), None, "no value for the late property");
    let reply = h.query("load < 1.0", "", deadline).await;
    assert_eq!(hosts(&reply), ["quick"], "an offer whose value is late does not match");
    assert!(h.counter("dynamic.timeouts").await >= 1);
    h.broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn failing_evaluators_are_backed_off() {
    let h = Harness::start().await;
    let broken = TestEvaluator::default();
    *broken.state.fail.lock().expect("lock") = true;
    let addr = broken.clone().serve().await;
    h.export("broken", 10, addr, 0).await;
    let reply = h.query("load < 1.0", "", vec![]).await;
    assert!(reply.offers.is_empty());
    assert_eq!(broken.calls(), 1);
    // Within the backoff the evaluator is not called again.
    h.query("load < 1.0", "", vec![]).await;
    assert_eq!(broken.calls(), 1);
    assert_eq!(h.counter("dynamic.backoff_skips").await, 1);
    assert!(h.counter("dynamic.failures").await >= 1);
    // After it, it is, and a recovered evaluator is used again.
    tokio::time::sleep(Duration::from_millis(400)).await;
    *broken.state.fail.lock().expect("lock") = false;
    broken.set("*", "load", pb::Value::double(0.3));
    broken.set("*", "connections", pb::Value::uint64(0));
    let reply = h.query("load < 1.0", "", vec![]).await;
    assert_eq!(hosts(&reply), ["broken"]);
    assert_eq!(broken.calls(), 2);
    h.broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_value_is_fetched_again_once_the_exporter_has_a_newer_sample() {
    let h = Harness::start().await;
    let evaluator = TestEvaluator::default();
    let addr = evaluator.clone().serve().await;
    h.export("a", 10, addr, 200).await;
    evaluator.set("*", "connections", pb::Value::uint64(1));
    evaluator.set("*", "load", pb::Value::double(0.1));
    // Samples are dated on the broker's clock, which starts with it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let room = "connections < max_connections";

    // The exporter samples every 200 ms (its max age) and answers from a
    // sample 190 ms old: it has a newer one 10 ms later.
    *evaluator.state.age_ms.lock().expect("lock") = Some(190);
    h.query(room, "", vec![]).await;
    h.query(room, "", vec![]).await;
    assert_eq!(evaluator.calls(), 1, "the sample is younger than its max age");
    tokio::time::sleep(Duration::from_millis(50)).await;
    h.query(room, "", vec![]).await;
    assert_eq!(evaluator.calls(), 2, "the exporter has a newer sample");

    // Without an age, a value is used for its max age after the fetch.
    *evaluator.state.age_ms.lock().expect("lock") = None;
    let fresh = vec![pb::Policy::new("max_staleness_ms", pb::Value::uint64(0))];
    h.query(room, "", fresh.clone()).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    h.query(room, "", vec![]).await;
    assert_eq!(evaluator.calls(), 3);

    // An exporter whose sample is late is asked again a tenth of the max
    // age after the fetch, not by every query.
    let late = TestEvaluator::default();
    h.export("b", 10, late.clone().serve().await, 200).await;
    late.set("*", "connections", pb::Value::uint64(1));
    late.set("*", "load", pb::Value::double(0.1));
    *late.state.age_ms.lock().expect("lock") = Some(250);
    h.query(room, "", vec![]).await;
    h.query(room, "", vec![]).await;
    assert_eq!(late.calls(), 1);
    tokio::time::sleep(Duration::from_millis(50)).await;
    h.query(room, "", vec![]).await;
    assert_eq!(late.calls(), 2);
    h.broker.shutdown().await.expect("shutdown");
}
