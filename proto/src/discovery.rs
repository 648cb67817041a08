//! Finding the broker without typing its address: DNS-based service
//! discovery over multicast DNS (RFC 6762/6763), with `mdns-sd`.
//!
//! The broker advertises one instance of [`SERVICE_TYPE`] whose SRV port is
//! its gRPC port and whose TXT record carries `txtvers` ([`TXT_VERSION`]),
//! `tls` (`0` or `1`) and `id` (the broker's id). Agents and `bourse`
//! browse for it when no address is given; an explicit address always
//! wins, so none of this runs then.
//!
//! Where the advertisement goes follows where the broker listens: on a
//! wildcard address (`0.0.0.0`, `[::]`) on every interface with that
//! interface's own addresses; on a loopback address on loopback only (the
//! default broker listens there, so out of the box nothing is announced
//! beyond this machine); on any other address on that one interface.
//!
//! mDNS answers where the sockets can reach: one link, no routers. Treat
//! it as the way to learn where the trader is, never as a channel for
//! load figures (those come over gRPC).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use mdns_sd::{IfKind, ScopedIp, ServiceDaemon, ServiceEvent, ServiceInfo};

/// The DNS-SD service type of a Bourse broker.
pub const SERVICE_TYPE: &str = "_bourse._tcp.local.";

/// The version of the TXT record's keys (`txtvers`, RFC 6763 §6.7).
pub const TXT_VERSION: &str = "1";

/// The standard mDNS port. Tests use another one so that they neither see
/// nor disturb the machine's own responders.
pub const MDNS_PORT: u16 = 5353;

/// How long a command-line client waits for an answer by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// Something went wrong with mDNS itself (not "nobody answered").
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("mDNS: {0}")]
    Mdns(#[from] mdns_sd::Error),
    #[error("mDNS: the responder stopped")]
    Stopped,
    #[error(
        "no Bourse broker answered on mDNS ({SERVICE_TYPE}) within {} s",
        .0.as_secs_f64()
    )]
    NothingAnswered(Duration),
}

/// Which interfaces a browser listens and asks on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reach {
    /// Every interface, loopback included: the link the machine is on.
    #[default]
    Network,
    /// Loopback only: brokers on this machine (tests, laptops).
    Loopback,
}

/// What the broker announces.
#[derive(Debug, Clone)]
pub struct Advertise {
    /// Where the gRPC server listens (the real port, not 0).
    pub listen: SocketAddr,
    /// The broker's id, for the TXT record.
    pub id: String,
    /// The instance name shown by browsers (unique on the link).
    pub instance: String,
    /// Whether clients must use TLS.
    pub tls: bool,
    /// UDP port for mDNS ([`MDNS_PORT`] but in tests).
    pub mdns_port: u16,
}

/// A running advertisement. [`Advertisement::withdraw`] sends the goodbye
/// packets; dropping it without that only stops the responder, and
/// browsers forget the broker when the record's TTL runs out.
pub struct Advertisement {
    daemon: ServiceDaemon,
    fullname: String,
}

impl std::fmt::Debug for Advertisement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Advertisement").field("fullname", &self.fullname).finish_non_exhaustive()
    }
}

/// Restricts a daemon to the interfaces that `ip` calls for.
fn limit_interfaces(daemon: &ServiceDaemon, ip: IpAddr) -> Result<(), mdns_sd::Error> {
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => daemon.disable_interface(IfKind::IPv6),
        IpAddr::V6(v6) if v6.is_unspecified() => Ok(()),
        ip if ip.is_loopback() => {
            daemon.disable_interface(IfKind::All)?;
            daemon.enable_interface(vec![IfKind::LoopbackV4, IfKind::LoopbackV6])
        }
        ip => {
            daemon.disable_interface(IfKind::All)?;
            daemon.enable_interface(IfKind::Addr(ip))
        }
    }
}

impl Advertisement {
    /// Starts a responder for the broker. Errors here are about mDNS
    /// itself (a socket that cannot be opened, a name that is not valid).
    pub fn start(ad: &Advertise) -> Result<Advertisement, DiscoveryError> {
        let daemon = ServiceDaemon::new_with_port(ad.mdns_port)?;
        let ip = ad.listen.ip();
        limit_interfaces(&daemon, ip)?;
        let txt = [("txtvers", TXT_VERSION), ("tls", if ad.tls { "1" } else { "0" }), ("id", ad.id.as_str())];
        // The host name is the broker's own, so it never competes with the
        // machine's name in another responder on the same host.
        let host = format!("bourse-{}.local.", sanitize_label(&ad.id));
        let info = if ip.is_unspecified() {
            ServiceInfo::new(SERVICE_TYPE, &ad.instance, &host, "", ad.listen.port(), &txt[..])?
                .enable_addr_auto()
        } else {
            ServiceInfo::new(SERVICE_TYPE, &ad.instance, &host, ip, ad.listen.port(), &txt[..])?
        };
        let fullname = info.get_fullname().to_string();
        daemon.register(info)?;
        Ok(Advertisement { daemon, fullname })
    }

