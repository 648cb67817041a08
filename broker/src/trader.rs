//! The trader: the type repository and the offers, with the operations of
//! the Register, TypeRepository and Admin interfaces. Queries live in
//! `query.rs`.
//!
//! Concurrency: one `RwLock` guards types and offers together, so a query
//! sees a consistent snapshot and never waits on I/O. Mutations take the
//! async `write_gate` first, which orders them and spans the disk write;
//! they check against the current state, persist, and only then take the
//! write lock to apply the change, so a failed disk write changes nothing.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::dynamic::Evaluators;
use crate::error::{ExprField, TraderError};
use crate::names::PropNames;
use crate::offer::{self, NewProp, Offer, PERMANENT, StoredOffer};
use crate::pages::Pages;
use crate::persist::Persist;
use crate::pick::Reservations;
use crate::policy::Settings;
use crate::store::OfferStore;
use crate::types::{ServiceType, TypeRepo};

/// Types and offers, guarded together.
pub(crate) struct State {
    pub types: TypeRepo,
    pub offers: OfferStore,
}

/// The trader's clock: milliseconds since the trader started, on tokio's
/// clock so that tests can pause and advance time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    epoch: Instant,
    epoch_unix_ms: i64,
}

impl Clock {
    fn new() -> Clock {
        let unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        Clock { epoch: Instant::now(), epoch_unix_ms: i64::try_from(unix_ms).unwrap_or(i64::MAX) }
    }

    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    /// Wall-clock time of a trader-clock instant, in Unix milliseconds.
    pub fn unix_ms(&self, ms: u64) -> i64 {
        self.epoch_unix_ms.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX))
    }
}

/// Counters shown by `Admin.Stats`.
#[derive(Default)]
pub struct Stats {
    pub queries: AtomicU64,
    pub exports: AtomicU64,
    pub withdrawals: AtomicU64,
    pub lease_expiries: AtomicU64,
    /// Named counters that other parts add (dynamic evaluation, picking).
    pub counters: DashMap<&'static str, AtomicU64>,
}

impl Stats {
    pub fn bump(&self, name: &'static str, by: u64) {
        self.counters.entry(name).or_default().fetch_add(by, Ordering::Relaxed);
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

/// An export request in domain terms.
#[derive(Debug, Clone)]
pub struct ExportArgs {
    pub type_name: String,
    pub reference: String,
    pub props: Vec<NewProp>,
    /// Requested lease in seconds; 0 for a permanent offer.
    pub lease_seconds: u64,
    pub owner: String,
}

/// What a successful export returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    pub id: String,
    pub lease_seconds: u64,
}

pub struct Trader {
    state: RwLock<State>,
    /// Orders mutations and spans their disk writes; see the module docs.
    write_gate: tokio::sync::Mutex<()>,
    persist: Option<Arc<Persist>>,
    pub(crate) names: PropNames,
    settings: RwLock<Settings>,
    pub(crate) pages: Pages,
    /// Callbacks to exporters for dynamic properties, and their cache.
    pub(crate) dynamic: Evaluators,
    /// Room reserved on servers by Pick.
    pub(crate) reservations: Reservations,
    /// Service types removed by a user, so built-in types stay removed.
    removed_types: dashmap::DashSet<String>,
    pub clock: Clock,
    pub stats: Stats,
    started: Instant,
}

impl Trader {
    /// A trader with no data directory: everything lives in memory.
    pub fn in_memory(settings: Settings) -> Result<Trader, TraderError> {
        Trader::build(settings, None)
    }

    /// A trader whose permanent offers and types live in `data_dir`.
    pub fn open(settings: Settings, data_dir: &Path) -> Result<Trader, TraderError> {
        Trader::build(settings, Some(Arc::new(Persist::open(data_dir)?)))
    }

