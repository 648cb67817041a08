//! Query execution: policies, planning with the store's indexes, constraint
//! evaluation, preference ordering, cardinalities and paging.
//!
//! The plan takes the top-level conjuncts of the constraint that an index
//! can answer (`p == lit`, `lit in p`, `p < lit`...) and intersects their
//! posting lists, smallest first; without such a conjunct it scans the
//! offers of the queried types. An offer that satisfies the constraint
//! satisfies every conjunct, so it is in every list. Every candidate is
//! still checked against the whole constraint, so the plan only decides how
//! many offers are looked at.
//!
//! Invariant: no I/O happens while the state lock is held.

use std::borrow::Cow;
use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use crate::dynamic::Candidate;
use crate::error::{ExprField, TraderError};
use crate::names::{PropNames, is_valid_property_name};
use crate::offer::{Offer, PropValue};
use crate::policy::{self, Effective, LimitApplied, Settings};
use crate::store::{IndexKey, NumKey, OfferStore};
use crate::tcl::{self, CompareOp, Expr, Literal, Truth};
use crate::trader::Trader;
use crate::types::{FullType, TypeId};
use crate::value::{PropId, Value, ValueType};

/// Which properties a reply carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Desired {
    All,
    None,
    Named(Vec<(PropId, Arc<str>)>),
}

impl Desired {
    /// Whether the reply carries property `id`.
    pub fn wants(&self, id: PropId) -> bool {
        match self {
            Desired::All => true,
            Desired::None => false,
            Desired::Named(list) => list.iter().any(|(want, _)| *want == id),
        }
    }
}

/// Desired properties as asked for, before checking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DesiredSpec {
    All,
    None,
    Named(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct QueryArgs {
    pub type_name: String,
    pub constraint: String,
    pub preference: String,
    pub policies: Vec<(String, Value)>,
    pub desired: DesiredSpec,
    /// Offers in the reply; 0 for the broker's default page size.
    pub how_many: u32,
    /// When not empty, only these offers are candidates (Pick of a server
    /// chosen from a query); ids of offers that no longer exist are passed over.
    pub offer_ids: Vec<String>,
}

/// An offer in a result, with the desired properties' values.
#[derive(Debug, Clone)]
pub struct Matched {
    pub offer: Arc<Offer>,
    pub props: Vec<(Arc<str>, Value)>,
}

#[derive(Debug, Clone)]
pub struct QueryResult {
    pub offers: Vec<Matched>,
    pub next_page_token: Option<String>,
    pub remaining: u64,
    pub limits: Vec<LimitApplied>,
    pub searched: u64,
    pub matched: u64,
}

/// The queried type as the constraint checker sees it.
struct TypeSchema<'a> {
    full: &'a FullType,
    names: &'a PropNames,
}

impl tcl::Schema for TypeSchema<'_> {
    fn property(&self, name: &str) -> Option<(PropId, ValueType)> {
        self.full.prop_by_name(name).map(|p| (p.id, p.def.value_type))
    }

    fn id_of(&self, name: &str) -> Option<PropId> {
        self.names.get(name)
    }
}

fn expr_error(field: ExprField, text: &str, source: tcl::TclError) -> TraderError {
    TraderError::Expression { field, text: text.to_string(), source }
}

/// Parses and checks a constraint against a type.
pub fn compile_constraint(full: &FullType, text: &str, names: &PropNames) -> Result<Compiled, TraderError> {
    let expr = tcl::parse_constraint(text).map_err(|e| expr_error(ExprField::Constraint, text, e))?;
    let compiled = tcl::CompiledConstraint::new(&expr, &TypeSchema { full, names })
        .map_err(|e| expr_error(ExprField::Constraint, text, e))?;
    Ok(Compiled { expr, compiled })
}

/// A checked constraint and the syntax tree it came from (for planning).
pub struct Compiled {
    pub expr: Expr,
    pub compiled: tcl::CompiledConstraint,
}

