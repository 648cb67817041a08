//! The trader's operations end to end in one process, without gRPC:
//! types, export checks, queries with the index planner, preferences,
//! cardinalities, paging, modify, leases and persistence.

use std::sync::Arc;
use std::time::Duration;

use bourse_broker::error::TraderError;
use bourse_broker::offer::{DynamicProp, NewProp, PropValue};
use bourse_broker::policy::Settings;
use bourse_broker::query::{DesiredSpec, QueryArgs, QueryResult};
use bourse_broker::trader::{ExportArgs, Trader};
use bourse_broker::types::{Mode, PropDef, ServiceType};
use bourse_broker::value::{Value, ValueType};

fn def(name: &str, value_type: ValueType, mode: Mode) -> PropDef {
    PropDef { name: name.into(), value_type, mode, doc: String::new() }
}

fn server_type() -> ServiceType {
    ServiceType {
        name: "Server".into(),
        interface: String::new(),
        super_types: vec![],
        props: vec![
            def("host", ValueType::String, Mode::MandatoryReadonly),
            def("zone", ValueType::String, Mode::Normal),
            def("max_connections", ValueType::UInt, Mode::Mandatory),
            def("formats", ValueType::StringSeq, Mode::Normal),
            def("load", ValueType::Double, Mode::Normal),
        ],
        masked: false,
        incarnation: 0,
        doc: String::new(),
    }
}

fn media_type() -> ServiceType {
    ServiceType {
        name: "Media".into(),
        super_types: vec!["Server".into()],
        props: vec![def("titles", ValueType::StringSeq, Mode::Normal)],
        ..server_type()
    }
}

fn prop(name: &str, value: Value) -> NewProp {
    NewProp { name: name.into(), value: PropValue::Static(value) }
}

fn server(host: &str, max: u64, load: f64) -> Vec<NewProp> {
    vec![
        prop("host", Value::String(host.into())),
        prop("zone", Value::String(if max > 10 { "eu" } else { "us" }.into())),
        prop("max_connections", Value::UInt(max)),
        prop("formats", Value::StringSeq(vec!["h264".into(), "aac".into()])),
        prop("load", Value::Double(load)),
    ]
}

async fn export(trader: &Trader, type_name: &str, props: Vec<NewProp>, lease: u64) -> String {
    trader
        .export(ExportArgs {
            type_name: type_name.into(),
            reference: "rtsp://example/".into(),
            props,
            lease_seconds: lease,
            owner: "test".into(),
        })
        .await
        .expect("export")
        .id
}

fn args(constraint: &str, preference: &str) -> QueryArgs {
    QueryArgs {
        type_name: "Server".into(),
        constraint: constraint.into(),
        preference: preference.into(),
        policies: vec![],
        desired: DesiredSpec::Named(vec!["host".into()]),
        how_many: 0,
        offer_ids: Vec::new(),
    }
}

fn hosts(result: &QueryResult) -> Vec<String> {
    result
        .offers
        .iter()
        .map(|m| match &m.props[..] {
            [(_, Value::String(h))] => h.clone(),
            other => panic!("expected one host property, got {other:?}"),
        })
        .collect()
}

async fn setup() -> Trader {
    let trader = Trader::in_memory(Settings::default()).expect("trader");
    trader.add_type(server_type()).await.expect("Server");
    trader.add_type(media_type()).await.expect("Media");
    trader
}

#[tokio::test]
async fn queries_use_constraints_preferences_and_subtypes() {
    let trader = setup().await;
    export(&trader, "Server", server("a", 5, 0.5), 0).await;
    export(&trader, "Server", server("b", 20, 0.1), 0).await;
    let mut media = server("c", 50, 0.9);
    media.push(prop("titles", Value::StringSeq(vec!["Casablanca".into()])));
    export(&trader, "Media", media, 0).await;

    let all = trader.query(args("", "")).await.expect("query");
    assert_eq!(hosts(&all), ["a", "b", "c"], "discovery order, subtypes included");
    let exact = QueryArgs { policies: vec![("exact_type_match".into(), Value::Bool(true))], ..args("", "") };
    assert_eq!(hosts(&trader.query(exact).await.expect("query")), ["a", "b"]);

    let indexed = trader.query(args("host == 'b'", "")).await.expect("query");
    assert_eq!(hosts(&indexed), ["b"]);
    assert_eq!(indexed.searched, 1, "the equality index narrowed the search to one offer");
    let range =
        trader.query(args("max_connections >= 20 and 'h264' in formats", "min load")).await.expect("query");
    assert_eq!(hosts(&range), ["b", "c"]);
    let by_load = trader.query(args("", "max load")).await.expect("query");
    assert_eq!(hosts(&by_load), ["c", "a", "b"]);
    let with = trader.query(args("", "with zone == 'us'")).await.expect("query");
    assert_eq!(hosts(&with), ["a", "b", "c"]);
    let sub = trader.query(args("'eu' ~ zone and not (host == 'c')", "")).await.expect("query");
    assert_eq!(hosts(&sub), ["b"]);

    // Properties of the subtype cannot be used when querying the supertype.
    let err = trader.query(args("'Casablanca' in titles", "")).await.expect_err("undeclared in Server");
    assert!(matches!(err, TraderError::Expression { .. }), "{err}");
    let media_query = QueryArgs { type_name: "Media".into(), ..args("'Casablanca' in titles", "") };
    assert_eq!(hosts(&trader.query(media_query).await.expect("query")), ["c"]);
}