    fn build(settings: Settings, persist: Option<Arc<Persist>>) -> Result<Trader, TraderError> {
        settings.validate()?;
        let max_in_flight = usize::try_from(settings.max_concurrent_evaluations).unwrap_or(usize::MAX);
        let trader = Trader {
            state: RwLock::new(State { types: TypeRepo::new(), offers: OfferStore::new() }),
            write_gate: tokio::sync::Mutex::new(()),
            persist,
            names: PropNames::new(),
            settings: RwLock::new(settings),
            pages: Pages::default(),
            dynamic: Evaluators::new(max_in_flight),
            reservations: Reservations::default(),
            removed_types: dashmap::DashSet::new(),
            clock: Clock::new(),
            stats: Stats::default(),
            started: Instant::now(),
        };
        trader.restore()?;
        Ok(trader)
    }

    /// Reads types and permanent offers back from the data directory.
    fn restore(&self) -> Result<(), TraderError> {
        let Some(persist) = &self.persist else { return Ok(()) };
        let loaded = persist.load()?;
        let mut state = self.write_state();
        for decl in loaded.types {
            let full = state.types.check_add(&decl, &self.names).map_err(|e| {
                TraderError::Storage(format!("stored service type '{}' no longer loads: {e}", decl.name))
            })?;
            state.types.add(decl, full, true);
        }
        let mut n_offers = 0;
        for stored in loaded.offers {
            let id = stored.id.clone();
            match self.offer_from_stored(&state, stored) {
                Ok(offer) => {
                    state.offers.observe_seq(offer.seq);
                    state.offers.insert(Arc::new(offer));
                    n_offers += 1;
                }
                // Keep going: one bad record must not take every other offer
                // down with it. The record stays on disk for inspection.
                Err(err) => warn!(offer = %id, error = %err, "stored offer skipped"),
            }
        }
        for name in loaded.removed_types {
            self.removed_types.insert(name);
        }
        info!(types = state.types.len(), offers = n_offers, "state restored");
        Ok(())
    }

    fn offer_from_stored(&self, state: &State, stored: StoredOffer) -> Result<Offer, TraderError> {
        let full = state.types.full(&stored.type_name)?.clone();
        let props = stored.props.into_iter().map(|(name, value)| NewProp { name, value }).collect();
        let checked = offer::check_export(&full, &stored.reference, props, &self.names)?;
        Ok(Offer {
            id: Arc::from(stored.id),
            seq: stored.seq,
            type_name: Arc::from(stored.type_name),
            type_id: full.id,
            reference: stored.reference,
            props: checked.props,
            owner: stored.owner,
            lease_deadline_ms: AtomicU64::new(PERMANENT),
            lease_seconds: AtomicU64::new(0),
            has_dynamic: checked.has_dynamic,
            has_modifiable: checked.has_modifiable,
        })
    }

