//! Checking that the media server is up: a TCP connect to its port, or an
//! HTTP GET that must answer 2xx (plain `http://` only; the request is
//! written by hand, which is all a status line needs). The checker
//! publishes "up" or "down" after `fall` failures or `rise` successes in a
//! row; the exporter withdraws the offer while the server is down.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::{Health, HealthCheck};

/// An `http://host[:port]/path` URL, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    /// `host:port` to connect to.
    pub address: String,
    /// Value of the Host header.
    pub host_header: String,
    pub path: String,
}

impl HttpTarget {
    pub fn parse(url: &str) -> Result<HttpTarget, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| format!("'{url}' must start with http://"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains(['@', ' ']) || path.contains([' ', '\r', '\n']) {
            return Err(format!("'{url}' is not a plain http://host[:port]/path URL"));
        }
        // IPv6 literals are in brackets: "[::1]" or "[::1]:81".
        let after_host = match authority.strip_prefix('[') {
            Some(v6) => {
                v6.split_once(']').map(|(_, after)| after).ok_or_else(|| format!("'{url}': unclosed '['"))?
            }
            None => {
                authority.rsplit_once(':').map_or("", |_| &authority[authority.rfind(':').unwrap_or(0)..])
            }
        };
        let has_port = match after_host.strip_prefix(':') {
            Some(port) => {
                port.parse::<u16>().map(|_| true).map_err(|_| format!("'{url}': bad port '{port}'"))?
            }
            None if after_host.is_empty() => false,
            None => return Err(format!("'{url}' is not a plain http://host[:port]/path URL")),
        };
        let address = if has_port { authority.to_string() } else { format!("{authority}:80") };
        Ok(HttpTarget { address, host_header: authority.to_string(), path: path.to_string() })
    }
}

/// One check. `Err` says why the server counts as down.
pub async fn check_once(check: &HealthCheck, timeout: Duration) -> Result<(), String> {
    let attempt = async {
        match check {
            HealthCheck::Tcp { address } => TcpStream::connect(address.as_str())
                .await
                .map(drop)
                .map_err(|e| format!("connect {address}: {e}")),
            HealthCheck::Http { url } => http_get(url).await,
        }
    };
    tokio::time::timeout(timeout, attempt).await.map_err(|_| format!("no answer within {timeout:?}"))?
}

async fn http_get(url: &str) -> Result<(), String> {
    let target = HttpTarget::parse(url)?;
    let mut stream = TcpStream::connect(target.address.as_str())
        .await
        .map_err(|e| format!("connect {}: {e}", target.address))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: bourse-agent\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        target.path, target.host_header
    );
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    // The status line fits in the first read of any real server; read a
    // little more in case it arrives in pieces.
    let mut buf = vec![0u8; 256];
    let mut filled = 0;
    while filled < buf.len() && !buf[..filled].contains(&b'\n') {
        let n = stream.read(&mut buf[filled..]).await.map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    let status = status_code(&buf[..filled]).ok_or("no HTTP status line in the answer")?;
    if (200..300).contains(&status) { Ok(()) } else { Err(format!("HTTP status {status}")) }
}

/// The status code of an HTTP/1.x status line.
pub fn status_code(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    let code = parts.next()?;
    (code.len() == 3).then(|| code.parse().ok()).flatten()
}

/// Up/down with hysteresis: `fall` failures in a row make it down, `rise`
/// successes in a row make it up.
#[derive(Debug, Clone)]
pub struct Hysteresis {
    up: bool,
    streak: u32,
    fall: u32,
    rise: u32,
}

impl Hysteresis {
    pub fn new(up: bool, fall: u32, rise: u32) -> Hysteresis {
        Hysteresis { up, streak: 0, fall: fall.max(1), rise: rise.max(1) }
    }

    /// Records one result and returns the state.
    pub fn record(&mut self, ok: bool) -> bool {
        if ok == self.up {
            self.streak = 0;
        } else {
            self.streak += 1;
            if self.streak >= if self.up { self.fall } else { self.rise } {
                self.up = ok;
                self.streak = 0;
            }
        }
        self.up
    }
}