#[tokio::test]
async fn cardinalities_and_pages() {
    let trader = setup().await;
    for i in 0..10 {
        export(&trader, "Server", server(&format!("h{i}"), 5, f64::from(i)), 0).await;
    }
    let q = QueryArgs {
        how_many: 3,
        offer_ids: Vec::new(),
        policies: vec![("return_card".into(), Value::UInt(8)), ("match_card".into(), Value::UInt(9))],
        ..args("", "max load")
    };
    let first = trader.query(q).await.expect("query");
    assert_eq!(first.matched, 9);
    assert_eq!(
        hosts(&first),
        ["h8", "h7", "h6"],
        "match_card stops the search at 9, preference orders those"
    );
    assert_eq!(first.remaining, 5);
    let limits: Vec<_> = first.limits.iter().map(|l| l.policy).collect();
    assert_eq!(limits, ["match_card", "return_card"]);
    let token = first.next_page_token.expect("a page token");
    let second = trader.next_page(&token, 4).await.expect("page");
    assert_eq!(hosts(&second), ["h5", "h4", "h3", "h2"]);
    let third = trader.next_page(&token, 4).await.expect("page");
    assert_eq!(hosts(&third), ["h1"]);
    assert!(third.next_page_token.is_none());
    assert!(matches!(trader.next_page(&token, 4).await, Err(TraderError::UnknownPage)));
}

#[tokio::test]
async fn export_checks_name_the_property() {
    let trader = setup().await;
    let mut missing = server("a", 5, 0.5);
    missing.retain(|p| p.name != "max_connections");
    let err = trader
        .export(ExportArgs {
            type_name: "Server".into(),
            reference: "x".into(),
            props: missing,
            lease_seconds: 0,
            owner: String::new(),
        })
        .await
        .expect_err("missing mandatory");
    assert!(matches!(&err, TraderError::MissingMandatory(p) if p == "max_connections"), "{err}");

    let mut wrong = server("a", 5, 0.5);
    wrong[2] = prop("max_connections", Value::String("ten".into()));
    let err = trader
        .export(ExportArgs {
            type_name: "Server".into(),
            reference: "x".into(),
            props: wrong,
            lease_seconds: 0,
            owner: String::new(),
        })
        .await
        .expect_err("wrong type");
    assert_eq!(err.to_string(), "property 'max_connections': expected a value of type uint64, got string");

    let mut dynamic_readonly = server("a", 5, 0.5);
    dynamic_readonly[0] = NewProp {
        name: "host".into(),
        value: PropValue::Dynamic(DynamicProp {
            evaluator: "http://127.0.0.1:1".into(),
            extra_info: None,
            max_age_ms: 0,
            value_type: ValueType::String,
        }),
    };
    let err = trader
        .export(ExportArgs {
            type_name: "Server".into(),
            reference: "x".into(),
            props: dynamic_readonly,
            lease_seconds: 0,
            owner: String::new(),
        })
        .await
        .expect_err("readonly dynamic");
    assert!(matches!(&err, TraderError::ReadonlyDynamic(p) if p == "host"));

    trader.set_type_masked("Server", true).await.expect("mask");
    let err = trader
        .export(ExportArgs {
            type_name: "Server".into(),
            reference: "x".into(),
            props: server("a", 5, 0.5),
            lease_seconds: 0,
            owner: String::new(),
        })
        .await
        .expect_err("masked");
    assert!(matches!(err, TraderError::MaskedType(_)));
}