impl Compiled {
    pub fn eval<P: tcl::Properties + ?Sized>(&self, props: &P) -> Truth {
        self.compiled.eval(props)
    }
}

fn compile_preference(
    full: &FullType,
    text: &str,
    names: &PropNames,
) -> Result<tcl::CompiledPreference, TraderError> {
    let pref = tcl::parse_preference(text).map_err(|e| expr_error(ExprField::Preference, text, e))?;
    tcl::CompiledPreference::new(&pref, &TypeSchema { full, names })
        .map_err(|e| expr_error(ExprField::Preference, text, e))
}

fn resolve_desired(spec: DesiredSpec, names: &PropNames) -> Result<Desired, TraderError> {
    Ok(match spec {
        DesiredSpec::All => Desired::All,
        DesiredSpec::None => Desired::None,
        DesiredSpec::Named(list) => {
            let mut out: Vec<(PropId, Arc<str>)> = Vec::with_capacity(list.len());
            for name in list {
                if !is_valid_property_name(&name) {
                    return Err(TraderError::IllegalPropertyName(name));
                }
                let id = names.intern(&name);
                if out.iter().any(|(seen, _)| *seen == id) {
                    return Err(TraderError::DuplicateDesiredProperty(name));
                }
                out.push((id, names.name(id)));
            }
            Desired::Named(out)
        }
    })
}

/// The values of the desired properties that the offer has, in the offer's
/// property order. Dynamic properties come from the evaluated values; one
/// that could not be evaluated is left out.
pub(crate) fn desired_values(candidate: &Candidate, desired: &Desired) -> Vec<(Arc<str>, Value)> {
    if matches!(desired, Desired::None) {
        return Vec::new();
    }
    candidate
        .offer
        .props
        .iter()
        .filter(|p| desired.wants(p.id))
        .filter_map(|p| {
            let value = match &p.value {
                PropValue::Static(value) => value.clone(),
                PropValue::Dynamic(_) => candidate.dynamic.iter().find(|(id, _)| *id == p.id)?.1.clone(),
            };
            Some((p.name.clone(), value))
        })
        .collect()
}

/// The dynamic properties of `offer` among `refs` or the desired ones.
fn dynamic_needs(offer: &Offer, refs: &[PropId], desired: &Desired) -> Vec<PropId> {
    // Most offers have no dynamic property: answer from the offer's flag
    // rather than walk its properties, which are likely not in cache.
    if !offer.has_dynamic {
        return Vec::new();
    }
    offer
        .props
        .iter()
        .filter(|p| matches!(p.value, PropValue::Dynamic(_)))
        .filter(|p| refs.contains(&p.id) || desired.wants(p.id))
        .map(|p| p.id)
        .collect()
}

