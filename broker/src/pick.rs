//! Load-aware picking (`Lookup.Pick`) and standing queries (`Lookup.Watch`).
//!
//! Sorting by `min load` on figures a second old sends every client of a
//! burst to the same server. Pick avoids that herd in two ways:
//! - it counts its own reservations against each server (in connections
//!   and bandwidth) until the server's own figures include them, the
//!   reservation lapses, or the client releases it;
//! - it chooses by the power of d choices: among the matching servers that
//!   still have room it draws d at random and takes the best of those (most
//!   headroom, or best by the importer's preference).
//!
//! A reservation counts until a figure of the server's load is fetched that
//! was sampled at least `reservation_grace_ms` after the reservation: the
//! sample time is taken conservatively as fetch time minus the property's
//! max age, the longest an exporter may serve an old sample.
//!
//! Invariant: choosing and reserving happen under one lock, so concurrent
//! picks always see each other's reservations; no I/O under it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rand::seq::SliceRandom;

use crate::dynamic::Candidate;
use crate::error::TraderError;
use crate::offer::PropValue;
use crate::query::{Matched, QueryArgs, desired_values};
use crate::tcl::Properties;
use crate::trader::Trader;
use crate::value::{PropId, Value};

/// Counter names shown by `Admin.Stats`.
pub mod counters {
    pub const PICKS: &str = "pick.picks";
    pub const EXHAUSTED: &str = "pick.exhausted";
    pub const RELEASES: &str = "pick.releases";
    /// Reservations that stopped counting because the server's figures
    /// include them.
    pub const ABSORBED: &str = "pick.absorbed";
    pub const RESERVATIONS: &str = "pick.reservations_outstanding";
}

#[derive(Debug, Clone)]
struct Reservation {
    offer_id: Arc<str>,
    at_ms: u64,
    expires_ms: u64,
    /// Still counted against the server (not yet in its own figures).
    counted: bool,
}

/// Outstanding reservations, by id.
#[derive(Default)]
pub struct Reservations {
    inner: Mutex<HashMap<String, Reservation>>,
}

