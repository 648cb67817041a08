//! The in-memory offer table and its indexes.
//!
//! Offers are kept in discovery order (`seq`) and indexed three ways, all
//! as posting lists of sequence numbers sorted ascending, so results keep
//! discovery order without sorting:
//! - by service type;
//! - by (property, value) for static scalar values and for every element
//!   of static sequences: answers `prop == lit` and `lit in prop`;
//! - by (property, number) in a B-tree for static numeric scalars:
//!   answers `prop < lit` and friends.
//!
//! Dynamic properties are not indexed: their values live with the exporter.
//! Not synchronised: the trader guards the store with a lock.
//!
//! Invariant: an offer is in the id table iff it is in the sequence table
//! and in exactly the posting lists of its type and static values.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use crate::offer::{Offer, PropValue};
use crate::types::TypeId;
use crate::value::{PropId, Value};

/// A value as an equality-index key. Numbers are normalised so that equal
/// numbers of different types (5, 5u64, 5.0) share one key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IndexKey {
    Bool(bool),
    Str(String),
    Int(i128),
    /// A finite, non-integral double, by its bits.
    Float(u64),
}

impl IndexKey {
    pub fn from_f64(value: f64) -> Option<IndexKey> {
        if !value.is_finite() {
            return None;
        }
        Some(match NumKey::from_f64(value)? {
            NumKey::Int(i) => IndexKey::Int(i),
            NumKey::Float(f) => IndexKey::Float(f.to_bits()),
        })
    }
}

/// An exact number with a total order across integers and doubles.
#[derive(Debug, Clone, Copy)]
pub enum NumKey {
    Int(i128),
    /// Finite and not integral (or beyond the range of i128).
    Float(f64),
}

impl NumKey {
    pub fn from_f64(value: f64) -> Option<NumKey> {
        if !value.is_finite() {
            return None;
        }
        // Integral doubles within i128 become integers; -0.0 becomes 0.
        if value.fract() == 0.0 && value.abs() < 1.0e38 {
            #[allow(clippy::cast_possible_truncation)]
            return Some(NumKey::Int(value as i128));
        }
        Some(NumKey::Float(value))
    }
}

fn cmp_int_float(i: i128, f: f64) -> Ordering {
    // f is finite and either non-integral or of magnitude >= 1e38 > i128 range
    // is not guaranteed, so compare via floor when it fits.
    if f >= 1.0e38 {
        return Ordering::Less;
    }
    if f <= -1.0e38 {
        return Ordering::Greater;
    }
    #[allow(clippy::cast_possible_truncation)]
    let floor = f.floor() as i128;
    if i <= floor { Ordering::Less } else { Ordering::Greater }
}

impl Ord for NumKey {
    fn cmp(&self, other: &Self) -> Ordering {
        match (*self, *other) {
            (NumKey::Int(a), NumKey::Int(b)) => a.cmp(&b),
            (NumKey::Float(a), NumKey::Float(b)) => a.total_cmp(&b),
            (NumKey::Int(a), NumKey::Float(b)) => cmp_int_float(a, b),
            (NumKey::Float(a), NumKey::Int(b)) => cmp_int_float(b, a).reverse(),
        }
    }
}

impl PartialOrd for NumKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for NumKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for NumKey {}

fn scalar_keys(value: &Value, mut push: impl FnMut(IndexKey)) {
    match value {
        Value::Bool(b) => push(IndexKey::Bool(*b)),
        Value::Int(i) => push(IndexKey::Int(i128::from(*i))),
        Value::UInt(u) => push(IndexKey::Int(i128::from(*u))),
        Value::Double(d) => {
            if let Some(k) = IndexKey::from_f64(*d) {
                push(k);
            }
        }
        Value::String(s) => push(IndexKey::Str(s.clone())),
        Value::BoolSeq(v) => v.iter().for_each(|b| push(IndexKey::Bool(*b))),
        Value::IntSeq(v) => v.iter().for_each(|i| push(IndexKey::Int(i128::from(*i)))),
        Value::UIntSeq(v) => v.iter().for_each(|u| push(IndexKey::Int(i128::from(*u)))),
        Value::DoubleSeq(v) => v.iter().filter_map(|d| IndexKey::from_f64(*d)).for_each(push),
        Value::StringSeq(v) => v.iter().for_each(|s| push(IndexKey::Str(s.clone()))),
        Value::Records(_) => {}
    }
}