    /// The full DNS-SD name announced, `instance._bourse._tcp.local.`.
    pub fn fullname(&self) -> &str {
        &self.fullname
    }

    /// Withdraws the announcement (goodbye packets with TTL 0, so browsers
    /// drop the broker at once) and stops the responder; waits at most
    /// `grace` for the goodbye to go out.
    pub async fn withdraw(self, grace: Duration) {
        match self.daemon.unregister(&self.fullname) {
            Ok(done) => {
                if !matches!(tokio::time::timeout(grace, done.recv_async()).await, Ok(Ok(_))) {
                    tracing::warn!(name = %self.fullname, "mDNS goodbye not confirmed");
                }
            }
            Err(err) => tracing::warn!(error = %err, "mDNS: cannot withdraw the announcement"),
        }
    }
}

impl Drop for Advertisement {
    fn drop(&mut self) {
        let _ = self.daemon.shutdown();
    }
}

/// Keeps what is valid in one DNS label of a host name.
fn sanitize_label(text: &str) -> String {
    let label: String =
        text.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).take(50).collect();
    if label.is_empty() { "broker".to_string() } else { label }
}

/// How to look for a broker.
#[derive(Debug, Clone)]
pub struct Discover {
    /// Give up after this long.
    pub timeout: Duration,
    /// UDP port for mDNS.
    pub mdns_port: u16,
    pub reach: Reach,
    /// Accept only the broker with this id.
    pub id: Option<String>,
}

impl Default for Discover {
    fn default() -> Self {
        Discover { timeout: DEFAULT_TIMEOUT, mdns_port: MDNS_PORT, reach: Reach::Network, id: None }
    }
}

/// A broker that answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// `http://ip:port` (or `https://` when the broker says `tls=1`).
    pub endpoint: String,
    /// The broker's id from its TXT record.
    pub id: String,
    /// The DNS-SD instance name, `instance._bourse._tcp.local.`.
    pub fullname: String,
    pub tls: bool,
    /// Every address it announced, best first.
    pub addresses: Vec<IpAddr>,
}

/// Rank of an address for connecting: IPv4 before IPv6 (no zone needed),
/// loopback first (it is this machine), link-local IPv6 never (it needs an
/// interface the URL cannot carry).
fn address_rank(ip: &IpAddr) -> Option<u8> {
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => Some(0),
        IpAddr::V4(v4) if v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast() => None,
        IpAddr::V4(_) => Some(1),
        IpAddr::V6(v6) if v6.is_loopback() => Some(2),
        IpAddr::V6(v6) if v6.is_unicast_link_local() || v6.is_unspecified() || v6.is_multicast() => None,
        IpAddr::V6(_) => Some(3),
    }
}

/// Turns a resolved record into a [`Found`], or says why it is not ours.
pub fn accept(
    port: u16,
    fullname: &str,
    addresses: &HashSet<ScopedIp>,
    txt: impl Fn(&str) -> Option<String>,
    want_id: Option<&str>,
) -> Result<Found, String> {
    let version = txt("txtvers");
    if version.as_deref() != Some(TXT_VERSION) {
        return Err(format!("txtvers {version:?}, not {TXT_VERSION}"));
    }
    let id = txt("id").unwrap_or_default();
    if let Some(want) = want_id
        && want != id
    {
        return Err(format!("id '{id}', not '{want}'"));
    }
    let tls = match txt("tls").as_deref() {
        Some("1") => true,
        Some("0") | None => false,
        Some(other) => return Err(format!("tls '{other}' is neither 0 nor 1")),
    };
    if port == 0 {
        return Err("port 0".to_string());
    }
    let mut ranked: Vec<(u8, IpAddr)> = addresses
        .iter()
        .map(ScopedIp::to_ip_addr)
        .filter_map(|ip| address_rank(&ip).map(|r| (r, ip)))
        .collect();
    ranked.sort();
    let addresses: Vec<IpAddr> = ranked.into_iter().map(|(_, ip)| ip).collect();
    let Some(best) = addresses.first() else {
        return Err("no usable address".to_string());
    };
    let scheme = if tls { "https" } else { "http" };
    let endpoint = format!("{scheme}://{}", SocketAddr::new(*best, port));
    Ok(Found { endpoint, id, fullname: fullname.to_string(), tls, addresses })
}