/// Union of two sorted posting lists.
fn union_sorted<'a>(a: &'a [u64], b: &'a [u64]) -> Cow<'a, [u64]> {
    if b.is_empty() {
        return Cow::Borrowed(a);
    }
    if a.is_empty() {
        return Cow::Borrowed(b);
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    Cow::Owned(out)
}

fn literal_key(literal: &Literal) -> Option<IndexKey> {
    Some(match literal {
        Literal::Bool(b) => IndexKey::Bool(*b),
        Literal::Int(i) => IndexKey::Int(i128::from(*i)),
        Literal::UInt(u) => IndexKey::Int(i128::from(*u)),
        Literal::Double(d) => IndexKey::from_f64(*d)?,
        Literal::String(s) => IndexKey::Str(s.clone()),
    })
}

fn literal_num(literal: &Literal) -> Option<NumKey> {
    match literal {
        Literal::Int(i) => Some(NumKey::Int(i128::from(*i))),
        Literal::UInt(u) => Some(NumKey::Int(i128::from(*u))),
        Literal::Double(d) => NumKey::from_f64(*d),
        _ => None,
    }
}

/// Candidate offers for one conjunct, if an index can answer it. `limit`
/// bounds range scans: a larger answer is not worth building.
fn conjunct_candidates<'s>(
    conjunct: &Expr,
    full: &FullType,
    store: &'s OfferStore,
    limit: usize,
) -> Option<Cow<'s, [u64]>> {
    let prop_id = |name: &str| full.prop_by_name(name).map(|p| p.id);
    match conjunct {
        Expr::In { value, seq_prop, .. } => {
            let id = prop_id(seq_prop)?;
            let key = literal_key(value.as_literal()?)?;
            Some(union_sorted(store.with_value(id, &key), store.with_dynamic(id)))
        }
        Expr::Compare { op, lhs, rhs, .. } => {
            // Normalise to `prop OP literal`.
            let (name, literal, op) = match (lhs.as_prop(), rhs.as_literal(), rhs.as_prop(), lhs.as_literal())
            {
                (Some(name), Some(lit), _, _) => (name, lit, *op),
                (_, _, Some(name), Some(lit)) => (name, lit, op.flipped()),
                _ => return None,
            };
            let id = prop_id(name)?;
            let dynamic = store.with_dynamic(id);
            if op == CompareOp::Eq {
                let key = literal_key(literal)?;
                return Some(union_sorted(store.with_value(id, &key), dynamic));
            }
            let bound = literal_num(literal)?;
            let (lo, hi) = match op {
                CompareOp::Lt => (Bound::Unbounded, Bound::Excluded(bound)),
                CompareOp::Le => (Bound::Unbounded, Bound::Included(bound)),
                CompareOp::Gt => (Bound::Excluded(bound), Bound::Unbounded),
                CompareOp::Ge => (Bound::Included(bound), Bound::Unbounded),
                _ => return None,
            };
            let in_range = store.in_range(id, lo, hi, limit)?;
            Some(Cow::Owned(union_sorted(&in_range, dynamic).into_owned()))
        }
        _ => None,
    }
}

/// Intersection of two sorted posting lists. Walks `small` and gallops
/// through `large`, so a short list costs little against a long one.
fn intersect_sorted(small: &[u64], large: &[u64]) -> Vec<u64> {
    let mut out = Vec::with_capacity(small.len().min(large.len()));
    let mut rest = large;
    for &seq in small {
        let mut step = 1;
        while step < rest.len() && rest[step] < seq {
            step *= 2;
        }
        match rest[..rest.len().min(step + 1)].binary_search(&seq) {
            Ok(at) => {
                out.push(seq);
                rest = &rest[at + 1..];
            }
            Err(at) => rest = &rest[at..],
        }
        if rest.is_empty() {
            break;
        }
    }
    out
}

/// Offers of the conforming types, in discovery order.
fn type_candidates<'s>(store: &'s OfferStore, type_ids: &[TypeId]) -> Cow<'s, [u64]> {
    match type_ids {
        [one] => Cow::Borrowed(store.of_type(*one)),
        many => {
            let mut all: Vec<u64> = many.iter().flat_map(|t| store.of_type(*t).iter().copied()).collect();
            all.sort_unstable();
            Cow::Owned(all)
        }
    }
}

/// The matching offers of a query in preference order, before
/// return_card and paging.
pub(crate) struct Ordered {
    pub matched: Vec<Candidate>,
    pub desired: Desired,
    pub effective: Effective,
    pub limits: Vec<LimitApplied>,
    pub searched: u64,
}

/// What the static part of a search found.
struct Found {
    /// Offers that match without any dynamic value, in discovery order.
    matched: Vec<Arc<Offer>>,
    /// Offers whose match depends on dynamic values, in discovery order.
    pending: Vec<Arc<Offer>>,
    searched: u64,
}

