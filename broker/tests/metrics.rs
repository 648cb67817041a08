//! The Prometheus endpoint of a real broker in process, scraped over a
//! real socket with plain HTTP/1.1.

use std::net::SocketAddr;
use std::time::Duration;

use bourse_broker::Config;
use bourse_proto as pb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::transport::Channel;

/// Sends one request and returns the status line, the headers and the body.
async fn http(addr: SocketAddr, request_line: &str) -> (String, String, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("{request_line}\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut reply = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut reply))
        .await
        .expect("the reply comes within 5 s")
        .expect("read");
    let (head, body) = reply.split_once("\r\n\r\n").expect("a blank line after the headers");
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_string(), headers.to_ascii_lowercase(), body.to_string())
}

/// The value of the sample `name` in a scrape.
fn sample(body: &str, name: &str) -> Option<u64> {
    body.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_are_scraped_over_http() {
    let config = Config {
        metrics_listen: Some("127.0.0.1:0".parse().expect("addr")),
        ..Config::in_memory("127.0.0.1:0".parse().expect("addr"))
    };
    let broker = bourse_broker::start(&config).await.expect("broker");
    let metrics = broker.metrics_addr.expect("metrics are served when configured");
    assert_ne!(metrics.port(), 0);

    let (status, headers, before) = http(metrics, "GET /metrics HTTP/1.1").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(headers.contains("content-type: text/plain; version=0.0.4"), "{headers}");
    assert_eq!(sample(&before, "bourse_offers"), Some(0), "{before}");
    assert_eq!(sample(&before, "bourse_dynamic_calls_total"), Some(0), "{before}");
    let queries_before = sample(&before, "bourse_queries_total").expect("queries counted");

    // An export and two queries over gRPC show in the next scrape.
    let channel = Channel::from_shared(format!("http://{}", broker.addr))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    pb::register_client::RegisterClient::new(channel.clone())
        .export(pb::ExportRequest {
            r#type: "MediaServer".into(),
            reference: "rtsp://a/".into(),
            properties: vec![
                pb::Property::value("host", pb::Value::string("a")),
                pb::Property::value("video_formats", pb::Value::string_seq(["h264"])),
                pb::Property::value("audio_formats", pb::Value::string_seq(["aac"])),
                pb::Property::value("protocols", pb::Value::string_seq(["rtsp"])),
                pb::Property::value("max_connections", pb::Value::uint64(10)),
            ],
            lease_seconds: 30,
            owner: "test".into(),
        })
        .await
        .expect("export");
    let mut lookup = pb::lookup_client::LookupClient::new(channel);
    for _ in 0..2 {
        lookup
            .query(pb::QueryRequest { r#type: "MediaServer".into(), ..Default::default() })
            .await
            .expect("query");
    }
    let (_, _, after) = http(metrics, "GET /metrics HTTP/1.1").await;
    assert_eq!(sample(&after, "bourse_offers"), Some(1), "{after}");
    assert_eq!(sample(&after, "bourse_leased_offers"), Some(1), "{after}");
    assert_eq!(sample(&after, "bourse_exports_total"), Some(1), "{after}");
    assert_eq!(sample(&after, "bourse_queries_total"), Some(queries_before + 2), "{after}");

    let (status, _, body) = http(metrics, "GET /other HTTP/1.1").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    assert!(body.contains("/metrics"), "{body}");
    let (status, headers, _) = http(metrics, "POST /metrics HTTP/1.1").await;
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    assert!(headers.contains("allow: get, head"), "{headers}");
    // Not HTTP at all: the connection is refused with 400, the server goes on.
    let (status, _, _) = http(metrics, "NONSENSE").await;
    assert!(status.starts_with("HTTP/1.1 400"), "{status}");
    let (status, _, _) = http(metrics, "GET /metrics HTTP/1.1").await;
    assert_eq!(status, "HTTP/1.1 200 OK");

    broker.shutdown().await.expect("shutdown");
    assert!(TcpStream::connect(metrics).await.is_err(), "the endpoint closes with the broker");
}

#[test]
fn a_bad_metrics_address_is_refused_naming_the_field() {
    let raw: bourse_broker::config::RawConfig =
        toml::from_str("in_memory = true\n[metrics]\nlisten = 'everywhere'").expect("parses");
    let err = Config::build(raw, bourse_broker::config::Overrides::default()).expect_err("bad address");
    assert!(err.to_string().starts_with("metrics.listen: 'everywhere'"), "{err}");
    let raw: bourse_broker::config::RawConfig =
        toml::from_str("in_memory = true\n[metrics]\nlisten = '127.0.0.1:9301'").expect("parses");
    let over = bourse_broker::config::Overrides {
        metrics_listen: Some("127.0.0.1:9400".into()),
        ..Default::default()
    };
    let config = Config::build(raw, over).expect("valid");
    assert_eq!(config.metrics_listen, Some("127.0.0.1:9400".parse().expect("addr")), "the flag wins");
}