fn num_key(value: &Value) -> Option<NumKey> {
    match value {
        Value::Int(i) => Some(NumKey::Int(i128::from(*i))),
        Value::UInt(u) => Some(NumKey::Int(i128::from(*u))),
        Value::Double(d) => NumKey::from_f64(*d),
        _ => None,
    }
}

fn insert_sorted(list: &mut Vec<u64>, seq: u64) {
    match list.last() {
        Some(&last) if last >= seq => {
            if let Err(pos) = list.binary_search(&seq) {
                list.insert(pos, seq);
            }
        }
        _ => list.push(seq),
    }
}

fn remove_sorted(list: &mut Vec<u64>, seq: u64) {
    if let Ok(pos) = list.binary_search(&seq) {
        list.remove(pos);
    }
}

#[derive(Default)]
pub struct OfferStore {
    /// Ordered by id, so that listing pages through it by range.
    by_id: BTreeMap<Arc<str>, Arc<Offer>>,
    by_seq: BTreeMap<u64, Arc<Offer>>,
    by_type: HashMap<TypeId, Vec<u64>>,
    eq_index: HashMap<PropId, HashMap<IndexKey, Vec<u64>>>,
    range_index: HashMap<PropId, BTreeMap<NumKey, Vec<u64>>>,
    /// Offers on which a property is dynamic: an index lookup on that
    /// property must include them, since their value is unknown here.
    dynamic: HashMap<PropId, Vec<u64>>,
    next_seq: u64,
    n_leased: usize,
}