    pub(crate) fn read_state(&self) -> RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-changed
        // (changes are applied by infallible inserts), so poison is ignored.
        self.state.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn settings(&self) -> Settings {
        self.settings.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Replaces the settings after validating them; returns the old ones.
    pub fn set_settings(&self, settings: Settings) -> Result<Settings, TraderError> {
        settings.validate()?;
        let mut current = self.settings.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(std::mem::replace(&mut *current, settings))
    }

    /// Runs a disk write off the async runtime.
    async fn persist<F>(&self, write: F) -> Result<(), TraderError>
    where
        F: FnOnce(&Persist) -> Result<(), TraderError> + Send + 'static,
    {
        let Some(persist) = self.persist.clone() else { return Ok(()) };
        tokio::task::spawn_blocking(move || write(&persist))
            .await
            .map_err(|e| TraderError::Storage(format!("disk writer failed: {e}")))?
    }

    // ------------------------------------------------------------ types

    /// Adds the types of a type file that are not present yet (built-in and
    /// configured types at start). Types the user removed stay removed.
    pub async fn add_missing_types(&self, decls: Vec<ServiceType>) -> Result<Vec<String>, TraderError> {
        let mut added = Vec::new();
        for decl in decls {
            let exists = self.read_state().types.describe(&decl.name).is_ok();
            let removed = self.removed_types.contains(&decl.name);
            if !exists && !removed {
                let name = decl.name.clone();
                self.add_type(decl).await?;
                added.push(name);
            }
        }
        Ok(added)
    }

    pub async fn add_type(&self, decl: ServiceType) -> Result<u64, TraderError> {
        let _gate = self.write_gate.lock().await;
        let full = self.read_state().types.check_add(&decl, &self.names)?;
        let mut stored = decl.clone();
        stored.incarnation = self.read_state().types.incarnation() + 1;
        stored.masked = false;
        self.persist(move |p| p.put_type(&stored)).await?;
        let incarnation = self.write_state().types.add(decl, full, false);
        info!(incarnation, "service type added");
        Ok(incarnation)
    }

    pub async fn remove_type(&self, name: &str) -> Result<(), TraderError> {
        let _gate = self.write_gate.lock().await;
        let incarnation = {
            let state = self.read_state();
            state.types.check_remove(name)?;
            let type_id = state.types.full(name)?.id;
            let count = state.offers.count_of_type(type_id);
            if count > 0 {
                return Err(TraderError::HasOffers { name: name.to_string(), count });
            }
            state.types.incarnation() + 1
        };
        let owned = name.to_string();
        self.persist(move |p| p.delete_type(&owned, incarnation)).await?;
        self.write_state().types.remove(name);
        self.removed_types.insert(name.to_string());
        info!(name, "service type removed");
        Ok(())
    }

    pub async fn set_type_masked(&self, name: &str, masked: bool) -> Result<u64, TraderError> {
        let _gate = self.write_gate.lock().await;
        let decl = self.write_state().types.set_masked(name, masked)?;
        let incarnation = decl.incarnation;
        if let Err(err) = self.persist(move |p| p.put_type(&decl)).await {
            // Undo in memory so that memory and disk agree.
            let _ = self.write_state().types.set_masked(name, !masked);
            return Err(err);
        }
        Ok(incarnation)
    }

    pub fn describe_type(&self, name: &str) -> Result<ServiceType, TraderError> {
        self.read_state().types.describe(name).cloned()
    }

    pub fn fully_describe_type(&self, name: &str) -> Result<ServiceType, TraderError> {
        self.read_state().types.fully_describe(name)
    }

    /// Type names (all, or changed after `since`) and the current incarnation.
    pub fn list_types(&self, since: Option<u64>) -> (Vec<String>, u64) {
        let state = self.read_state();
        (state.types.list(since), state.types.incarnation())
    }

    // ----------------------------------------------------------- offers

    pub async fn export(&self, args: ExportArgs) -> Result<Exported, TraderError> {
        let _gate = self.write_gate.lock().await;
        let settings = self.settings();
        let (full, checked) = {
            let state = self.read_state();
            let full = state.types.full(&args.type_name)?.clone();
            if state.types.is_masked(&args.type_name) {
                return Err(TraderError::MaskedType(args.type_name));
            }
            let checked = offer::check_export(&full, &args.reference, args.props, &self.names)?;
            (full, checked)
        };
        let lease_seconds = settings.clamp_lease(args.lease_seconds);
        let deadline = if lease_seconds == 0 {
            PERMANENT
        } else {
            self.clock.now_ms().saturating_add(lease_seconds.saturating_mul(1000))
        };
        let seq = self.write_state().offers.allocate_seq();
        let offer = Offer {
            id: Arc::from(offer::new_offer_id()),
            seq,
            type_name: Arc::from(args.type_name),
            type_id: full.id,
            reference: args.reference,
            props: checked.props,
            owner: args.owner,
            lease_deadline_ms: AtomicU64::new(deadline),
            lease_seconds: AtomicU64::new(lease_seconds),
            has_dynamic: checked.has_dynamic,
            has_modifiable: checked.has_modifiable,
        };
        if lease_seconds == 0 {
            let stored = offer.to_stored();
            self.persist(move |p| p.put_offer(&stored)).await?;
        }
        let id = offer.id.to_string();
        debug!(offer = %id, r#type = %offer.type_name, lease_seconds, "exported");
        self.write_state().offers.insert(Arc::new(offer));
        self.stats.exports.fetch_add(1, Ordering::Relaxed);
        Ok(Exported { id, lease_seconds })
    }

    /// The live offer with this id.
    pub fn describe(&self, id: &str) -> Result<Arc<Offer>, TraderError> {
        if !offer::is_plausible_offer_id(id) {
            return Err(TraderError::IllegalOfferId(id.to_string()));
        }
        let now = self.clock.now_ms();
        match self.read_state().offers.get(id) {
            Some(offer) if offer.is_live(now) => Ok(offer.clone()),
            _ => Err(TraderError::UnknownOffer(id.to_string())),
        }
    }

    pub async fn withdraw(&self, id: &str) -> Result<(), TraderError> {
        let _gate = self.write_gate.lock().await;
        let offer = self.describe(id)?;
        if !offer.is_leased() {
            let owned = id.to_string();
            self.persist(move |p| p.delete_offers(&[&owned])).await?;
        }
        self.write_state().offers.remove(id);
        self.stats.withdrawals.fetch_add(1, Ordering::Relaxed);
        debug!(offer = %id, "withdrawn");
        Ok(())
    }

    pub async fn modify(
        &self,
        id: &str,
        delete: Vec<String>,
        modify: Vec<NewProp>,
    ) -> Result<Arc<Offer>, TraderError> {
        let _gate = self.write_gate.lock().await;
        let current = self.describe(id)?;
        let full = self.read_state().types.full(&current.type_name)?.clone();
        let props = offer::apply_modify(&current, &full, delete, modify, &self.names)?;
        let updated = Arc::new(current.with_props(props, &full));
        if !updated.is_leased() {
            let stored = updated.to_stored();
            self.persist(move |p| p.put_offer(&stored)).await?;
        }
        let mut state = self.write_state();
        // The lease may have moved (KeepAlive) since `current` was read.
        if let Some(live) = state.offers.get(id) {
            updated.renew(live.lease_seconds(), live.lease_deadline_ms());
        }
        state.offers.insert(updated.clone());
        Ok(updated)
    }

    /// Withdraws every offer of exactly `type_name` that matches
    /// `constraint`. Offers for which the constraint needs a dynamic
    /// property are kept: they cannot be shown to match.
    pub async fn withdraw_using_constraint(
        &self,
        type_name: &str,
        constraint: &str,
    ) -> Result<Vec<String>, TraderError> {
        if constraint.trim().is_empty() {
            return Err(TraderError::Expression {
                field: ExprField::Constraint,
                text: constraint.to_string(),
                source: crate::tcl::TclError::Syntax {
                    pos: 0,
                    expected: "a constraint (withdrawing every offer of a type needs an explicit TRUE)"
                        .into(),
                    found: "nothing".into(),
                },
            });
        }
        let _gate = self.write_gate.lock().await;
        let now = self.clock.now_ms();
        let victims: Vec<Arc<Offer>> = {
            let state = self.read_state();
            let full = state.types.full(type_name)?.clone();
            let compiled = crate::query::compile_constraint(&full, constraint, &self.names)?;
            state
                .offers
                .of_type(full.id)
                .iter()
                .filter_map(|seq| state.offers.get_seq(*seq))
                .filter(|o| o.is_live(now) && compiled.eval(o.as_ref()) == crate::tcl::Truth::True)
                .cloned()
                .collect()
        };
        if victims.is_empty() {
            return Err(TraderError::NoMatchingOffers);
        }
        let permanent: Vec<String> =
            victims.iter().filter(|o| !o.is_leased()).map(|o| o.id.to_string()).collect();
        if !permanent.is_empty() {
            self.persist(move |p| p.delete_offers(&permanent.iter().map(String::as_str).collect::<Vec<_>>()))
                .await?;
        }
        let mut state = self.write_state();
        let ids: Vec<String> = victims.iter().map(|o| o.id.to_string()).collect();
        for id in &ids {
            state.offers.remove(id);
        }
        self.stats.withdrawals.fetch_add(ids.len() as u64, Ordering::Relaxed);
        Ok(ids)
    }

    /// Renews a lease; returns the granted seconds and the new deadline in
    /// Unix milliseconds.
    pub fn keep_alive(&self, id: &str, lease_seconds: u64) -> Result<(u64, i64), TraderError> {
        let offer = self.describe(id)?;
        let current = offer.lease_deadline_ms();
        if current == PERMANENT {
            return Err(TraderError::NotLeased(id.to_string()));
        }
        let settings = self.settings();
        // 0 keeps the length granted last, clamped to today's bounds.
        let asked = if lease_seconds == 0 { offer.lease_seconds() } else { lease_seconds };
        let granted = settings.clamp_lease(asked.max(1));
        let deadline = self.clock.now_ms().saturating_add(granted.saturating_mul(1000));
        offer.renew(granted, deadline);
        Ok((granted, self.clock.unix_ms(deadline)))
    }

    /// Removes offers whose lease lapsed and page tokens that expired.
    /// Returns the number of offers removed.
    pub fn sweep(&self) -> usize {
        let now = self.clock.now_ms();
        let expired: Vec<Arc<str>> = {
            let state = self.read_state();
            if state.offers.n_leased() == 0 {
                Vec::new()
            } else {
                state.offers.iter().filter(|o| !o.is_live(now)).map(|o| o.id.clone()).collect()
            }
        };
        if !expired.is_empty() {
            let mut state = self.write_state();
            for id in &expired {
                // Re-check: a KeepAlive may have landed in between.
                if state.offers.get(id).is_some_and(|o| !o.is_live(now)) {
                    state.offers.remove(id);
                    debug!(offer = %id, "lease lapsed");
                }
            }
            self.stats.lease_expiries.fetch_add(expired.len() as u64, Ordering::Relaxed);
        }
        self.pages.sweep(now);
        self.dynamic.sweep(now);
        self.reservations.sweep(now);
        expired.len()
    }

    /// Sweeps expired leases and pages until `shutdown` resolves.
    pub async fn run_sweeper(
        self: Arc<Self>,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = ticker.tick() => { self.sweep(); }
            }
        }
    }

