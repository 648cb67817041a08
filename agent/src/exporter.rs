//! Keeping the offer true in the broker: export with a lease, renew it
//! (KeepAlive about every third of the lease), export again when the broker
//! has forgotten it (NOT_FOUND: restart or lapsed lease), push catalog
//! changes with Modify, withdraw while the media server is down and when
//! the agent stops. While the broker is unreachable, calls are retried with
//! capped, jittered exponential backoff; a broker that was found by mDNS
//! is looked for again once it has been unreachable for a lease, so that
//! the agent follows a broker that comes back at another address.
//!
//! One loop owns the offer; everything that makes it act is a [`Wake`].

use std::sync::Arc;
use std::time::Duration;

use bourse_proto as pb;
use pb::register_client::RegisterClient;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::AgentEvent;
use crate::catalog::Catalog;
use crate::eval::OfferIds;
use crate::offer::{OfferSpec, catalog_properties};

/// Retry delays: exponential from `base`, capped, with jitter.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff { base, cap: cap.max(base), attempt: 0 }
    }

    /// The undithered delay of the next attempt.
    fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The next delay: between half and all of the ceiling, so that agents
    /// that lost the same broker do not come back in lockstep.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        ceiling.mul_f64(rand::random_range(0.5..=1.0))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// An offer the broker holds.
#[derive(Debug, Clone)]
struct Exported {
    id: String,
    lease: Duration,
    renew_at: Instant,
}

/// What woke the loop.
enum Wake {
    Stop,
    /// The media server went up or down.
    Health(bool),
    CatalogChanged,
    /// A renewal or a retry is due.
    Timer,
}

/// The loop's inputs and outputs.
pub struct Exporter {
    pub client: RegisterClient<Channel>,
    pub spec: OfferSpec,
    /// Written by the catalog watcher.
    pub catalog: watch::Receiver<Arc<Catalog>>,
    /// Written by the health checker (always true without a check).
    pub media_up: watch::Receiver<bool>,
    /// Read by the callback service.
    pub offers: OfferIds,
    /// The current offer id, for tests and status.
    pub current: watch::Sender<Option<String>>,
    /// Read by the binary (prints `exported offer ID`) or a test.
    pub events: mpsc::UnboundedSender<AgentEvent>,
    /// Longest time the final Withdraw may take.
    pub withdraw_grace: Duration,
    /// Set when the broker was found by mDNS: how to look for it again.
    pub rediscover: Option<Rediscover>,
}

/// How an exporter whose broker was found by mDNS looks for it again.
#[derive(Debug, Clone)]
pub struct Rediscover {
    pub options: bourse_proto::discovery::Discover,
    /// The endpoint in use.
    pub endpoint: String,
}

/// The lease the broker granted, kept within sane bounds whatever it says
/// (a renewal time beyond a day would be a broker bug, not a plan).
fn granted_lease(seconds: u64) -> Duration {
    Duration::from_secs(seconds.clamp(1, 86_400))
}

fn renew_period(lease: Duration) -> Duration {
    (lease / 3).max(Duration::from_millis(100))
}