#[tokio::test]
async fn modify_is_all_or_nothing_and_respects_modes() {
    let trader = setup().await;
    let id = export(&trader, "Server", server("a", 5, 0.5), 0).await;
    // One bad change (deleting a mandatory property) and nothing applies.
    let err = trader
        .modify(&id, vec!["max_connections".into()], vec![prop("zone", Value::String("ap".into()))])
        .await
        .expect_err("mandatory");
    assert!(matches!(&err, TraderError::MandatoryProperty(p) if p == "max_connections"));
    let offer = trader.describe(&id).expect("still there");
    assert!(
        matches!(&offer.get_by_name("zone").expect("zone").value, PropValue::Static(Value::String(z)) if z == "us")
    );
    let err = trader
        .modify(&id, vec![], vec![prop("host", Value::String("b".into()))])
        .await
        .expect_err("readonly");
    assert!(matches!(&err, TraderError::ReadonlyProperty(p) if p == "host"));

    let updated = trader
        .modify(
            &id,
            vec!["formats".into()],
            vec![prop("zone", Value::String("ap".into())), prop("extra", Value::Bool(true))],
        )
        .await
        .expect("modify");
    let names: Vec<_> = updated.props.iter().map(|p| p.name.to_string()).collect();
    assert_eq!(names, ["host", "zone", "max_connections", "load", "extra"]);
    assert_eq!(hosts(&trader.query(args("zone == 'ap'", "")).await.expect("query")), ["a"]);
    assert!(trader.query(args("'h264' in formats", "")).await.expect("query").offers.is_empty());
}

#[tokio::test(start_paused = true)]
async fn leases_lapse_and_renew() {
    let trader = Arc::new(setup().await);
    let leased = export(&trader, "Server", server("leased", 5, 0.5), 2).await;
    let kept = export(&trader, "Server", server("kept", 5, 0.5), 2).await;
    tokio::time::advance(Duration::from_millis(1500)).await;
    trader.keep_alive(&kept, 0).expect("renew");
    tokio::time::advance(Duration::from_millis(1000)).await;
    // Lapsed but not yet swept: still never returned.
    assert_eq!(hosts(&trader.query(args("", "")).await.expect("query")), ["kept"]);
    assert!(matches!(trader.describe(&leased), Err(TraderError::UnknownOffer(_))));
    assert!(matches!(trader.keep_alive(&leased, 0), Err(TraderError::UnknownOffer(_))));
    assert_eq!(trader.sweep(), 1);
    assert_eq!(trader.stats_snapshot().lease_expiries, 1);
    let permanent = export(&trader, "Server", server("p", 5, 0.5), 0).await;
    assert!(matches!(trader.keep_alive(&permanent, 5), Err(TraderError::NotLeased(_))));
}

#[tokio::test]
async fn permanent_offers_and_types_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("bourse-trader-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (permanent, withdrawn) = {
        let trader = Trader::open(Settings::default(), &dir).expect("open");
        trader.add_type(server_type()).await.expect("Server");
        let permanent = export(&trader, "Server", server("perm", 5, 0.5), 0).await;
        let withdrawn = export(&trader, "Server", server("gone", 5, 0.5), 0).await;
        export(&trader, "Server", server("leased", 5, 0.5), 60).await;
        trader.withdraw(&withdrawn).await.expect("withdraw");
        trader
            .modify(&permanent, vec![], vec![prop("zone", Value::String("ap".into()))])
            .await
            .expect("modify");
        (permanent, withdrawn)
    };
    let trader = Trader::open(Settings::default(), &dir).expect("reopen");
    assert_eq!(hosts(&trader.query(args("", "")).await.expect("query")), ["perm"]);
    let offer = trader.describe(&permanent).expect("permanent offer restored");
    assert!(
        matches!(&offer.get_by_name("zone").expect("zone").value, PropValue::Static(Value::String(z)) if z == "ap")
    );
    assert!(trader.describe(&withdrawn).is_err());
    // New exports continue the discovery order after the restored offers.
    export(&trader, "Server", server("new", 5, 0.5), 0).await;
    assert_eq!(hosts(&trader.query(args("", "")).await.expect("query")), ["perm", "new"]);
    drop(trader);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn listing_pages_through_every_offer_in_id_order() {
    let trader = setup().await;
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(export(&trader, "Server", server(&format!("h{i}"), 5, 0.5), 0).await);
    }
    ids.sort();
    let mut listed = Vec::new();
    let mut after = String::new();
    loop {
        let page = trader.list_offers(&after, 10, None);
        if page.is_empty() {
            break;
        }
        after = page.last().expect("non-empty page").id.to_string();
        listed.extend(page.iter().map(|o| o.id.to_string()));
    }
    assert_eq!(listed, ids);
    assert_eq!(trader.list_offers("", 100, Some("Media")).len(), 0, "type filter");
}
