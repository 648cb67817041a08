//! Prometheus metrics: the figures of `Admin.Stats` in the Prometheus text
//! exposition format (version 0.0.4), served over plain HTTP/1.1 at
//! `/metrics` on a listener of its own (`[metrics] listen`), so that a
//! scraper needs neither gRPC nor access to the trading port.
//!
//! Counters only ever grow (`_total`); gauges are what the broker holds
//! now. Every counter the broker knows is written, 0 before its first
//! event, so that `rate()` sees it from the start.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::trader::{StatsSnapshot, Trader};
use crate::{dynamic, pick};

/// The path scrapers ask for.
pub const PATH: &str = "/metrics";
/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// How long a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
}

/// The named counters of `Admin.Stats`, with their help text.
const NAMED: &[(&str, Kind, &str)] = &[
    (
        dynamic::counters::CALLS,
        Kind::Counter,
        "Eval calls made to exporters (at most one per evaluator per query).",
    ),
    (dynamic::counters::ITEMS, Kind::Counter, "Dynamic properties asked for in Eval calls."),
    (dynamic::counters::CACHE_HITS, Kind::Counter, "Dynamic properties answered from the cache."),
    (
        dynamic::counters::FAILURES,
        Kind::Counter,
        "Eval calls or items that failed (error status, error item, wrong type).",
    ),
    (dynamic::counters::TIMEOUTS, Kind::Counter, "Eval calls that missed their query's deadline."),
    (
        dynamic::counters::BACKOFF_SKIPS,
        Kind::Counter,
        "Eval calls not made because the evaluator was backed off.",
    ),
    (pick::counters::PICKS, Kind::Counter, "Picks that chose a server and reserved room on it."),
    (pick::counters::EXHAUSTED, Kind::Counter, "Picks refused because no matching server had room."),
    (
        pick::counters::WAITED,
        Kind::Counter,
        "Picks that found no room at first and waited for newer figures.",
    ),
    (pick::counters::RELEASES, Kind::Counter, "Reservations released by their clients."),
    (
        pick::counters::ABSORBED,
        Kind::Counter,
        "Reservations that stopped counting because the server's figures include them.",
    ),
    (pick::counters::RESERVATIONS, Kind::Gauge, "Reservations neither released nor lapsed."),
];

/// A Prometheus metric name for a counter name such as `dynamic.calls`.
fn metric_name(name: &str, kind: Kind) -> String {
    let mut out = String::from("bourse_");
    out.extend(name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }));
    if kind == Kind::Counter {
        out.push_str("_total");
    }
    out
}

fn family(out: &mut String, name: &str, kind: Kind, help: &str, value: u64) {
    let kind = match kind {
        Kind::Counter => "counter",
        Kind::Gauge => "gauge",
    };
    // Writing to a String cannot fail.
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n");
}

/// The text exposition of one snapshot.
pub fn render(stats: &StatsSnapshot) -> String {
    let mut out = String::with_capacity(4096);
    let fixed = [
        ("bourse_offers", Kind::Gauge, "Offers held, leased and permanent.", stats.offers),
        ("bourse_leased_offers", Kind::Gauge, "Offers held under a lease.", stats.leased_offers),
        ("bourse_service_types", Kind::Gauge, "Service types known.", stats.types),
        ("bourse_open_pages", Kind::Gauge, "Query result pages held for NextPage.", stats.open_pages),
        ("bourse_uptime_seconds", Kind::Gauge, "Seconds since the broker started.", stats.uptime_seconds),
        (
            "bourse_queries_total",
            Kind::Counter,
            "Queries evaluated (Query, Pick and Watch updates).",
            stats.queries,
        ),
        ("bourse_exports_total", Kind::Counter, "Offers exported.", stats.exports),
        ("bourse_withdrawals_total", Kind::Counter, "Offers withdrawn.", stats.withdrawals),
        (
            "bourse_lease_expiries_total",
            Kind::Counter,
            "Offers removed because their lease lapsed.",
            stats.lease_expiries,
        ),
    ];
    for (name, kind, help, value) in fixed {
        family(&mut out, name, kind, help, value);
    }
    for &(counter, kind, help) in NAMED {
        let value = stats.counters.get(counter).copied().unwrap_or(0);
        family(&mut out, &metric_name(counter, kind), kind, help, value);
    }
    // Counters added later that this table does not know yet.
    let mut others: Vec<(&String, &u64)> =
        stats.counters.iter().filter(|(name, _)| !NAMED.iter().any(|(known, ..)| known == name)).collect();
    others.sort();
    for (counter, value) in others {
        family(
            &mut out,
            &metric_name(counter, Kind::Counter),
            Kind::Counter,
            &format!("Counter {counter}."),
            *value,
        );
    }
    out
}