impl Exporter {
    /// Runs until `stop`, then withdraws the offer.
    pub async fn run(mut self, stop: CancellationToken) {
        let mut backoff =
            Backoff::new(Duration::from_millis(200), self.spec.lease.min(Duration::from_secs(30)));
        let mut offer: Option<Exported> = None;
        let mut catalog_dirty = false;
        let mut retry_at: Option<Instant> = Some(Instant::now());
        let mut health_open = true;
        let mut catalog_open = true;
        // Since when every call to the broker has failed as unreachable.
        let mut unreachable_since: Option<Instant> = None;
        loop {
            let up = *self.media_up.borrow();
            let due = match (&offer, retry_at) {
                (_, Some(at)) => Some(at),
                (Some(o), None) => Some(o.renew_at),
                (None, None) => None,
            };
            let wake = tokio::select! {
                biased;
                _ = stop.cancelled() => Wake::Stop,
                changed = self.media_up.changed(), if health_open => match changed {
                    Ok(()) => Wake::Health(*self.media_up.borrow_and_update()),
                    Err(_) => { health_open = false; continue; }
                },
                changed = self.catalog.changed(), if catalog_open => match changed {
                    Ok(()) => Wake::CatalogChanged,
                    Err(_) => { catalog_open = false; continue; }
                },
                _ = sleep_until_opt(due), if up => Wake::Timer,
            };
            match wake {
                Wake::Stop => break,
                Wake::Health(false) => {
                    if let Some(old) = offer.take() {
                        self.withdraw(&old, "media server is down").await;
                    }
                    retry_at = None;
                    continue;
                }
                Wake::Health(true) => {
                    backoff.reset();
                    retry_at = Some(Instant::now());
                    continue;
                }
                Wake::CatalogChanged => {
                    self.catalog.borrow_and_update();
                    catalog_dirty = true;
                    // Push it now unless a retry is already scheduled.
                    // Without an offer, the next export carries it.
                    if retry_at.is_none() && offer.is_some() {
                        retry_at = Some(Instant::now());
                    }
                    continue;
                }
                Wake::Timer => {}
            }

            // Something is due: export, push the catalog, or renew.
            retry_at = None;
            let result = match offer.take() {
                None => self.export().await.map(|exported| {
                    catalog_dirty = false;
                    Some(exported)
                }),
                Some(current) if catalog_dirty => match self.modify(&current).await {
                    Ok(()) => {
                        catalog_dirty = false;
                        let renew_due = current.renew_at <= Instant::now();
                        if renew_due { self.keep_alive(current).await } else { Ok(Some(current)) }
                    }
                    Err(status) if status.code() == Code::NotFound => {
                        tracing::info!(id = %current.id, "broker forgot the offer; exporting again with the new catalog");
                        self.forget(&current, "broker forgot it");
                        Ok(None)
                    }
                    Err(status) if !is_transient(&status) => {
                        // Retrying the same catalog would fail the same way;
                        // keep the offer as it is and wait for the next change.
                        tracing::error!(id = %current.id, error = %status.message(), "broker refused the catalog update");
                        catalog_dirty = false;
                        Ok(Some(current))
                    }
                    Err(status) => Err((status, Some(current))),
                },
                Some(current) => self.keep_alive(current).await,
            };
            match result {
                Ok(kept) => {
                    backoff.reset();
                    unreachable_since = None;
                    offer = kept;
                    if offer.is_none() {
                        // Forgotten by the broker: export again right away.
                        retry_at = Some(Instant::now());
                    }
                }
                Err((status, kept)) => {
                    if status.code() == Code::Unavailable {
                        let since = *unreachable_since.get_or_insert_with(Instant::now);
                        if since.elapsed() >= self.spec.lease
                            && let Some(found) = self.look_again(&stop).await
                        {
                            if let Some(old) = &kept {
                                self.forget(old, "broker moved");
                            }
                            self.move_to(found);
                            offer = None;
                            unreachable_since = None;
                            backoff.reset();
                            retry_at = Some(Instant::now());
                            continue;
                        }
                    } else {
                        unreachable_since = None;
                    }
                    let delay = backoff.next_delay();
                    tracing::warn!(code = ?status.code(), message = status.message(), retry_in = ?delay, "broker call failed");
                    offer = kept;
                    retry_at = Some(Instant::now() + delay);
                }
            }
        }
        if let Some(current) = offer {
            match tokio::time::timeout(self.withdraw_grace, self.withdraw(&current, "agent stopping")).await {
                Ok(()) => {}
                Err(_) => {
                    tracing::warn!(id = %current.id, "withdraw did not finish in time; the lease will lapse")
                }
            }
        }
    }

    async fn export(&mut self) -> Result<Exported, (Status, Option<Exported>)> {
        let catalog = self.catalog.borrow().clone();
        let request = self.spec.export_request(&catalog);
        let response = self.client.export(request).await.map_err(|status| (status, None))?.into_inner();
        let lease = granted_lease(response.lease_seconds);
        let exported = Exported { id: response.id, lease, renew_at: Instant::now() + renew_period(lease) };
        self.offers.add(&exported.id);
        tracing::info!(id = %exported.id, lease = ?lease, titles = catalog.titles.len(), "offer exported");
        self.current.send_replace(Some(exported.id.clone()));
        let _ = self.events.send(AgentEvent::Exported { id: exported.id.clone() });
        Ok(exported)
    }

    /// Renews the lease. `Ok(None)` when the broker no longer knows the
    /// offer.
    async fn keep_alive(
        &mut self,
        mut current: Exported,
    ) -> Result<Option<Exported>, (Status, Option<Exported>)> {
        let request =
            pb::KeepAliveRequest { id: current.id.clone(), lease_seconds: self.spec.lease_seconds() };
        match self.client.keep_alive(request).await {
            Ok(response) => {
                let granted = response.into_inner().lease_seconds;
                if granted > 0 {
                    current.lease = granted_lease(granted);
                }
                current.renew_at = Instant::now() + renew_period(current.lease);
                Ok(Some(current))
            }
            Err(status) if status.code() == Code::NotFound => {
                tracing::info!(id = %current.id, "broker forgot the offer (restart or lapsed lease); exporting again");
                self.forget(&current, "broker forgot it");
                Ok(None)
            }
            Err(status) => Err((status, Some(current))),
        }
    }