impl OfferStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn n_leased(&self) -> usize {
        self.n_leased
    }

    /// The sequence number for the next export.
    pub fn allocate_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Makes sure sequence numbers handed out later exceed `seq` (used when
    /// restoring stored offers).
    pub fn observe_seq(&mut self, seq: u64) {
        self.next_seq = self.next_seq.max(seq);
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Offer>> {
        self.by_id.get(id)
    }

    pub fn get_seq(&self, seq: u64) -> Option<&Arc<Offer>> {
        self.by_seq.get(&seq)
    }

    /// Inserts an offer, replacing any offer with the same id.
    pub fn insert(&mut self, offer: Arc<Offer>) {
        if let Some(old) = self.by_id.get(&offer.id).cloned() {
            self.remove(&old.id);
        }
        let seq = offer.seq;
        insert_sorted(self.by_type.entry(offer.type_id).or_default(), seq);
        for prop in &offer.props {
            if let PropValue::Dynamic(_) = &prop.value {
                insert_sorted(self.dynamic.entry(prop.id).or_default(), seq);
            }
            if let PropValue::Static(value) = &prop.value {
                let postings = self.eq_index.entry(prop.id).or_default();
                scalar_keys(value, |key| insert_sorted(postings.entry(key).or_default(), seq));
                if let Some(key) = num_key(value) {
                    insert_sorted(self.range_index.entry(prop.id).or_default().entry(key).or_default(), seq);
                }
            }
        }
        if offer.is_leased() {
            self.n_leased += 1;
        }
        self.by_seq.insert(seq, offer.clone());
        self.by_id.insert(offer.id.clone(), offer);
    }

    /// Removes an offer by id, returning it.
    pub fn remove(&mut self, id: &str) -> Option<Arc<Offer>> {
        let offer = self.by_id.remove(id)?;
        let seq = offer.seq;
        self.by_seq.remove(&seq);
        if let Some(list) = self.by_type.get_mut(&offer.type_id) {
            remove_sorted(list, seq);
            if list.is_empty() {
                self.by_type.remove(&offer.type_id);
            }
        }
        for prop in &offer.props {
            if let (PropValue::Dynamic(_), Some(list)) = (&prop.value, self.dynamic.get_mut(&prop.id)) {
                remove_sorted(list, seq);
                if list.is_empty() {
                    self.dynamic.remove(&prop.id);
                }
            }
            if let PropValue::Static(value) = &prop.value {
                if let Some(postings) = self.eq_index.get_mut(&prop.id) {
                    scalar_keys(value, |key| {
                        if let Some(list) = postings.get_mut(&key) {
                            remove_sorted(list, seq);
                            if list.is_empty() {
                                postings.remove(&key);
                            }
                        }
                    });
                }
                if let (Some(key), Some(tree)) = (num_key(value), self.range_index.get_mut(&prop.id))
                    && let Some(list) = tree.get_mut(&key)
                {
                    remove_sorted(list, seq);
                    if list.is_empty() {
                        tree.remove(&key);
                    }
                }
            }
        }
        if offer.is_leased() {
            self.n_leased -= 1;
        }
        Some(offer)
    }

    /// Offers of one type, in discovery order.
    pub fn of_type(&self, type_id: TypeId) -> &[u64] {
        self.by_type.get(&type_id).map_or(&[], Vec::as_slice)
    }

    /// Offers whose static `prop` equals `key` or holds it as an element.
    pub fn with_value(&self, prop: PropId, key: &IndexKey) -> &[u64] {
        self.eq_index.get(&prop).and_then(|p| p.get(key)).map_or(&[], Vec::as_slice)
    }

    /// Offers on which `prop` is dynamic.
    pub fn with_dynamic(&self, prop: PropId) -> &[u64] {
        self.dynamic.get(&prop).map_or(&[], Vec::as_slice)
    }

    /// Offers whose static numeric `prop` lies within the bounds, in
    /// discovery order; `None` if more than `limit` would be returned (the
    /// caller then prefers another plan).
    pub fn in_range(
        &self,
        prop: PropId,
        lo: Bound<NumKey>,
        hi: Bound<NumKey>,
        limit: usize,
    ) -> Option<Vec<u64>> {
        let Some(tree) = self.range_index.get(&prop) else { return Some(Vec::new()) };
        if let (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) = (&lo, &hi)
        {
            // BTreeMap::range panics on inverted or empty-excluded ranges.
            if a > b || (a == b && !(matches!(lo, Bound::Included(_)) && matches!(hi, Bound::Included(_)))) {
                return Some(Vec::new());
            }
        }
        let mut seqs = Vec::new();
        for list in tree.range((lo, hi)).map(|(_, list)| list) {
            if seqs.len() + list.len() > limit {
                return None;
            }
            seqs.extend_from_slice(list);
        }
        seqs.sort_unstable();
        Some(seqs)
    }

    /// All offers in discovery order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Offer>> {
        self.by_seq.values()
    }

    /// Offers with ids after `after`, in id order, for paged listing.
    pub fn ids_after<'a>(&'a self, after: &'a str) -> impl Iterator<Item = &'a Arc<Offer>> + 'a {
        self.by_id.range::<str, _>((Bound::Excluded(after), Bound::Unbounded)).map(|(_, offer)| offer)
    }

    /// Number of offers of a type.
    pub fn count_of_type(&self, type_id: TypeId) -> usize {
        self.of_type(type_id).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_order_exactly() {
        let k = |v: f64| NumKey::from_f64(v).expect("finite");
        assert!(NumKey::Int(1) < k(1.5));
        assert!(k(1.5) < NumKey::Int(2));
        assert!(k(-0.5) < NumKey::Int(0));
        assert!(NumKey::Int(-1) < k(-0.5));
        assert_eq!(k(3.0), NumKey::Int(3));
        assert_eq!(k(-0.0), NumKey::Int(0));
        assert!(NumKey::Int(i128::from(u64::MAX)) < k(1e300));
        assert!(k(-1e300) < NumKey::Int(i128::from(i64::MIN)));
        assert_eq!(IndexKey::from_f64(5.0), Some(IndexKey::Int(5)));
        assert_eq!(IndexKey::from_f64(f64::NAN), None);
    }

    #[test]
    fn posting_lists_stay_sorted() {
        let mut list = vec![];
        for seq in [1, 3, 2, 5, 4, 3] {
            insert_sorted(&mut list, seq);
        }
        assert_eq!(list, [1, 2, 3, 4, 5]);
        remove_sorted(&mut list, 3);
        remove_sorted(&mut list, 9);
        assert_eq!(list, [1, 2, 4, 5]);
    }
}
