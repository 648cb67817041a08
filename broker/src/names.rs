//! Interned property names: every property name the broker has seen maps to
//! a dense [`PropId`], so offers store and look up properties by number.
//!
//! Ids are never reused or forgotten while the process runs; the table only
//! grows with distinct names, which are bounded by the declared types plus
//! the extra properties exporters send.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::value::PropId;

#[derive(Default)]
pub struct PropNames {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    by_name: HashMap<Arc<str>, PropId>,
    names: Vec<Arc<str>>,
}

impl PropNames {
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of `name`, allocating one if the name is new.
    pub fn intern(&self, name: &str) -> PropId {
        if let Some(id) = self.get(name) {
            return id;
        }
        let mut inner = self.inner.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(id) = inner.by_name.get(name) {
            return *id;
        }
        let id = PropId(u32::try_from(inner.names.len()).unwrap_or(u32::MAX));
        let name: Arc<str> = Arc::from(name);
        inner.names.push(name.clone());
        inner.by_name.insert(name, id);
        id
    }

    /// The id of `name` if any offer or type ever used it.
    pub fn get(&self, name: &str) -> Option<PropId> {
        let inner = self.inner.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        inner.by_name.get(name).copied()
    }

    /// The name of an id handed out by [`intern`](Self::intern).
    pub fn name(&self, id: PropId) -> Arc<str> {
        let inner = self.inner.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        inner.names.get(id.0 as usize).cloned().unwrap_or_else(|| Arc::from("?"))
    }
}

/// Whether `name` is a legal property name: a letter or `_`, then letters,
/// digits or `_`, and not a word of the constraint language (a property
/// called `in` could never be queried).
pub fn is_valid_property_name(name: &str) -> bool {
    const RESERVED: &[&str] =
        &["and", "or", "not", "exist", "in", "min", "max", "with", "random", "first", "TRUE", "FALSE"];
    let mut chars = name.chars();
    let Some(first) = chars.next() else { return false };
    (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !RESERVED.contains(&name)
        && name.len() <= 256
}

/// Whether `name` is a legal service-type name: identifiers joined by `::`.
pub fn is_valid_type_name(name: &str) -> bool {
    name.len() <= 256
        && !name.is_empty()
        && name.split("::").all(|part| {
            let mut chars = part.chars();
            matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_stable() {
        let names = PropNames::new();
        let a = names.intern("load");
        let b = names.intern("cpu");
        assert_ne!(a, b);
        assert_eq!(names.intern("load"), a);
        assert_eq!(names.get("cpu"), Some(b));
        assert_eq!(names.get("nope"), None);
        assert_eq!(&*names.name(b), "cpu");
    }

    #[test]
    fn name_rules() {
        for good in ["load", "_x", "bandwidth_out", "a1"] {
            assert!(is_valid_property_name(good), "{good}");
        }
        for bad in ["", "1a", "a-b", "in", "TRUE", "a b", "é"] {
            assert!(!is_valid_property_name(bad), "{bad}");
        }
        for good in ["MediaServer", "Media::Server", "_T"] {
            assert!(is_valid_type_name(good), "{good}");
        }
        for bad in ["", "Media:Server", "::A", "A::", "9A", "A B"] {
            assert!(!is_valid_type_name(bad), "{bad}");
        }
    }
}