/// Whether the constraint reads a property that is dynamic on this offer.
fn needs_dynamic(offer: &Offer, constraint: &Compiled) -> bool {
    constraint
        .compiled
        .referenced()
        .iter()
        .any(|id| offer.get(*id).is_some_and(|p| matches!(p.value, PropValue::Dynamic(_))))
}

impl Trader {
    /// Runs a query up to the ordered list of matching offers, with the
    /// dynamic values it needed (and those of `extra`, for Pick).
    pub(crate) async fn evaluate_query(
        &self,
        args: QueryArgs,
        settings: &Settings,
        extra: &[PropId],
    ) -> Result<Ordered, TraderError> {
        self.stats.queries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (effective, mut limits) = policy::resolve(&args.policies, settings)?;
        let desired = resolve_desired(args.desired, &self.names)?;
        let now = self.clock.now_ms();

        let (constraint, preference, found) = {
            let state = self.read_state();
            let full = state.types.full(&args.type_name)?.clone();
            let constraint = compile_constraint(&full, &args.constraint, &self.names)?;
            let preference = compile_preference(&full, &args.preference, &self.names)?;
            let type_ids: Vec<TypeId> = if effective.exact_type_match {
                vec![full.id]
            } else {
                state.types.conforming(&full.name).iter().map(|t| t.id).collect()
            };
            let found = self.search(
                &state.offers,
                &full,
                &type_ids,
                &args.offer_ids,
                &constraint,
                &effective,
                now,
                &mut limits,
            );
            (constraint, preference, found)
        };
        let searched = found.searched;

        // Dynamic values: one batch for everything this query needs.
        let mut refs: Vec<PropId> = constraint.compiled.referenced().to_vec();
        refs.extend_from_slice(preference.referenced());
        refs.extend_from_slice(extra);
        let mut matched_refs: Vec<PropId> = preference.referenced().to_vec();
        matched_refs.extend_from_slice(extra);
        let candidates: Vec<Arc<Offer>> = found.matched.iter().chain(&found.pending).cloned().collect();
        let wanted: Vec<Vec<PropId>> = found
            .matched
            .iter()
            .map(|o| dynamic_needs(o, &matched_refs, &desired))
            .chain(found.pending.iter().map(|o| dynamic_needs(o, &refs, &desired)))
            .collect();
        let mut values = if wanted.iter().any(|w| !w.is_empty()) {
            self.dynamic
                .evaluate(
                    &candidates,
                    &wanted,
                    Duration::from_millis(effective.dynamic_deadline_ms),
                    effective.max_staleness_ms,
                    &self.clock,
                    &self.stats,
                )
                .await
        } else {
            vec![Vec::new(); candidates.len()]
        };
        let mut matched: Vec<Candidate> = Vec::with_capacity(candidates.len());
        for (index, offer) in candidates.into_iter().enumerate() {
            let candidate = Candidate { offer, dynamic: std::mem::take(&mut values[index]) };
            let is_pending = index >= found.matched.len();
            if !is_pending || constraint.eval(&candidate) == Truth::True {
                matched.push(candidate);
            }
        }
        if !found.pending.is_empty() {
            // Pending offers that matched rejoin discovery order.
            matched.sort_by_key(|c| c.offer.seq);
        }
        let match_card = usize::try_from(effective.match_card).unwrap_or(usize::MAX);
        if matched.len() > match_card {
            matched.truncate(match_card);
            if !limits.iter().any(|l| l.policy == "match_card") {
                limits.push(LimitApplied {
                    policy: "match_card",
                    value: Value::UInt(effective.match_card),
                    reason: "more offers would have matched".into(),
                });
            }
        }

        let searched_count = searched;
        preference.order(&mut matched, |candidate: &Candidate| candidate, &mut rand::rng());
        Ok(Ordered { matched, desired, effective, limits, searched: searched_count })
    }

