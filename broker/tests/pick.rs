//! Pick and Watch against a real broker in process, with test evaluators on
//! loopback sockets supplying the servers' live figures.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use bourse_proto as pb;
use common::{Harness, TestEvaluator, hosts};
use tokio_stream::StreamExt;

impl Harness {
    async fn pick(&self, reservation_seconds: u64) -> Result<pb::PickResponse, tonic::Status> {
        let mut lookup = pb::lookup_client::LookupClient::new(self.channel.clone());
        lookup
            .pick(pb::PickRequest {
                r#type: "MediaServer".into(),
                desired: Some(pb::DesiredProps { mode: pb::PropsMode::Named as i32, names: vec!["host".into()] }),
                client: "test".into(),
                reservation_seconds,
                ..Default::default()
            })
            .await
            .map(tonic::Response::into_inner)
    }

    async fn release(&self, reservation_id: &str) -> Result<(), tonic::Status> {
        let mut lookup = pb::lookup_client::LookupClient::new(self.channel.clone());
        lookup.release(pb::ReleaseRequest { reservation_id: reservation_id.into() }).await.map(|_| ())
    }

    async fn set_policies(&self, settings: pb::PolicySettings) {
        let mut admin = pb::admin_client::AdminClient::new(self.channel.clone());
        admin.set_policies(pb::SetPoliciesRequest { settings: Some(settings) }).await.expect("set policies");
    }
}

fn picked_host(reply: &pb::PickResponse) -> String {
    hosts(&pb::QueryResponse { offers: reply.offer.clone().into_iter().collect(), ..Default::default() })
        .pop()
        .expect("picked offer has a host")
}

/// A server whose figures come from `evaluator`, reporting `connections`.
async fn server(h: &Harness, evaluator: &TestEvaluator, host: &str, capacity: u64, connections: u64, max_age_ms: u64) -> String {
    let addr = evaluator.clone().serve().await;
    let id = h.export(host, capacity, addr, max_age_ms).await;
    evaluator.set(&id, "connections", pb::Value::uint64(connections));
    evaluator.set(&id, "load", pb::Value::double(0.1));
    id
}

