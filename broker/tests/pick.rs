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
        self.pick_with(reservation_seconds, vec![]).await
    }

    async fn pick_with(
        &self,
        reservation_seconds: u64,
        policies: Vec<pb::Policy>,
    ) -> Result<pb::PickResponse, tonic::Status> {
        let mut lookup = pb::lookup_client::LookupClient::new(self.channel.clone());
        lookup
            .pick(pb::PickRequest {
                r#type: "MediaServer".into(),
                desired: Some(pb::DesiredProps {
                    mode: pb::PropsMode::Named as i32,
                    names: vec!["host".into()],
                }),
                client: "test".into(),
                reservation_seconds,
                policies,
                ..Default::default()
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Picks on figures fetched for this pick, not cached ones.
    async fn pick_fresh(&self, reservation_seconds: u64) -> Result<pb::PickResponse, tonic::Status> {
        self.pick_with(reservation_seconds, vec![pb::Policy::new("max_staleness_ms", pb::Value::uint64(0))])
            .await
    }

    async fn release(&self, reservation_id: &str) -> Result<(), tonic::Status> {
        let mut lookup = pb::lookup_client::LookupClient::new(self.channel.clone());
        lookup.release(pb::ReleaseRequest { reservation_id: reservation_id.into() }).await.map(|_| ())
    }

    async fn set_policies(&self, settings: pb::PolicySettings) {
        let mut admin = pb::admin_client::AdminClient::new(self.channel.clone());
        admin.set_policies(pb::SetPoliciesRequest { settings: Some(settings) }).await.expect("set policies");
    }

    /// A broker whose Pick refuses at once when no server has room, rather
    /// than wait for newer figures: the count at one instant is under test.
    async fn start_counting_at_once() -> Harness {
        let h = Harness::start().await;
        h.set_policies(pb::PolicySettings { pick_wait_ms: Some(0), ..Default::default() }).await;
        h
    }
}

fn picked_host(reply: &pb::PickResponse) -> String {
    hosts(&pb::QueryResponse { offers: reply.offer.clone().into_iter().collect(), ..Default::default() })
        .pop()
        .expect("picked offer has a host")
}

/// A server whose figures come from `evaluator`, reporting `connections`.
async fn server(
    h: &Harness,
    evaluator: &TestEvaluator,
    host: &str,
    capacity: u64,
    connections: u64,
    max_age_ms: u64,
) -> String {
    let addr = evaluator.clone().serve().await;
    let id = h.export(host, capacity, addr, max_age_ms).await;
    evaluator.set(&id, "connections", pb::Value::uint64(connections));
    evaluator.set(&id, "load", pb::Value::double(0.1));
    id
}

#[tokio::test]
async fn reservations_are_counted_released_and_lapse() {
    let h = Harness::start_counting_at_once().await;
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
    let h = Harness::start_counting_at_once().await;
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
async fn a_busy_fleet_is_not_refused_for_streams_its_figures_show() {
    // Default grace (2 s), prompt clients (250 ms).
    let h = Harness::start_counting_at_once().await;
    let evaluator = TestEvaluator::default();
    let id = server(&h, &evaluator, "one", 2, 0, 0).await;

    h.pick(60).await.expect("first stream");
    // The client connects at once and the server's figures show it, well
    // within the grace: the reservation may be in the figures or not.
    tokio::time::sleep(Duration::from_millis(400)).await;
    evaluator.set(&id, "connections", pb::Value::uint64(1));
    // Counting it as well as the figure would refuse a client the server
    // has room for.
    h.pick(60).await.expect("one stream live, one slot left");
    // A reservation younger than a prompt client's connect is counted.
    let full = h.pick(60).await.expect_err("live stream plus a fresh reservation fill it");
    assert_eq!(full.code(), tonic::Code::ResourceExhausted);

    h.broker.shutdown().await.expect("shutdown");

    // With the prompt time set to the grace, Pick counts every reservation
    // for the whole grace, as a fleet of slow clients needs.
    let h = Harness::start_counting_at_once().await;
    h.set_policies(pb::PolicySettings { reservation_prompt_ms: Some(2000), ..Default::default() }).await;
    let evaluator = TestEvaluator::default();
    let id = server(&h, &evaluator, "one", 2, 0, 0).await;
    h.pick(60).await.expect("first stream");
    tokio::time::sleep(Duration::from_millis(400)).await;
    evaluator.set(&id, "connections", pb::Value::uint64(1));
    h.pick(60).await.expect_err("the reservation may not be in the figure yet");
    h.broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn released_streams_count_off_until_the_figures_show_them_gone() {
    let h = Harness::start().await;
    h.set_policies(pb::PolicySettings { reservation_grace_ms: Some(100), ..Default::default() }).await;
    let evaluator = TestEvaluator::default();
    // The agent answers from a fresh sample and says so.
    *evaluator.state.age_ms.lock().expect("lock") = Some(0);
    let id = server(&h, &evaluator, "one", 1, 0, 60_000).await;

    let first = h.pick(60).await.expect("the only slot");
    evaluator.set(&id, "connections", pb::Value::uint64(1));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let full = h.pick_fresh(60).await.expect_err("the stream is in the figures: full");
    assert_eq!(full.code(), tonic::Code::ResourceExhausted);
    assert_eq!(h.counter("pick.absorbed").await, 1);

    // The stream ends. The cached figure, sampled before, still shows it.
    h.release(&first.reservation_id).await.expect("release at the end of the stream");
    assert_eq!(h.release(&first.reservation_id).await.expect_err("twice").code(), tonic::Code::NotFound);
    h.pick(60).await.expect("the ended stream is taken off the cached figure");
    h.pick(60).await.expect_err("and its slot taken again");

    // The next figure shows the old stream gone and the new one live.
    tokio::time::sleep(Duration::from_millis(200)).await;
    h.pick_fresh(60).await.expect_err("a figure after the release counts once");
    h.broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_figure_said_to_be_old_does_not_include_newer_reservations() {
    let h = Harness::start().await;
    h.set_policies(pb::PolicySettings { reservation_grace_ms: Some(100), ..Default::default() }).await;
    let evaluator = TestEvaluator::default();
    *evaluator.state.age_ms.lock().expect("lock") = Some(5_000);
    let id = server(&h, &evaluator, "one", 2, 0, 0).await;

    h.pick(60).await.expect("first stream");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Fetched after the grace, but sampled before the reservation.
    evaluator.set(&id, "connections", pb::Value::uint64(1));
    h.pick(60).await.expect_err("one stream in the figure plus one reserved fill it");
    assert_eq!(h.counter("pick.absorbed").await, 0);
    h.broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_stream_released_before_its_figure_arrives_counts_off() {
    // Default grace (2 s) and prompt time (250 ms).
    let h = Harness::start_counting_at_once().await;
    let evaluator = TestEvaluator::default();
    let id = server(&h, &evaluator, "one", 1, 0, 60_000).await;
    let first = h.pick(60).await.expect("the only slot");

    // The client connects and, 700 ms after the pick, its stream ends and it
    // releases the reservation. The server's figure of 400 ms after the
    // pick, fetched only now, shows the stream: it counts a stream that has
    // ended.
    tokio::time::sleep(Duration::from_millis(700)).await;
    h.release(&first.reservation_id).await.expect("release at the end of the stream");
    evaluator.set(&id, "connections", pb::Value::uint64(1));
    *evaluator.state.age_ms.lock().expect("lock") = Some(300);
    h.pick_fresh(60).await.expect("the ended stream is taken off the figure");
    h.pick_fresh(60).await.expect_err("and its slot taken again");
    h.broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_release_just_after_the_lapse_still_marks_the_end() {
    // Default grace (2 s) and prompt time (250 ms).
    let h = Harness::start_counting_at_once().await;
    let evaluator = TestEvaluator::default();
    *evaluator.state.age_ms.lock().expect("lock") = Some(0);
    let id = server(&h, &evaluator, "one", 1, 0, 60_000).await;
    let first = h.pick(1).await.expect("the only slot, for one second");
    evaluator.set(&id, "connections", pb::Value::uint64(1));
    tokio::time::sleep(Duration::from_millis(400)).await;
    h.pick_fresh(60).await.expect_err("the stream is in the figure: full");

    // The stream outlives its reservation by a little; its figure, cached,
    // still shows it, and is the best count while nobody says it ended.
    tokio::time::sleep(Duration::from_millis(800)).await;
    h.pick(60).await.expect_err("lapsed, but the figure shows the stream");
    let late = h.release(&first.reservation_id).await.expect_err("the reservation has lapsed");
    assert_eq!(late.code(), tonic::Code::NotFound);
    h.pick(60).await.expect("the release, though late, marks the end of the stream");
    assert_eq!(h.release(&first.reservation_id).await.expect_err("twice").code(), tonic::Code::NotFound);
    h.broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn no_room_waits_for_newer_figures_before_refusing() {
    let h = Harness::start().await;
    h.set_policies(pb::PolicySettings { pick_wait_ms: Some(800), ..Default::default() }).await;
    let evaluator = TestEvaluator::default();
    // Figures sampled when fetched, renewed every 200 ms.
    *evaluator.state.age_ms.lock().expect("lock") = Some(0);
    let id = server(&h, &evaluator, "one", 2, 2, 200).await;

    // A stream ends on the server; Pick learns of it from the next figure.
    let ends = {
        let (evaluator, id) = (evaluator.clone(), id.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            evaluator.set(&id, "connections", pb::Value::uint64(1));
        })
    };
    let started = tokio::time::Instant::now();
    let reply = h.pick(60).await.expect("room in a newer figure");
    assert_eq!(picked_host(&reply), "one");
    assert!(started.elapsed() < Duration::from_millis(800), "picked once the figure showed room");
    assert_eq!(h.counter("pick.waited").await, 1);
    ends.await.expect("figure set");
    // The picked client connects.
    evaluator.set(&id, "connections", pb::Value::uint64(2));

    // Full by every figure that comes: refused when the next figure would
    // come after the wait, so at least 600 ms after the pick.
    let started = tokio::time::Instant::now();
    let full = h.pick(60).await.expect_err("full");
    assert_eq!(full.code(), tonic::Code::ResourceExhausted);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(550), "waited for newer figures first: {waited:?}");
    assert_eq!(h.counter("pick.waited").await, 2);
    assert_eq!(h.counter("pick.exhausted").await, 1);
    h.broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn picks_waiting_for_room_are_served_in_order_of_arrival() {
    let h = Harness::start().await;
    let evaluator = TestEvaluator::default();
    // Figures sampled when fetched, renewed every 200 ms.
    *evaluator.state.age_ms.lock().expect("lock") = Some(0);
    let id = server(&h, &evaluator, "one", 2, 2, 200).await;
    let pick = |h: &Harness| {
        let mut lookup = pb::lookup_client::LookupClient::new(h.channel.clone());
        async move {
            lookup
                .pick(pb::PickRequest {
                    r#type: "MediaServer".into(),
                    reservation_seconds: 60,
                    ..Default::default()
                })
                .await
        }
    };
    let first = tokio::spawn(pick(&h));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = tokio::spawn(pick(&h));
    tokio::time::sleep(Duration::from_millis(50)).await;

    // One stream ends: the slot goes to the client that has waited longest,
    // whichever looks first.
    evaluator.set(&id, "connections", pb::Value::uint64(1));
    first.await.expect("first").expect("the first to wait takes the slot");
    evaluator.set(&id, "connections", pb::Value::uint64(2));
    let refused = second.await.expect("second").expect_err("no slot for the second");
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
    assert_eq!(h.counter("pick.waited").await, 2);
    h.broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn unequal_servers_fill_in_proportion_to_capacity() {
    let h = Harness::start().await;
    let evaluator = TestEvaluator::default();
    let addr = evaluator.clone().serve().await;
    h.export("big", 100, addr, 60_000).await;
    for i in 0..9 {
        h.export(&format!("small{i}"), 10, addr, 60_000).await;
    }
    evaluator.set("*", "connections", pb::Value::uint64(0));
    // Half of the capacity (190), figures cached: only reservations count.
    let mut per_host: HashMap<String, u32> = HashMap::new();
    for _ in 0..95 {
        *per_host.entry(picked_host(&h.pick(0).await.expect("room"))).or_default() += 1;
    }
    let big = per_host.get("big").copied().unwrap_or(0);
    let busiest_small =
        per_host.iter().filter(|(host, _)| *host != "big").map(|(_, n)| *n).max().unwrap_or(0);
    assert!(big >= 35, "the big server takes about half the streams: {per_host:?}");
    assert!(busiest_small <= 8, "no small server fills up: {per_host:?}");
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
            desired: Some(pb::DesiredProps {
                mode: pb::PropsMode::Named as i32,
                names: vec!["host".into(), "load".into()],
            }),
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
        query: Some(pb::QueryRequest {
            r#type: "MediaServer".into(),
            constraint: "load <".into(),
            ..Default::default()
        }),
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

#[tokio::test]
async fn offer_ids_pick_the_server_chosen_from_a_query() {
    let h = Harness::start_counting_at_once().await;
    let evaluator = TestEvaluator::default();
    // Three media servers on one host: only the offer id tells them apart.
    let busy = server(&h, &evaluator, "shared", 10, 5, 0).await;
    let full = server(&h, &evaluator, "shared", 1, 1, 0).await;
    let idle = server(&h, &evaluator, "shared", 100, 0, 0).await;
    let mut lookup = pb::lookup_client::LookupClient::new(h.channel.clone());
    let pick = |constraint: &str, offer_ids: Vec<String>| pb::PickRequest {
        r#type: "MediaServer".into(),
        constraint: constraint.into(),
        client: "test".into(),
        offer_ids,
        ..Default::default()
    };

    let any = lookup.pick(pick("", vec![])).await.expect("room").into_inner();
    assert_eq!(any.candidates, 2, "without ids, both servers with room are candidates");
    h.release(&any.reservation_id).await.expect("release");
    for _ in 0..3 {
        // Not the one with the most room, but the one named.
        let reply = lookup.pick(pick("", vec![busy.clone()])).await.expect("it has room").into_inner();
        assert_eq!(reply.offer.expect("offer").id, busy);
        assert_eq!(reply.candidates, 1);
    }
    let refused = lookup.pick(pick("", vec![full.clone()])).await.expect_err("the named offer is full");
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted, "{refused:?}");
    // The constraint still applies to the named offers.
    let excluded = lookup.pick(pick("host == 'other'", vec![idle.clone()])).await.expect_err("excluded");
    assert_eq!(excluded.code(), tonic::Code::NotFound, "{excluded:?}");
    // An offer that is gone is passed over; naming only such offers finds none.
    let gone = lookup.pick(pick("", vec!["no-such-offer".into()])).await.expect_err("unknown id");
    assert_eq!(gone.code(), tonic::Code::NotFound, "{gone:?}");
    let either = lookup
        .pick(pick("", vec!["no-such-offer".into(), idle.clone()]))
        .await
        .expect("one is left")
        .into_inner();
    assert_eq!(either.offer.expect("offer").id, idle);

    let empty = lookup.pick(pick("", vec![idle.clone(), String::new()])).await.expect_err("empty id");
    assert_eq!(empty.code(), tonic::Code::InvalidArgument);
    assert!(empty.message().contains("offer_ids[1]"), "{}", empty.message());
    let many = lookup.pick(pick("", vec![idle.clone(); 1001])).await.expect_err("too many ids");
    assert_eq!(many.code(), tonic::Code::InvalidArgument);
    assert!(many.message().contains("offer_ids"), "{}", many.message());
    h.broker.shutdown().await.expect("shutdown");
}