    pub async fn query(&self, args: QueryArgs) -> Result<QueryResult, TraderError> {
        let settings = self.settings();
        let now = self.clock.now_ms();
        let how_many = args.how_many;
        let Ordered { mut matched, desired, effective, mut limits, searched } =
            self.evaluate_query(args, &settings, &[]).await?;
        let n_matched = matched.len() as u64;
        if matched.len() as u64 > effective.return_card {
            limits.push(LimitApplied {
                policy: "return_card",
                value: Value::UInt(effective.return_card),
                reason: format!("{} offers matched, {} returned", matched.len(), effective.return_card),
            });
            matched.truncate(usize::try_from(effective.return_card).unwrap_or(usize::MAX));
        }

        let page_size = if how_many == 0 { settings.default_page_size } else { u64::from(how_many) };
        let first_len = matched.len().min(usize::try_from(page_size).unwrap_or(usize::MAX));
        let rest: Vec<Arc<str>> = matched[first_len..].iter().map(|c| c.offer.id.clone()).collect();
        matched.truncate(first_len);
        let remaining = rest.len() as u64;
        let next_page_token = (!rest.is_empty()).then(|| {
            self.pages.open(rest, desired.clone(), now, settings.page_ttl_seconds.saturating_mul(1000))
        });
        let offers = matched
            .into_iter()
            .map(|candidate| Matched { props: desired_values(&candidate, &desired), offer: candidate.offer })
            .collect();
        Ok(QueryResult { offers, next_page_token, remaining, limits, searched, matched: n_matched })
    }

    /// Finds the matching offers in discovery order.
    #[allow(clippy::too_many_arguments)]
    fn search(
        &self,
        store: &OfferStore,
        full: &FullType,
        type_ids: &[TypeId],
        offer_ids: &[String],
        constraint: &Compiled,
        effective: &Effective,
        now: u64,
        limits: &mut Vec<LimitApplied>,
    ) -> Found {
        let mut candidates = type_candidates(store, type_ids);
        if !offer_ids.is_empty() {
            let mut named: Vec<u64> =
                offer_ids.iter().filter_map(|id| store.get(id)).map(|o| o.seq).collect();
            named.sort_unstable();
            named.dedup();
            candidates = Cow::Owned(intersect_sorted(&named, &candidates));
        }
        let mut lists: Vec<Cow<'_, [u64]>> = Vec::new();
        let mut limit = candidates.len();
        for conjunct in tcl::conjuncts(&constraint.expr) {
            if let Some(list) = conjunct_candidates(conjunct, full, store, limit) {
                limit = limit.min(list.len());
                lists.push(list);
            }
        }
        lists.sort_by_key(|list| list.len());
        let mut lists = lists.into_iter();
        if let Some(smallest) = lists.next().filter(|list| list.len() < candidates.len()) {
            candidates = smallest;
            for list in lists {
                if candidates.is_empty() {
                    break;
                }
                candidates = Cow::Owned(intersect_sorted(&candidates, &list));
            }
        }

        let search_card = usize::try_from(effective.search_card).unwrap_or(usize::MAX);
        let match_card = usize::try_from(effective.match_card).unwrap_or(usize::MAX);
        let mut matched = Vec::new();
        let mut pending = Vec::new();
        let mut searched = 0usize;
        let mut screened_dynamic = false;
        let mut screened_modifiable = false;
        for seq in candidates.iter() {
            let Some(offer) = store.get_seq(*seq) else { continue };
            if !type_ids.contains(&offer.type_id) || !offer.is_live(now) {
                continue;
            }
            if searched == search_card {
                limits.push(LimitApplied {
                    policy: "search_card",
                    value: Value::UInt(effective.search_card),
                    reason: "more offers were left unsearched".into(),
                });
                break;
            }
            searched += 1;
            if offer.has_dynamic && !effective.use_dynamic_properties {
                screened_dynamic = true;
                continue;
            }
            if offer.has_modifiable && !effective.use_modifiable_properties {
                screened_modifiable = true;
                continue;
            }
            let truth = constraint.eval(offer.as_ref());
            if truth == Truth::Unknown && offer.has_dynamic && needs_dynamic(offer, constraint) {
                // Unknown only because a dynamic value is not known yet:
                // Kleene logic is monotone, so a definite answer with the
                // value missing would have been final.
                pending.push(offer.clone());
            } else if truth == Truth::True {
                if matched.len() == match_card {
                    limits.push(LimitApplied {
                        policy: "match_card",
                        value: Value::UInt(effective.match_card),
                        reason: "more offers would have matched".into(),
                    });
                    break;
                }
                matched.push(offer.clone());
            }
        }
        if screened_dynamic {
            limits.push(LimitApplied {
                policy: "use_dynamic_properties",
                value: Value::Bool(false),
                reason: "offers with dynamic properties were left out".into(),
            });
        }
        if screened_modifiable {
            limits.push(LimitApplied {
                policy: "use_modifiable_properties",
                value: Value::Bool(false),
                reason: "offers with modifiable properties were left out".into(),
            });
        }
        Found { matched, pending, searched: searched as u64 }
    }