    // ------------------------------------------------------------ admin

    /// A page of offers in id order, starting after `after`.
    pub fn list_offers(&self, after: &str, limit: usize, type_name: Option<&str>) -> Vec<Arc<Offer>> {
        let now = self.clock.now_ms();
        let state = self.read_state();
        state
            .offers
            .ids_after(after)
            .filter(|o| o.is_live(now) && type_name.is_none_or(|t| *o.type_name == *t))
            .take(limit)
            .cloned()
            .collect()
    }

    pub fn stats_snapshot(&self) -> StatsSnapshot {
        let state = self.read_state();
        StatsSnapshot {
            offers: state.offers.len() as u64,
            leased_offers: state.offers.n_leased() as u64,
            types: state.types.len() as u64,
            queries: self.stats.queries.load(Ordering::Relaxed),
            exports: self.stats.exports.load(Ordering::Relaxed),
            withdrawals: self.stats.withdrawals.load(Ordering::Relaxed),
            lease_expiries: self.stats.lease_expiries.load(Ordering::Relaxed),
            open_pages: self.pages.len() as u64,
            uptime_seconds: self.started.elapsed().as_secs(),
            counters: self
                .stats
                .counters
                .iter()
                .map(|e| (e.key().to_string(), e.value().load(Ordering::Relaxed)))
                .chain([(
                    crate::pick::counters::RESERVATIONS.to_string(),
                    self.reservations.outstanding(self.clock.now_ms()) as u64,
                )])
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub offers: u64,
    pub leased_offers: u64,
    pub types: u64,
    pub queries: u64,
    pub exports: u64,
    pub withdrawals: u64,
    pub lease_expiries: u64,
    pub open_pages: u64,
    pub uptime_seconds: u64,
    pub counters: HashMap<String, u64>,
}