fn respond(request: &Request<Incoming>, trader: &Trader) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response
    };
    if request.uri().path() != PATH {
        return reply(StatusCode::NOT_FOUND, format!("not found: metrics are at {PATH}\n"));
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = reply(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method {} not allowed: use GET\n", request.method()),
        );
        response.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let mut response = reply(StatusCode::OK, render(&trader.stats_snapshot()));
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(CONTENT_TYPE));
    response
}

/// Serves `/metrics` on `listener` until `stop` is cancelled.
pub async fn serve(listener: TcpListener, trader: Arc<Trader>, stop: CancellationToken) {
    loop {
        let (stream, peer): (_, SocketAddr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %err, "metrics: cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stop.cancelled() => return,
        };
        let trader = trader.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let response = respond(&request, &trader);
                async move { Ok::<_, Infallible>(response) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                served = connection => {
                    if let Err(err) = served {
                        tracing::debug!(%peer, error = %err, "metrics: connection ended with an error");
                    }
                }
                () = stop.cancelled() => {}
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn snapshot(counters: &[(&str, u64)]) -> StatsSnapshot {
        StatsSnapshot {
            offers: 3,
            leased_offers: 2,
            types: 4,
            queries: 10,
            exports: 5,
            withdrawals: 1,
            lease_expiries: 1,
            open_pages: 0,
            uptime_seconds: 60,
            counters: counters.iter().map(|(k, v)| ((*k).to_string(), *v)).collect::<HashMap<_, _>>(),
        }
    }

    /// Every line is a HELP, a TYPE or a sample of the family just typed.
    fn check_format(text: &str) {
        let valid_name = |name: &str| {
            name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        let mut typed = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                assert!(valid_name(rest.split(' ').next().unwrap_or("")), "{line}");
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("{line}"));
                assert!(valid_name(name) && (kind == "counter" || kind == "gauge"), "{line}");
                assert!(kind == "gauge" || name.ends_with("_total"), "counters end in _total: {line}");
                typed = Some(name.to_string());
            } else {
                let (name, value) = line.split_once(' ').unwrap_or_else(|| panic!("{line}"));
                assert_eq!(Some(name), typed.as_deref(), "a sample follows its TYPE: {line}");
                value.parse::<u64>().unwrap_or_else(|_| panic!("{line}"));
            }
        }
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn every_known_counter_is_written_even_before_its_first_event() {
        let text = render(&snapshot(&[("dynamic.calls", 7), (pick::counters::RESERVATIONS, 2)]));
        check_format(&text);
        assert!(text.contains("\nbourse_dynamic_calls_total 7\n"), "{text}");
        assert!(text.contains("\nbourse_dynamic_cache_hits_total 0\n"), "{text}");
        assert!(text.contains("# TYPE bourse_pick_reservations_outstanding gauge\n"), "{text}");
        assert!(text.contains("\nbourse_pick_reservations_outstanding 2\n"), "{text}");
        assert!(
            text.contains("\nbourse_offers 3\n") && text.contains("\nbourse_queries_total 10\n"),
            "{text}"
        );
    }

    #[test]
    fn unknown_counters_are_written_with_safe_names() {
        let text = render(&snapshot(&[("new.thing-x", 1)]));
        check_format(&text);
        assert!(text.contains("\nbourse_new_thing_x_total 1\n"), "{text}");
    }
}