    /// The next page of an earlier query; dynamic desired properties are
    /// evaluated now, within the broker's default deadline.
    pub async fn next_page(&self, token: &str, how_many: u32) -> Result<QueryResult, TraderError> {
        let settings = self.settings();
        let page_size = if how_many == 0 { settings.default_page_size } else { u64::from(how_many) };
        let now = self.clock.now_ms();
        let taken = self
            .pages
            .take(token, usize::try_from(page_size).unwrap_or(usize::MAX), now)
            .ok_or(TraderError::UnknownPage)?;
        let offers: Vec<Arc<Offer>> = {
            let state = self.read_state();
            taken
                .ids
                .iter()
                .filter_map(|id| state.offers.get(id))
                .filter(|o| o.is_live(now))
                .cloned()
                .collect()
        };
        let wanted: Vec<Vec<PropId>> = offers.iter().map(|o| dynamic_needs(o, &[], &taken.desired)).collect();
        let mut values = if wanted.iter().any(|w| !w.is_empty()) {
            self.dynamic
                .evaluate(
                    &offers,
                    &wanted,
                    Duration::from_millis(settings.def_dynamic_deadline_ms),
                    settings.def_max_staleness_ms,
                    &self.clock,
                    &self.stats,
                )
                .await
        } else {
            vec![Vec::new(); offers.len()]
        };
        let offers: Vec<Matched> = offers
            .into_iter()
            .enumerate()
            .map(|(i, offer)| {
                let candidate = Candidate { offer, dynamic: std::mem::take(&mut values[i]) };
                Matched { props: desired_values(&candidate, &taken.desired), offer: candidate.offer }
            })
            .collect();
        let remaining = taken.remaining as u64;
        Ok(QueryResult {
            matched: offers.len() as u64,
            searched: 0,
            offers,
            next_page_token: (remaining > 0).then(|| token.to_string()),
            remaining,
            limits: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intersection_keeps_common_postings_in_order() {
        let large: Vec<u64> = (1..=1000).filter(|n| n % 3 == 0).collect();
        assert_eq!(intersect_sorted(&[1, 3, 4, 6, 999, 1001], &large), [3, 6, 999]);
        assert_eq!(intersect_sorted(&[2, 5], &large), [] as [u64; 0]);
        assert_eq!(intersect_sorted(&[], &large), [] as [u64; 0]);
        assert_eq!(intersect_sorted(&[3], &[]), [] as [u64; 0]);
        let small: Vec<u64> = (1..=1000).filter(|n| n % 5 == 0).collect();
        let both: Vec<u64> = (1..=1000).filter(|n| n % 15 == 0).collect();
        assert_eq!(intersect_sorted(&small, &large), both);
        assert_eq!(intersect_sorted(&large, &small), both);
    }
}
