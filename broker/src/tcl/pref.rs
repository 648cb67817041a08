//! Preferences: ordering the matched offers.
//!
//! `min e` / `max e` sort by a numeric expression (exactly, across integer
//! and double values), `with b` puts the offers for which `b` is TRUE first,
//! `random` shuffles uniformly and `first` keeps discovery order. Offers for
//! which the preference cannot be evaluated go last, and ties keep discovery
//! order. Sort keys are computed once per offer, not per comparison.

use std::cmp::Reverse;

use rand::Rng;
use rand::seq::SliceRandom;

use crate::tcl::compile::{Compiler, Schema};
use crate::tcl::eval::{BoolNode, NumNode, Properties};
use crate::tcl::num::{Num, OrderedNum};
use crate::tcl::{Preference, TclError, parse_preference};
use crate::value::PropId;

/// A preference checked against a schema, ready to order offers.
#[derive(Debug, Clone)]
pub struct CompiledPreference {
    kind: Kind,
    referenced: Vec<PropId>,
}

#[derive(Debug, Clone)]
enum Kind {
    Min(NumNode),
    Max(NumNode),
    With(BoolNode),
    Random,
    First,
}

/// Where an offer goes: evaluated ones by their key, the others after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank<K> {
    Evaluated(K),
    Unevaluable,
}

impl CompiledPreference {
    /// Checks `preference` against `schema`: `min`/`max` need a number,
    /// `with` a boolean.
    pub fn new<S: Schema + ?Sized>(
        preference: &Preference,
        schema: &S,
    ) -> Result<CompiledPreference, TclError> {
        let compiler = Compiler { schema };
        let kind = match preference {
            Preference::Min(expr) => Kind::Min(compiler.number(expr, "'min' needs a numeric expression")?),
            Preference::Max(expr) => Kind::Max(compiler.number(expr, "'max' needs a numeric expression")?),
            Preference::With(expr) => {
                Kind::With(compiler.boolean(expr, "'with' needs a boolean expression")?)
            }
            Preference::Random => Kind::Random,
            Preference::First => Kind::First,
        };
        let mut referenced = Vec::new();
        match &kind {
            Kind::Min(node) | Kind::Max(node) => node.visit_props(&mut |id| referenced.push(id)),
            Kind::With(node) => node.visit_props(&mut |id| referenced.push(id)),
            Kind::Random | Kind::First => {}
        }
        referenced.sort_unstable();
        referenced.dedup();
        Ok(CompiledPreference { kind, referenced })
    }

    /// The properties whose values ordering may read, sorted and without
    /// duplicates.
    pub fn referenced(&self) -> &[PropId] {
        &self.referenced
    }

    /// Reorders `items` (given in discovery order) by the preference.
    ///
    /// `props` gives an item's properties, borrowed from the item (items are
    /// typically `&Offer`s or hold their offer); `rng` is used only by
    /// `random`. Each item's key is computed once, before sorting.
    pub fn order<T, P, R>(&self, items: &mut [T], props: impl Fn(&T) -> &P, rng: &mut R)
    where
        P: Properties + ?Sized,
        R: Rng + ?Sized,
    {
        let number = |node: &NumNode, item: &T| match node.eval(props(item)) {
            Some(Num::Double(value)) if value.is_nan() => None,
            other => other.map(OrderedNum),
        };
        // `sort_by_cached_key` evaluates each key once and is stable.
        match &self.kind {
            Kind::Min(node) => items.sort_by_cached_key(|item| match number(node, item) {
                Some(value) => Rank::Evaluated(value),
                None => Rank::Unevaluable,
            }),
            Kind::Max(node) => items.sort_by_cached_key(|item| match number(node, item) {
                Some(value) => Rank::Evaluated(Reverse(value)),
                None => Rank::Unevaluable,
            }),
            // FALSE and Unknown alike follow TRUE, in discovery order.
            Kind::With(node) => items.sort_by_cached_key(|item| !node.eval(props(item)).is_true()),
            Kind::Random => items.shuffle(rng),
            Kind::First => {}
        }
    }
}

/// Parses and compiles a preference in one step.
pub fn compile_preference<S: Schema + ?Sized>(
    text: &str,
    schema: &S,
) -> Result<CompiledPreference, TclError> {
    CompiledPreference::new(&parse_preference(text)?, schema)
}
