//! Load-aware picking (`Lookup.Pick`) and standing queries (`Lookup.Watch`).
//!
//! Sorting by `min load` on figures a second old sends every client of a
//! burst to the same server. Pick avoids that herd in two ways:
//! - it counts its own reservations against each server (in connections
//!   and bandwidth) until the server's own figures include them, the
//!   reservation lapses, or the client releases it;
//! - it chooses by the power of d choices: among the matching servers that
//!   still have room it draws d at random, in proportion to capacity, and
//!   takes the best of those (most headroom left once the stream is placed,
//!   or best by the importer's preference).
//!
//! A server's load is estimated as its last figure, corrected by what Pick
//! knows of the streams it placed there: plus the reservations the figure
//! may not include yet, minus the streams that ended (were released) after
//! it was sampled. The time of the sample is as the exporter says
//! (`age_ms`), or else taken conservatively: fetch time minus the
//! property's max age when that makes the server look busier, fetch time
//! when the other way. A client is taken to connect within some time of its
//! pick and to release its reservation when its stream ends; then, for a
//! figure sampled at `t`:
//! - a reservation neither released nor lapsed counts one stream, unless
//!   its client connected surely before `t`: then the figure holds it;
//! - a released reservation whose client connected surely before `t`, and
//!   released after `t`, takes one stream off: the figure still counts a
//!   stream that has ended (without this, Pick would learn of arrivals at
//!   once but of departures a figure late, and a busy fleet would look
//!   fuller than it is); once a figure is sampled after the release, the
//!   reservation is forgotten;
//! - a lapsed reservation counts nothing: the figure is the best count of
//!   a stream whose end nobody reported. A release up to the grace after
//!   the lapse still marks the end, as a stream may outrun a reservation of
//!   its own length by the time its client took to connect.
//!
//! Two counts come of this. Taking clients to connect within
//! `reservation_grace_ms` (the longest a client may take) gives the most a
//! server may carry: Pick prefers servers that have room by that count.
//! Taking them to connect within `reservation_prompt_ms` (most clients
//! connect much faster than the grace allows) gives the count Pick refuses
//! on: it picks a server only if that count leaves room, and refuses a
//! client only if it leaves room on none. Counting every reservation for
//! the whole grace would count most streams twice, in the figure and as a
//! reservation, and refuse clients that a busy fleet has room for.
//!
//! Even so, a full fleet's count can be a stream or two high on a server:
//! a stream picked just before a figure was sampled may be in it or not,
//! and a stream without a reservation is seen to end only by the next
//! figure. So when no server has room, Pick waits for newer figures, as
//! the servers' exporters sample them, up to `pick_wait_ms`, and refuses
//! the client only if none of them shows room. Picks that wait are served
//! in order of arrival: a pick leaves as many slots as there are picks
//! asking for the same (type and constraint) that have waited longer.
//! Without that, a client that has waited most of its time loses each
//! slot that appears to one that has just arrived, and is refused.
//!
//! Invariant: choosing and reserving happen under one lock, so concurrent
//! picks always see each other's reservations; no I/O under it, and no
//! waiting.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::seq::IndexedRandom;

use crate::dynamic::Candidate;
use crate::error::TraderError;
use crate::offer::PropValue;
use crate::policy::Settings;
use crate::query::{Matched, Ordered, QueryArgs, desired_values};
use crate::tcl::Properties;
use crate::trader::Trader;
use crate::value::{PropId, Value};

/// Shortest time between two looks at newer figures by a Pick that found
/// no room, in ms.
const RECHECK_MS: u64 = 50;

/// Counter names shown by `Admin.Stats`.
pub mod counters {
    pub const PICKS: &str = "pick.picks";
    pub const EXHAUSTED: &str = "pick.exhausted";
    /// Picks that found no room at first and waited for newer figures
    /// (whether they found room then or not).
    pub const WAITED: &str = "pick.waited";
    pub const RELEASES: &str = "pick.releases";
    /// Reservations that stopped counting because the server's figures
    /// include them.
    pub const ABSORBED: &str = "pick.absorbed";
    pub const RESERVATIONS: &str = "pick.reservations_outstanding";
}