impl Reservations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Reservation>> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn sweep(&self, now_ms: u64) {
        self.lock().retain(|_, r| r.expires_ms > now_ms);
    }

    /// Reservations still counted against an offer.
    pub fn counted_for(&self, offer_id: &str, now_ms: u64) -> usize {
        self.lock().values().filter(|r| r.counted && r.expires_ms > now_ms && &*r.offer_id == offer_id).count()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct PickArgs {
    pub query: QueryArgs,
    pub client: String,
    /// Requested reservation length; 0 for the broker's default.
    pub reservation_seconds: u64,
}

#[derive(Debug, Clone)]
pub struct Picked {
    pub offer: Matched,
    pub reservation_id: String,
    pub reservation_seconds: u64,
    pub expires_unix_ms: i64,
    pub candidates: u64,
}

fn as_f64(value: &Value) -> Option<f64> {
    #[allow(clippy::cast_precision_loss)]
    match value {
        Value::Int(v) => Some(*v as f64),
        Value::UInt(v) => Some(*v as f64),
        Value::Double(v) => Some(*v),
        _ => None,
    }
}

/// A server that can take one more stream.
struct Eligible {
    /// Position in the preference order.
    rank: usize,
    /// Free fraction of capacity, reservations counted.
    headroom: f64,
}

impl Trader {
    /// Chooses one offer for one client and reserves room on it.
    pub async fn pick(&self, args: PickArgs) -> Result<Picked, TraderError> {
        let settings = self.settings();
        let capacity_id = self.names.intern(&settings.pick_capacity_property);
        let load_id = self.names.intern(&settings.pick_load_property);
        let bandwidth_id = self.names.intern(&settings.pick_bandwidth_property);
        let by_preference = !args.query.preference.trim().is_empty();
        let type_name = args.query.type_name.clone();
        let ordered = self.evaluate_query(args.query, &settings, &[capacity_id, load_id, bandwidth_id]).await?;
        if ordered.matched.is_empty() {
            return Err(TraderError::NoMatchingOffers);
        }

        let ttl_seconds = match args.reservation_seconds {
            0 => settings.default_reservation_seconds,
            asked => asked.min(settings.max_reservation_seconds),
        }
        .max(1);
        let now = self.clock.now_ms();
        let mut reservations = self.reservations.lock();
        reservations.retain(|_, r| r.expires_ms > now);

        let mut eligible = Vec::new();
        for (rank, candidate) in ordered.matched.iter().enumerate() {
            if let Some(headroom) =
                self.headroom(candidate, &mut reservations, capacity_id, load_id, bandwidth_id, &settings, now)
            {
                eligible.push(Eligible { rank, headroom });
            }
        }
        if eligible.is_empty() {
            self.stats.bump(counters::EXHAUSTED, 1);
            return Err(TraderError::NoRoom { type_name, matched: ordered.matched.len() });
        }

        let mut rng = rand::rng();
        let d = usize::try_from(settings.pick_choices).unwrap_or(2).clamp(1, eligible.len());
        let (drawn, _) = eligible.partial_shuffle(&mut rng, d);
        let best = drawn
            .iter()
            .min_by(|a, b| {
                if by_preference {
                    a.rank.cmp(&b.rank)
                } else {
                    b.headroom.total_cmp(&a.headroom).then(a.rank.cmp(&b.rank))
                }
            })
            .map(|e| e.rank)
            .ok_or(TraderError::NoRoom { type_name: String::new(), matched: 0 })?;
        let chosen = &ordered.matched[best];

        let reservation_id = crate::offer::new_offer_id();
        let expires_ms = now.saturating_add(ttl_seconds.saturating_mul(1000));
        reservations.insert(
            reservation_id.clone(),
            Reservation { offer_id: chosen.offer.id.clone(), at_ms: now, expires_ms, counted: true },
        );
        drop(reservations);
        self.stats.bump(counters::PICKS, 1);
        tracing::debug!(offer = %chosen.offer.id, client = %args.client, candidates = eligible.len(), "picked");
        Ok(Picked {
            offer: Matched { props: desired_values(chosen, &ordered.desired), offer: chosen.offer.clone() },
            reservation_id,
            reservation_seconds: ttl_seconds,
            expires_unix_ms: self.clock.unix_ms(expires_ms),
            candidates: eligible.len() as u64,
        })
    }

    /// The free fraction of a server's capacity with reservations counted,
    /// or `None` if it has no room or its room is unknown. Reservations
    /// that its fresh figures include stop counting here.
    #[allow(clippy::too_many_arguments)]
    fn headroom(
        &self,
        candidate: &Candidate,
        reservations: &mut HashMap<String, Reservation>,
        capacity_id: PropId,
        load_id: PropId,
        bandwidth_id: PropId,
        settings: &crate::policy::Settings,
        now: u64,
    ) -> Option<f64> {
        let capacity = candidate.get(capacity_id).and_then(as_f64)?;
        let used = candidate.get(load_id).and_then(as_f64)?;
        // When was the load figure sampled, at the latest?
        let sampled_at = match candidate.offer.get(load_id).map(|p| &p.value) {
            Some(PropValue::Dynamic(dynamic)) => self
                .dynamic
                .fetched_at(&candidate.offer.id, load_id)
                .map(|fetched| fetched.saturating_sub(dynamic.max_age_ms)),
            // A static figure never includes a reservation.
            _ => None,
        };
        let mut reserved = 0u32;
        for r in reservations.values_mut().filter(|r| r.counted && r.offer_id == candidate.offer.id) {
            if sampled_at.is_some_and(|sampled| sampled >= r.at_ms.saturating_add(settings.reservation_grace_ms)) {
                r.counted = false;
                self.stats.bump(counters::ABSORBED, 1);
            } else if r.expires_ms > now {
                reserved += 1;
            }
        }
        let free = capacity - used - f64::from(reserved);
        if capacity <= 0.0 || free < 1.0 {
            return None;
        }
        if settings.reservation_bandwidth_bps > 0
            && let Some(bandwidth_free) = candidate.get(bandwidth_id).and_then(as_f64) {
                #[allow(clippy::cast_precision_loss)]
                let per_stream = settings.reservation_bandwidth_bps as f64;
                if bandwidth_free - f64::from(reserved) * per_stream < per_stream {
                    return None;
                }
            }
        Some(free / capacity)
    }

    /// Gives a reservation back.
    pub fn release(&self, reservation_id: &str) -> Result<(), TraderError> {
        let now = self.clock.now_ms();
        let mut reservations = self.reservations.lock();
        match reservations.remove(reservation_id) {
            Some(r) if r.expires_ms > now => {
                self.stats.bump(counters::RELEASES, 1);
                Ok(())
            }
            _ => Err(TraderError::UnknownReservation(reservation_id.to_string())),
        }
    }

    /// One update of a standing query: the ordered result set, at most
    /// `how_many` offers (0: the default page size), no pages.
    pub async fn watch_update(&self, args: QueryArgs) -> Result<(Vec<Matched>, Vec<crate::policy::LimitApplied>, u64), TraderError> {
        let settings = self.settings();
        let how_many = if args.how_many == 0 { settings.default_page_size } else { u64::from(args.how_many) };
        let ordered = self.evaluate_query(args, &settings, &[]).await?;
        let matched = ordered.matched.len() as u64;
        let offers = ordered
            .matched
            .into_iter()
            .take(usize::try_from(how_many).unwrap_or(usize::MAX))
            .map(|candidate| Matched { props: desired_values(&candidate, &ordered.desired), offer: candidate.offer })
            .collect();
        Ok((offers, ordered.limits, matched))
    }
}