/// Runs the first check, then keeps checking every `interval` until
/// `stop`. The returned receiver says whether the server is up.
pub async fn start(
    health: Health,
    stop: CancellationToken,
) -> (watch::Receiver<bool>, tokio::task::JoinHandle<()>) {
    let first = check_once(&health.check, health.timeout).await;
    if let Err(reason) = &first {
        tracing::warn!(%reason, "media server is down");
    }
    let (tx, rx) = watch::channel(first.is_ok());
    let task = tokio::spawn(async move {
        let mut state = Hysteresis::new(first.is_ok(), health.fall, health.rise);
        let mut ticks = tokio::time::interval(health.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let result = check_once(&health.check, health.timeout).await;
            let was_up = *tx.borrow();
            let up = state.record(result.is_ok());
            if up != was_up {
                match &result {
                    Err(reason) => tracing::warn!(%reason, "media server is down"),
                    Ok(()) => tracing::info!("media server is up again"),
                }
                if tx.send(up).is_err() {
                    return;
                }
            }
        }
    });
    (rx, task)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn parses_http_urls() {
        let t = HttpTarget::parse("http://media1:8080/health").unwrap();
        assert_eq!(
            (t.address.as_str(), t.host_header.as_str(), t.path.as_str()),
            ("media1:8080", "media1:8080", "/health")
        );
        let t = HttpTarget::parse("http://media1").unwrap();
        assert_eq!((t.address.as_str(), t.path.as_str()), ("media1:80", "/"));
        let t = HttpTarget::parse("http://[::1]:81/x?y=1").unwrap();
        assert_eq!((t.address.as_str(), t.path.as_str()), ("[::1]:81", "/x?y=1"));
        assert_eq!(HttpTarget::parse("http://[::1]/").unwrap().address, "[::1]:80");
        for bad in ["https://a/", "http://", "http:///x", "http://u@h/", "ftp://a"] {
            assert!(HttpTarget::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_status_lines() {
        assert_eq!(status_code(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(status_code(b"HTTP/1.0 503 Service Unavailable\r\nx"), Some(503));
        assert_eq!(status_code(b"HTTP/1.1 204"), Some(204));
        assert_eq!(status_code(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_code(b""), None);
        assert_eq!(status_code(b"HTTP/1.1 2000 x"), None);
    }

    #[test]
    fn hysteresis() {
        let mut h = Hysteresis::new(true, 2, 1);
        assert!(h.record(false), "one failure is not enough");
        assert!(!h.record(false), "two are");
        assert!(h.record(true), "one success brings it back");
        assert!(h.record(false));
        assert!(h.record(true), "a success resets the failure streak");
        assert!(h.record(false));
        assert!(!h.record(false));
    }

    #[tokio::test]
    async fn checks_real_sockets() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tcp = HealthCheck::Tcp { address: addr.to_string() };
        assert!(check_once(&tcp, Duration::from_secs(2)).await.is_ok());

        // A tiny HTTP server: answers 200 on /ok and 500 elsewhere.
        let server = tokio::spawn(async move {
            // The TCP check's connection comes first and sends nothing.
            for _ in 0..3 {
                let (mut conn, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 512];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    continue;
                }
                let ok = buf[..n].starts_with(b"GET /ok ");
                let answer: &[u8] =
                    if ok { b"HTTP/1.1 200 OK\r\n\r\n" } else { b"HTTP/1.1 500 Oops\r\n\r\n" };
                let _ = conn.write_all(answer).await;
            }
            listener
        });
        let ok = HealthCheck::Http { url: format!("http://{addr}/ok") };
        assert!(check_once(&ok, Duration::from_secs(2)).await.is_ok());
        let bad = HealthCheck::Http { url: format!("http://{addr}/broken") };
        assert_eq!(check_once(&bad, Duration::from_secs(2)).await, Err("HTTP status 500".to_string()));
        drop(server.await.unwrap());
        assert!(check_once(&tcp, Duration::from_secs(2)).await.is_err(), "closed port");
    }
}