#[derive(Debug, Clone)]
struct Reservation {
    offer_id: Arc<str>,
    /// When it was taken; its client connects within the grace after.
    at_ms: u64,
    /// When it lapses unless released first.
    expires_ms: u64,
    /// When the client released it, which it does when its stream ends.
    released_ms: Option<u64>,
    /// When the broker forgets it: the grace after it lapses (a release
    /// that comes that late still marks the end of its stream), or once the
    /// figures show its stream gone after a release.
    forget_ms: u64,
    /// Whether a figure surely including its stream has been seen (counted
    /// once in `pick.absorbed`).
    absorbed: bool,
}

impl Reservation {
    /// Streams to add to a server's figure for this reservation: +1 while
    /// the figure may not include a stream that holds room now, -1 while
    /// it surely includes a stream that has ended, 0 otherwise. A client
    /// is taken to connect within `connect_ms` of the pick and to release
    /// its reservation when its stream ends; `sampled` is when the figure
    /// was sampled, (at the earliest, at the latest), `None` for a figure
    /// that never includes a reservation.
    fn correction(&self, sampled: Option<(u64, u64)>, connect_ms: u64, now_ms: u64) -> i32 {
        let connected_before = |(earliest, _): (u64, u64)| earliest >= self.at_ms.saturating_add(connect_ms);
        match self.released_ms {
            Some(ended_ms) => -i32::from(sampled.is_some_and(|s| connected_before(s) && s.1 < ended_ms)),
            None if self.expires_ms > now_ms => 1 - i32::from(sampled.is_some_and(connected_before)),
            // Lapsed: its stream, if any, is in the figures or has ended
            // unnoticed; the figure is the best count.
            None => 0,
        }
    }
}

/// Outstanding reservations, and those kept to learn of the end of their
/// streams; the picks waiting for room.
#[derive(Default)]
pub struct Reservations {
    inner: Mutex<Table>,
    /// Locked only under `inner`.
    queue: Mutex<Queue>,
}

/// Reservations by offer, so that a Pick looks only at those of the
/// servers it weighs, and the offer of each, for Release.
#[derive(Default)]
struct Table {
    by_offer: HashMap<Arc<str>, HashMap<String, Reservation>>,
    offer_of: HashMap<String, Arc<str>>,
}

impl Table {
    fn insert(&mut self, id: String, reservation: Reservation) {
        self.offer_of.insert(id.clone(), reservation.offer_id.clone());
        self.by_offer.entry(reservation.offer_id.clone()).or_default().insert(id, reservation);
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut Reservation> {
        let offer = self.offer_of.get(id)?;
        self.by_offer.get_mut(offer)?.get_mut(id)
    }

    /// The reservations on one offer that are not yet to be forgotten; the
    /// others are dropped on the way.
    fn of_offer(&mut self, offer: &str, now_ms: u64) -> impl Iterator<Item = &mut Reservation> {
        let mut on_offer = self.by_offer.get_mut(offer);
        if let Some(on_offer) = on_offer.as_deref_mut() {
            forget(on_offer, &mut self.offer_of, now_ms);
        }
        on_offer.into_iter().flat_map(HashMap::values_mut)
    }

    /// Drops the reservations to be forgotten by `now_ms`.
    fn sweep(&mut self, now_ms: u64) {
        let Table { by_offer, offer_of } = self;
        by_offer.retain(|_, on_offer| {
            forget(on_offer, offer_of, now_ms);
            !on_offer.is_empty()
        });
    }

    fn iter(&self) -> impl Iterator<Item = &Reservation> {
        self.by_offer.values().flat_map(HashMap::values)
    }
}

/// Picks waiting for room, in order of arrival, by what they ask for (type
/// and constraint): when room appears, the one that has waited longest
/// takes it, and the others wait on.
#[derive(Default)]
struct Queue {
    next_ticket: u64,
    waiting: HashMap<String, std::collections::VecDeque<u64>>,
}

/// A Pick's place in the queue. Leaving it, picked, refused, or dropped
/// when its client went away, lets the next one go.
struct Place<'a> {
    reservations: &'a Reservations,
    key: String,
    ticket: u64,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        let mut queue = self.reservations.queue();
        if let Some(waiting) = queue.waiting.get_mut(&self.key) {
            waiting.retain(|&t| t != self.ticket);
            if waiting.is_empty() {
                queue.waiting.remove(&self.key);
            }
        }
    }
}