/// Browses until a broker answers or `options.timeout` passes. The first
/// broker resolved wins; with several on the link, pass `id` to choose.
pub async fn discover(options: &Discover) -> Result<Found, DiscoveryError> {
    let daemon = ServiceDaemon::new_with_port(options.mdns_port)?;
    if options.reach == Reach::Loopback {
        limit_interfaces(&daemon, IpAddr::V4(Ipv4Addr::LOCALHOST))?;
    }
    let events = daemon.browse(SERVICE_TYPE)?;
    let search = async {
        loop {
            match events.recv_async().await {
                Ok(ServiceEvent::ServiceResolved(service)) => {
                    let txt = |key: &str| service.get_property_val_str(key).map(str::to_string);
                    match accept(
                        service.port,
                        &service.fullname,
                        &service.addresses,
                        txt,
                        options.id.as_deref(),
                    ) {
                        Ok(found) => return Ok(found),
                        Err(why) => tracing::debug!(name = %service.fullname, %why, "mDNS: passing over"),
                    }
                }
                Ok(_) => {}
                Err(_) => return Err(DiscoveryError::Stopped),
            }
        }
    };
    let result = tokio::time::timeout(options.timeout, search)
        .await
        .unwrap_or(Err(DiscoveryError::NothingAnswered(options.timeout)));
    let _ = daemon.shutdown();
    result
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]

    use super::*;

    fn txt<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |key| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string())
    }

    fn ips(list: &[&str]) -> HashSet<ScopedIp> {
        list.iter().map(|s| ScopedIp::from(s.parse::<IpAddr>().unwrap())).collect()
    }

    #[test]
    fn accepts_a_broker_and_ranks_its_addresses() {
        let pairs = [("txtvers", "1"), ("tls", "0"), ("id", "b1")];
        let found = accept(
            7300,
            "x._bourse._tcp.local.",
            &ips(&["fe80::1", "10.0.0.5", "127.0.0.1"]),
            txt(&pairs),
            None,
        )
        .unwrap();
        assert_eq!(found.endpoint, "http://127.0.0.1:7300");
        assert_eq!(
            found.addresses,
            vec!["127.0.0.1".parse::<IpAddr>().unwrap(), "10.0.0.5".parse().unwrap()]
        );
        assert_eq!(found.id, "b1");
        assert!(!found.tls);

        let pairs = [("txtvers", "1"), ("tls", "1"), ("id", "b2")];
        let found = accept(443, "y", &ips(&["2001:db8::7"]), txt(&pairs), Some("b2")).unwrap();
        assert_eq!(found.endpoint, "https://[2001:db8::7]:443");
    }

    #[test]
    fn refuses_what_is_not_a_broker_it_can_use() {
        let ok = [("txtvers", "1"), ("tls", "0"), ("id", "b1")];
        let addrs = ips(&["10.0.0.5"]);
        assert!(accept(7300, "n", &addrs, txt(&[("tls", "0")]), None).unwrap_err().contains("txtvers"));
        assert!(accept(7300, "n", &addrs, txt(&[("txtvers", "2")]), None).unwrap_err().contains("txtvers"));
        assert!(accept(7300, "n", &addrs, txt(&ok), Some("b9")).unwrap_err().contains("'b1'"));
        let bad_tls = [("txtvers", "1"), ("tls", "yes")];
        assert!(accept(7300, "n", &addrs, txt(&bad_tls), None).unwrap_err().contains("tls"));
        assert!(accept(7300, "n", &ips(&["fe80::1"]), txt(&ok), None).unwrap_err().contains("address"));
        assert!(accept(0, "n", &addrs, txt(&ok), None).unwrap_err().contains("port"));
    }

    #[test]
    fn host_labels_are_valid() {
        assert_eq!(sanitize_label("ab_c.d"), "ab-c-d");
        assert_eq!(sanitize_label(""), "broker");
    }

    /// A broker advertised on loopback, on a private mDNS port, is found
    /// with its port and TXT; after the goodbye, nothing answers.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn advertise_then_discover_on_loopback() {
        let mdns_port = 20_000 + (std::process::id() % 20_000) as u16;
        let id = format!("test-{}", std::process::id());
        let ad = Advertisement::start(&Advertise {
            listen: "127.0.0.1:7399".parse().unwrap(),
            id: id.clone(),
            instance: format!("bourse-{id}"),
            tls: false,
            mdns_port,
        })
        .unwrap();
        let options = Discover {
            timeout: Duration::from_secs(5),
            mdns_port,
            reach: Reach::Loopback,
            id: Some(id.clone()),
        };
        let found = discover(&options).await.unwrap();
        assert_eq!(found.endpoint, "http://127.0.0.1:7399");
        assert_eq!(found.id, id);
        assert_eq!(found.fullname, ad.fullname());
        ad.withdraw(Duration::from_secs(2)).await;

        let options = Discover { timeout: Duration::from_millis(1500), ..options };
        let err = discover(&options).await.unwrap_err();
        assert!(matches!(err, DiscoveryError::NothingAnswered(_)), "{err}");
        assert!(err.to_string().contains("_bourse._tcp.local."), "{err}");
    }
}
