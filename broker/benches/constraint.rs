//! Cost of the constraint language per offer, against the same test written
//! by hand in Rust through the same property accessor, and the one-off cost
//! of parsing and compiling a query.
//!
//! `cargo bench -p bourse-broker --bench constraint -- --test` runs each
//! benchmark once, as a smoke test.

use std::collections::HashMap;
use std::hint::black_box;

use bourse_broker::tcl::{CompiledConstraint, Properties, Schema, compile_constraint, compile_preference};
use bourse_broker::value::{PropId, Value, ValueType};
use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// A media-streaming service type with twenty properties.
const PROPERTIES: &[(&str, ValueType)] = &[
    ("host", ValueType::String),
    ("region", ValueType::String),
    ("zone", ValueType::String),
    ("version", ValueType::String),
    ("owner", ValueType::String),
    ("max_connections", ValueType::Int),
    ("connections", ValueType::Int),
    ("port", ValueType::UInt),
    ("uptime_seconds", ValueType::UInt),
    ("load", ValueType::Double),
    ("cost", ValueType::Double),
    ("bandwidth_mbps", ValueType::Double),
    ("secure", ValueType::Bool),
    ("draining", ValueType::Bool),
    ("video_formats", ValueType::StringSeq),
    ("audio_formats", ValueType::StringSeq),
    ("resolutions", ValueType::IntSeq),
    ("ports", ValueType::UIntSeq),
    ("latencies_ms", ValueType::DoubleSeq),
    ("features", ValueType::BoolSeq),
];

struct MediaType {
    ids: HashMap<&'static str, (PropId, ValueType)>,
}

impl MediaType {
    fn new() -> MediaType {
        let ids =
            PROPERTIES.iter().enumerate().map(|(i, (name, ty))| (*name, (PropId(i as u32), *ty))).collect();
        MediaType { ids }
    }

    fn id(&self, name: &str) -> PropId {
        self.ids[name].0
    }
}

impl Schema for MediaType {
    fn property(&self, name: &str) -> Option<(PropId, ValueType)> {
        self.ids.get(name).copied()
    }

    fn id_of(&self, _name: &str) -> Option<PropId> {
        None
    }
}

/// An offer stored as the broker stores one: values indexed by dense id.
struct Offer {
    values: Vec<Option<Value>>,
}

impl Properties for Offer {
    fn get(&self, id: PropId) -> Option<&Value> {
        self.values.get(id.0 as usize)?.as_ref()
    }

    fn exists(&self, id: PropId) -> bool {
        self.get(id).is_some()
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn offer(load: f64) -> Offer {
    let values = vec![
        Value::String("media-eu-west-3.example.net".into()),
        Value::String("eu-west".into()),
        Value::String("eu-west-3b".into()),
        Value::String("4.2.1".into()),
        Value::String("streaming-team".into()),
        Value::Int(500),
        Value::Int(137),
        Value::UInt(8443),
        Value::UInt(1_209_600),
        Value::Double(load),
        Value::Double(0.021),
        Value::Double(940.5),
        Value::Bool(true),
        Value::Bool(false),
        Value::StringSeq(strings(&["vp9", "av1", "hevc", "h264", "mpeg2"])),
        Value::StringSeq(strings(&["aac", "opus", "mp3"])),
        Value::IntSeq(vec![480, 720, 1080, 2160]),
        Value::UIntSeq(vec![8443, 8444, 9000]),
        Value::DoubleSeq(vec![12.5, 14.0, 31.25]),
        Value::BoolSeq(vec![true, false, true]),
    ];
    Offer { values: values.into_iter().map(Some).collect() }
}

const CONSTRAINT: &str = "'h264' in video_formats and max_connections > 10 and 'eu-' ~ host and load < 0.8";

fn evaluation(c: &mut Criterion) {
    let schema = MediaType::new();
    let constraint: CompiledConstraint =
        compile_constraint(CONSTRAINT, &schema).expect("the constraint compiles");
    let (formats, max_connections, host, load) =
        (schema.id("video_formats"), schema.id("max_connections"), schema.id("host"), schema.id("load"));
    // The same test, written by hand against the same accessor.
    let by_hand = |offer: &Offer| {
        matches!(offer.get(formats), Some(Value::StringSeq(v)) if v.iter().any(|f| f == "h264"))
            && matches!(offer.get(max_connections), Some(Value::Int(n)) if *n > 10)
            && matches!(offer.get(host), Some(Value::String(h)) if h.contains("eu-"))
            && matches!(offer.get(load), Some(Value::Double(l)) if *l < 0.8)
    };
    let matching = offer(0.35);
    let failing_last = offer(0.95);
    assert!(constraint.matches(&matching) && by_hand(&matching));
    assert!(!constraint.matches(&failing_last) && !by_hand(&failing_last));

    let mut group = c.benchmark_group("eval");
    group.bench_function("compiled/match", |b| b.iter(|| constraint.matches(black_box(&matching))));
    group.bench_function("by_hand/match", |b| b.iter(|| by_hand(black_box(&matching))));
    group.bench_function("compiled/fail_last", |b| b.iter(|| constraint.matches(black_box(&failing_last))));
    group.bench_function("by_hand/fail_last", |b| b.iter(|| by_hand(black_box(&failing_last))));
    group.finish();
}

fn compilation(c: &mut Criterion) {
    let schema = MediaType::new();
    c.bench_function("parse_and_compile/constraint", |b| {
        b.iter(|| compile_constraint(black_box(CONSTRAINT), &schema).expect("compiles"))
    });
    c.bench_function("parse_and_compile/preference", |b| {
        b.iter(|| compile_preference(black_box("min load * 100 + cost"), &schema).expect("compiles"))
    });
}

fn ordering(c: &mut Criterion) {
    let schema = MediaType::new();
    let preference = compile_preference("min load * 100 + cost", &schema).expect("compiles");
    let offers: Vec<Offer> = (0..200).map(|i| offer(f64::from((i * 37) % 200) / 200.0)).collect();
    let mut rng = StdRng::seed_from_u64(1);
    c.bench_function("order/min_200_offers", |b| {
        b.iter(|| {
            let mut refs: Vec<&Offer> = offers.iter().collect();
            preference.order(&mut refs, |offer| *offer, &mut rng);
            black_box(refs);
        })
    });
}

criterion_group!(benches, evaluation, compilation, ordering);
criterion_main!(benches);