/// Drops from one offer's reservations those to be forgotten by `now_ms`.
fn forget(
    on_offer: &mut HashMap<String, Reservation>,
    offer_of: &mut HashMap<String, Arc<str>>,
    now_ms: u64,
) {
    on_offer.retain(|id, r| {
        let keep = r.forget_ms > now_ms;
        if !keep {
            offer_of.remove(id);
        }
        keep
    });
}

impl Reservations {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Joins the queue of the picks asking for `key`.
    fn wait_in_line(&self, key: String) -> Place<'_> {
        let mut queue = self.queue();
        queue.next_ticket += 1;
        let ticket = queue.next_ticket;
        queue.waiting.entry(key.clone()).or_default().push_back(ticket);
        Place { reservations: self, key, ticket }
    }

    pub fn sweep(&self, now_ms: u64) {
        self.lock().sweep(now_ms);
    }

    /// Reservations neither released nor lapsed.
    pub fn outstanding(&self, now_ms: u64) -> usize {
        self.lock().iter().filter(|r| r.released_ms.is_none() && r.expires_ms > now_ms).count()
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

/// The properties Pick reads, as set by `pick_*_property`.
#[derive(Debug, Clone, Copy)]
struct PickProps {
    capacity: PropId,
    load: PropId,
    bandwidth: PropId,
}

/// A server that can take one more stream.
struct Eligible {
    /// Position in the preference order.
    rank: usize,
    room: Room,
}

/// Streams a server's figure may miss (`added`) and streams it surely
/// still counts though they have ended (`ended`), by its reservations.
#[derive(Default)]
struct Corrections {
    added: u32,
    ended: u32,
}

impl Corrections {
    fn add(&mut self, correction: i32) {
        match correction {
            1.. => self.added += correction.unsigned_abs(),
            ..0 => self.ended += correction.unsigned_abs(),
            0 => {}
        }
    }

    /// The server's stream count: the figure less the ended streams (not
    /// below zero), plus the streams it may miss.
    fn count(&self, figure: f64) -> f64 {
        (figure - f64::from(self.ended)).max(0.0) + f64::from(self.added)
    }
}

/// How much room a server has for one more stream.
struct Room {
    /// Free fraction of capacity once one more stream is placed, counting
    /// every reservation that its figures may not include yet (negative
    /// when that count says full).
    headroom: f64,
    /// Room for one more stream by that count. Otherwise there is room
    /// only if the clients picked before its figure was sampled connected
    /// within `reservation_prompt_ms`.
    sure: bool,
    /// Streams it takes at once.
    capacity: f64,
    /// Streams it has room for if clients connect promptly (at least 1):
    /// the count Pick refuses on.
    slots: f64,
}

impl Trader {
    /// Chooses one offer for one client and reserves room on it. When no
    /// server has room, waits for newer figures, as they come, up to
    /// `pick_wait_ms`, before it refuses the client: the figures it has may
    /// not show streams that ended since they were sampled, and may count
    /// streams twice that it reserved just before.
    pub async fn pick(&self, args: PickArgs) -> Result<Picked, TraderError> {
        let settings = self.settings();
        let props = PickProps {
            capacity: self.names.intern(&settings.pick_capacity_property),
            load: self.names.intern(&settings.pick_load_property),
            bandwidth: self.names.intern(&settings.pick_bandwidth_property),
        };
        let ttl_seconds = match args.reservation_seconds {
            0 => settings.default_reservation_seconds,
            asked => asked.min(settings.max_reservation_seconds),
        }
        .max(1);
        let give_up_ms = self.clock.now_ms().saturating_add(settings.pick_wait_ms);
        // Picks wait in line behind those that asked for the same servers.
        let key = format!(
            "{}\n{}\n{}",
            args.query.type_name,
            args.query.constraint,
            args.query.offer_ids.join("\n")
        );
        let mut place: Option<Place<'_>> = None;
        loop {
            let ordered = self
                .evaluate_query(args.query.clone(), &settings, &[props.capacity, props.load, props.bandwidth])
                .await?;
            if ordered.matched.is_empty() {
                return Err(TraderError::NoMatchingOffers);
            }
            let ticket = place.as_ref().map(|p| p.ticket);
            let renewal_ms = match self.reserve(&args, &ordered, &settings, props, ttl_seconds, &key, ticket)
            {
                Ok(picked) => return Ok(picked),
                Err(renewal_ms) => renewal_ms,
            };
            let now = self.clock.now_ms();
            // Not sooner than RECHECK_MS: a figure with no max age is renewed
            // by every query.
            match renewal_ms.map(|at| at.max(now.saturating_add(RECHECK_MS))).filter(|&at| at <= give_up_ms) {
                Some(at) => {
                    if place.is_none() {
                        self.stats.bump(counters::WAITED, 1);
                        place = Some(self.reservations.wait_in_line(key.clone()));
                    }
                    tokio::time::sleep(Duration::from_millis(at - now)).await;
                }
                None => {
                    self.stats.bump(counters::EXHAUSTED, 1);
                    return Err(TraderError::NoRoom {
                        type_name: args.query.type_name,
                        matched: ordered.matched.len(),
                    });
                }
            }
        }
    }

    /// Chooses among the candidates and reserves room on the chosen one,
    /// or, if none has room or picks that asked for the same (`key`) before
    /// are still waiting for room, says when the first of the candidates'
    /// figures will be renewed (`None`: never). `ticket`: this pick's place
    /// among those waiting, if it waits.
    #[allow(clippy::too_many_arguments)]
    fn reserve(
        &self,
        args: &PickArgs,
        ordered: &Ordered,
        settings: &Settings,
        props: PickProps,
        ttl_seconds: u64,
        key: &str,
        ticket: Option<u64>,
    ) -> Result<Picked, Option<u64>> {
        let by_preference = !args.query.preference.trim().is_empty();
        let now = self.clock.now_ms();
        let mut reservations = self.reservations.lock();
        let mut eligible = Vec::new();
        for (rank, candidate) in ordered.matched.iter().enumerate() {
            if let Some(room) = self.room(candidate, &mut reservations, props, settings, now) {
                eligible.push(Eligible { rank, room });
            }
        }
        let slots: f64 = eligible.iter().map(|e| e.room.slots).sum();
        // Prefer the servers that have room however slow the picked clients
        // are; only when there are none, take those that have room if the
        // clients connected promptly.
        if eligible.iter().any(|e| e.room.sure) {
            eligible.retain(|e| e.room.sure);
        }
        // Leave the room to those that asked for the same before and wait
        // for it: as many slots as they are.
        let ahead = self
            .reservations
            .queue()
            .waiting
            .get(key)
            .map_or(0, |waiting| waiting.iter().take_while(|&&t| Some(t) != ticket).count());
        #[allow(clippy::cast_precision_loss)]
        let left_to_others = slots <= ahead as f64;
        if eligible.is_empty() || left_to_others {
            return Err(ordered
                .matched
                .iter()
                .filter_map(|c| self.dynamic.renewal_ms(&c.offer, props.load))
                .filter(|&at| at > now)
                .min());
        }

        // Draw in proportion to capacity: drawn uniformly, a big server comes
        // up no more often than a small one and could not take its share.
        let mut rng = rand::rng();
        let d = usize::try_from(settings.pick_choices).unwrap_or(2).clamp(1, eligible.len());
        let drawn: Vec<&Eligible> = match eligible.choose_multiple_weighted(&mut rng, d, |e| e.room.capacity)
        {
            Ok(drawn) => drawn.collect(),
            Err(_) => eligible.choose_multiple(&mut rng, d).collect(),
        };
        let best = drawn
            .into_iter()
            .min_by(|a, b| {
                if by_preference {
                    a.rank.cmp(&b.rank)
                } else {
                    b.room.headroom.total_cmp(&a.room.headroom).then(a.rank.cmp(&b.rank))
                }
            })
            .map_or(eligible[0].rank, |e| e.rank);
        let chosen = &ordered.matched[best];

        let reservation_id = crate::offer::new_offer_id();
        let expires_ms = now.saturating_add(ttl_seconds.saturating_mul(1000));
        let reservation = Reservation {
            offer_id: chosen.offer.id.clone(),
            at_ms: now,
            expires_ms,
            released_ms: None,
            forget_ms: expires_ms.saturating_add(settings.reservation_grace_ms),
            absorbed: false,
        };
        reservations.insert(reservation_id.clone(), reservation);
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

    /// The room a server has with reservations counted, or `None` if it
    /// has none even if picked clients connect promptly, or its room is
    /// unknown. Reservations that its fresh figures include stop counting
    /// here.
    fn room(
        &self,
        candidate: &Candidate,
        reservations: &mut Table,
        props: PickProps,
        settings: &Settings,
        now: u64,
    ) -> Option<Room> {
        let capacity = candidate.get(props.capacity).and_then(as_f64)?;
        let seen = candidate.get(props.load).and_then(as_f64)?;
        // The load figure and when it was sampled, (at the earliest, at the
        // latest), taken together from the cache: a query running at the
        // same time may have fetched a newer figure than this one saw.
        let (figure, sampled) = match candidate.offer.get(props.load).map(|p| &p.value) {
            Some(PropValue::Dynamic(_)) => {
                match self.dynamic.sampled_value(&candidate.offer.id, props.load) {
                    Some((value, sampled)) => (as_f64(&value)?, Some(sampled)),
                    None => (seen, Some((0, now))),
                }
            }
            // A static figure never includes a reservation.
            _ => (seen, None),
        };
        let grace_ms = settings.reservation_grace_ms;
        let prompt_ms = settings.reservation_prompt_ms.min(grace_ms);
        // Streams to add to the figure and to take off it, with clients
        // taken to connect within the grace (the most the server may carry)
        // and within the prompt time.
        let (mut slow, mut prompt) = (Corrections::default(), Corrections::default());
        for r in reservations.of_offer(&candidate.offer.id, now) {
            if r.released_ms.is_some_and(|ended_ms| sampled.is_none_or(|(earliest, _)| earliest >= ended_ms))
            {
                // The figures show the stream gone: forget it.
                r.forget_ms = 0;
                continue;
            }
            let correction = r.correction(sampled, grace_ms, now);
            if correction == 0 && !r.absorbed && r.released_ms.is_none() && r.expires_ms > now {
                r.absorbed = true;
                self.stats.bump(counters::ABSORBED, 1);
            }
            slow.add(correction);
            prompt.add(r.correction(sampled, prompt_ms, now));
        }
        let mut slots = (capacity - prompt.count(figure)).floor();
        if capacity <= 0.0 || slots < 1.0 {
            return None;
        }
        let free = capacity - slow.count(figure);
        let mut sure = free >= 1.0;
        if settings.reservation_bandwidth_bps > 0
            && let Some(bandwidth_free) = candidate.get(props.bandwidth).and_then(as_f64)
        {
            #[allow(clippy::cast_precision_loss)]
            let per_stream = settings.reservation_bandwidth_bps as f64;
            let left =
                |c: &Corrections| bandwidth_free + (f64::from(c.ended) - f64::from(c.added)) * per_stream;
            slots = slots.min((left(&prompt) / per_stream).floor());
            if slots < 1.0 {
                return None;
            }
            sure &= left(&slow) >= per_stream;
        }
        // Rank by what is left once this stream is placed: one more stream
        // fills a small server by a larger fraction than a big one.
        Some(Room { headroom: (free - 1.0) / capacity, sure, capacity, slots })
    }

    /// Gives a reservation back, which marks the end of its stream: until
    /// a figure sampled after the release, a figure that includes the
    /// stream counts one too many. A client that asked for a reservation as
    /// long as its stream may overrun it by the time it took to connect: a
    /// release up to the grace after the lapse is `UnknownReservation` as
    /// any release of a lapsed reservation, but still marks the end.
    pub fn release(&self, reservation_id: &str) -> Result<(), TraderError> {
        let settings = self.settings();
        // An ended stream counts off until the figures show it gone, or at
        // most this long, in case they stop coming.
        let ended_ttl_ms = settings.default_reservation_seconds.saturating_mul(1000);
        let now = self.clock.now_ms();
        let mut reservations = self.reservations.lock();
        let unknown = || TraderError::UnknownReservation(reservation_id.to_string());
        let reservation = reservations
            .get_mut(reservation_id)
            .filter(|r| r.released_ms.is_none() && r.forget_ms > now)
            .ok_or_else(unknown)?;
        reservation.released_ms = Some(now);
        reservation.forget_ms = now.saturating_add(ended_ttl_ms);
        if reservation.expires_ms <= now {
            return Err(unknown());
        }
        self.stats.bump(counters::RELEASES, 1);
        Ok(())
    }

    /// One update of a standing query: the ordered result set, at most
    /// `how_many` offers (0: the default page size), no pages.
    pub async fn watch_update(
        &self,
        args: QueryArgs,
    ) -> Result<(Vec<Matched>, Vec<crate::policy::LimitApplied>, u64), TraderError> {
        let settings = self.settings();
        let how_many = if args.how_many == 0 { settings.default_page_size } else { u64::from(args.how_many) };
        let ordered = self.evaluate_query(args, &settings, &[]).await?;
        let matched = ordered.matched.len() as u64;
        let offers = ordered
            .matched
            .into_iter()
            .take(usize::try_from(how_many).unwrap_or(usize::MAX))
            .map(|candidate| Matched {
                props: desired_values(&candidate, &ordered.desired),
                offer: candidate.offer,
            })
            .collect();
        Ok((offers, ordered.limits, matched))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]
    use super::*;

    fn reservation(offer: &str, forget_ms: u64) -> Reservation {
        Reservation {
            offer_id: offer.into(),
            at_ms: 0,
            expires_ms: forget_ms,
            released_ms: None,
            forget_ms,
            absorbed: false,
        }
    }

    #[test]
    fn the_table_finds_reservations_by_offer_and_by_id_and_forgets_them() {
        let mut table = Table::default();
        table.insert("r1".into(), reservation("a", 100));
        table.insert("r2".into(), reservation("a", 10));
        table.insert("r3".into(), reservation("b", 100));
        assert_eq!(table.of_offer("a", 0).count(), 2);
        assert_eq!(table.of_offer("c", 0).count(), 0);
        assert_eq!(table.get_mut("r3").unwrap().offer_id.as_ref(), "b");

        // Looking at offer a at 10 forgets r2, by offer and by id.
        let on_a: Vec<u64> = table.of_offer("a", 10).map(|r| r.forget_ms).collect();
        assert_eq!(on_a, [100]);
        assert!(table.get_mut("r2").is_none());
        assert_eq!(table.iter().count(), 2);

        table.sweep(100);
        assert_eq!(table.iter().count(), 0);
        assert!(table.by_offer.is_empty() && table.offer_of.is_empty(), "nothing left behind");
    }
}