#[tokio::test]
async fn reservations_are_counted_released_and_lapse() {
    let h = Harness::start().await;
    let evaluator = TestEvaluator::default();
    server(&h, &evaluator, "only", 2, 0, 0).await;

    let first = h.pick(0).await.expect("room for two");
    let second = h.pick(0).await.expect("room for one more");
    assert_eq!(picked_host(&first), "only");
    assert_eq!(first.reservation_seconds, 10, "the broker's default reservation");
    let full = h.pick(0).await.expect_err("two reservations fill it");
    assert_eq!(full.code(), tonic::Code::ResourceExhausted, "{full:?}");
    assert!(full.message().contains("room"), "{}", full.message());

    h.release(&first.reservation_id).await.expect("release");
    assert_eq!(h.release(&first.reservation_id).await.expect_err("twice").code(), tonic::Code::NotFound);
    let third = h.pick(1).await.expect("a released reservation frees room");
    assert_eq!(third.reservation_seconds, 1);
    h.pick(0).await.expect_err("full again");

    // The one-second reservation lapses.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    h.pick(0).await.expect("room after the lapse");
    h.release(&second.reservation_id).await.expect("release");
    h.broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_full_server_is_never_picked() {
    let h = Harness::start().await;
    let (full, spare) = (TestEvaluator::default(), TestEvaluator::default());
    server(&h, &full, "full", 10, 10, 0).await;
    server(&h, &spare, "spare", 1000, 0, 0).await;
    for _ in 0..30 {
        let reply = h.pick(0).await.expect("spare has room");
        assert_eq!(picked_host(&reply), "spare");
        assert_eq!(reply.candidates, 1);
    }
    h.broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn no_match_and_no_room_are_told_apart() {
    let h = Harness::start().await;
    let mut lookup = pb::lookup_client::LookupClient::new(h.channel.clone());
    let none = lookup
        .pick(pb::PickRequest { r#type: "MediaServer".into(), ..Default::default() })
        .await
        .expect_err("nothing exported");
    assert_eq!(none.code(), tonic::Code::NotFound);
    let evaluator = TestEvaluator::default();
    server(&h, &evaluator, "busy", 5, 5, 0).await;
    let busy = h.pick(0).await.expect_err("full");
    assert_eq!(busy.code(), tonic::Code::ResourceExhausted);
    h.broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_burst_spreads_over_equal_servers() {
    let h = Harness::start().await;
    let evaluator = TestEvaluator::default();
    let addr = evaluator.clone().serve().await;
    for i in 0..10 {
        let id = h.export(&format!("s{i}"), 100, addr, 60_000).await;
        evaluator.set(&id, "connections", pb::Value::uint64(0));
    }
    // Figures stay cached (max age 60 s): only reservations tell the
    // broker that picked servers are busier.
    let mut per_host: HashMap<String, u32> = HashMap::new();
    for _ in 0..200 {
        *per_host.entry(picked_host(&h.pick(0).await.expect("room"))).or_default() += 1;
    }
    let max = per_host.values().copied().max().unwrap_or(0);
    assert_eq!(per_host.len(), 10, "every server used: {per_host:?}");
    assert!(max <= 22, "200 picks over 10 equal servers, at most 22 on one: {per_host:?}");
    h.broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn fresh_figures_absorb_reservations() {
    let h = Harness::start().await;
    h.set_policies(pb::PolicySettings { reservation_grace_ms: Some(100), ..Default::default() }).await;
    let evaluator = TestEvaluator::default();
    let id = server(&h, &evaluator, "one", 2, 0, 0).await;

    h.pick(60).await.expect("first stream");
    // The client connects; the server's next figures show it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    evaluator.set(&id, "connections", pb::Value::uint64(1));
    // The reservation is now in the figures: counting it again would say full.
    h.pick(60).await.expect("one stream live, one slot left");
    h.pick(60).await.expect_err("live stream plus a fresh reservation fill it");
    assert_eq!(h.counter("pick.absorbed").await, 1);
    h.broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn watch_streams_updates_and_ends_with_the_client() {
    let h = Harness::start().await;
    let evaluator = TestEvaluator::default();
    let addr = evaluator.clone().serve().await;
    let a = h.export("a", 10, addr, 0).await;
    let b = h.export("b", 10, addr, 0).await;
    evaluator.set("*", "connections", pb::Value::uint64(0));
    evaluator.set(&a, "load", pb::Value::double(0.2));
    evaluator.set(&b, "load", pb::Value::double(0.5));

    let mut lookup = pb::lookup_client::LookupClient::new(h.channel.clone());
    let request = pb::WatchRequest {
        query: Some(pb::QueryRequest {
            r#type: "MediaServer".into(),
            preference: "min load".into(),
            desired: Some(pb::DesiredProps { mode: pb::PropsMode::Named as i32, names: vec!["host".into(), "load".into()] }),
            ..Default::default()
        }),
        interval_ms: 100,
    };
    let mut stream = lookup.watch(request.clone()).await.expect("watch").into_inner();
    let first = stream.next().await.expect("an update").expect("ok");
    assert_eq!(first.sequence, 1);
    assert_eq!(hosts(&pb::QueryResponse { offers: first.offers, ..Default::default() }), ["a", "b"]);

    evaluator.set(&a, "load", pb::Value::double(0.9));
    let mut reordered = false;
    for _ in 0..20 {
        let update = stream.next().await.expect("more updates").expect("ok");
        if hosts(&pb::QueryResponse { offers: update.offers, ..Default::default() }) == ["b", "a"] {
            reordered = true;
            break;
        }
    }
    assert!(reordered, "the changed load shows in a later update");

    // The client goes away: the broker stops evaluating for it.
    drop(stream);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let calls = evaluator.calls();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(evaluator.calls(), calls, "no evaluation after the watcher left");

    // A bad standing query fails at once.
    let bad = pb::WatchRequest {
        query: Some(pb::QueryRequest { r#type: "MediaServer".into(), constraint: "load <".into(), ..Default::default() }),
        interval_ms: 100,
    };
    assert_eq!(lookup.watch(bad).await.expect_err("syntax").code(), tonic::Code::InvalidArgument);

    // Broker shutdown ends a running watch.
    let mut stream = lookup.watch(request).await.expect("watch").into_inner();
    stream.next().await.expect("an update").expect("ok");
    let stop = h.broker.stop_token();
    stop.cancel();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(item) = stream.next().await {
            if item.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream ends when the broker shuts down");
}