    /// Pushes the current catalog. NOT_FOUND drops the offer, so the next
    /// step exports it anew with that catalog.
    async fn modify(&mut self, current: &Exported) -> Result<(), Status> {
        let catalog = self.catalog.borrow().clone();
        let request = pb::ModifyRequest {
            id: current.id.clone(),
            delete: Vec::new(),
            modify: catalog_properties(&catalog),
        };
        match self.client.modify(request).await {
            Ok(_) => {
                tracing::info!(id = %current.id, titles = catalog.titles.len(), "catalog pushed to the broker");
                let _ = self.events.send(AgentEvent::CatalogUpdated {
                    id: current.id.clone(),
                    titles: catalog.titles.len(),
                });
                Ok(())
            }
            Err(status) => Err(status),
        }
    }

    async fn withdraw(&mut self, current: &Exported, reason: &'static str) {
        match self.client.withdraw(pb::WithdrawRequest { id: current.id.clone() }).await {
            Ok(_) => tracing::info!(id = %current.id, reason, "offer withdrawn"),
            Err(status) if status.code() == Code::NotFound => {}
            Err(status) => {
                tracing::warn!(id = %current.id, reason, error = %status.message(), "withdraw failed; the lease will lapse")
            }
        }
        self.forget(current, reason);
    }

    /// Browses mDNS once (a few seconds at most); returns a broker that
    /// answers at another address than the one in use.
    async fn look_again(&self, stop: &CancellationToken) -> Option<bourse_proto::discovery::Found> {
        let rediscover = self.rediscover.as_ref()?;
        let result = tokio::select! {
            _ = stop.cancelled() => return None,
            result = bourse_proto::discovery::discover(&rediscover.options) => result,
        };
        match result {
            Ok(found) if found.endpoint != rediscover.endpoint => {
                tracing::info!(from = %rediscover.endpoint, to = %found.endpoint, id = %found.id, "the broker answers on mDNS at another address");
                Some(found)
            }
            Ok(_) => None,
            Err(err) => {
                tracing::debug!(error = %err, "looked for the broker again by mDNS");
                None
            }
        }
    }

    /// Talks to the broker `found` from now on.
    fn move_to(&mut self, found: bourse_proto::discovery::Found) {
        match register_client(&found.endpoint, self.spec.lease) {
            Ok(client) => {
                self.client = client;
                let _ = self
                    .events
                    .send(AgentEvent::BrokerFound { endpoint: found.endpoint.clone(), id: found.id });
                if let Some(rediscover) = &mut self.rediscover {
                    rediscover.endpoint = found.endpoint;
                }
            }
            Err(err) => {
                tracing::error!(endpoint = %found.endpoint, error = %err, "the broker found by mDNS is unusable");
            }
        }
    }

    fn forget(&mut self, current: &Exported, reason: &'static str) {
        self.current.send_replace(None);
        let _ = self.events.send(AgentEvent::Withdrawn { id: current.id.clone(), reason });
    }
}

/// Whether a failed call is worth retrying as it is.
fn is_transient(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::Unknown
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Internal
    )
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A client of the broker's Register service. The channel connects lazily
/// and reconnects by itself; each call has a deadline so that a hung
/// broker counts as unreachable.
pub fn register_client(
    broker: &str,
    lease: Duration,
) -> Result<RegisterClient<Channel>, tonic::transport::Error> {
    let call_timeout = (lease / 2).clamp(Duration::from_millis(500), Duration::from_secs(5));
    let channel = tonic::transport::Endpoint::from_shared(broker.to_string())?
        .connect_timeout(Duration::from_secs(1).min(call_timeout))
        .timeout(call_timeout)
        .tcp_nodelay(true)
        .connect_lazy();
    Ok(RegisterClient::new(channel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_jittered_and_capped() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let mut ceilings = Vec::new();
        for _ in 0..8 {
            let ceiling = backoff.ceiling();
            let delay = backoff.next_delay();
            assert!(
                delay <= ceiling && delay >= ceiling / 2,
                "{delay:?} outside [{:?}, {ceiling:?}]",
                ceiling / 2
            );
            ceilings.push(ceiling.as_millis());
        }
        assert_eq!(ceilings, vec![100, 200, 400, 800, 1600, 2000, 2000, 2000]);
        backoff.reset();
        assert_eq!(backoff.ceiling(), Duration::from_millis(100));
        let mut long = Backoff::new(Duration::from_millis(100), Duration::from_secs(30));
        for _ in 0..100 {
            long.next_delay();
        }
        assert_eq!(long.ceiling(), Duration::from_secs(30), "no overflow after many attempts");
    }
}
