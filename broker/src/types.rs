//! The service-type repository: types, their supertypes and property
//! declarations, masking and incarnation numbers (OMG CosTradingRepos).
//!
//! Types are immutable once added (only the mask flag changes), so each
//! type's fully described form — inherited properties, transitive
//! supertypes — is computed once at `add` and shared as an `Arc`.
//!
//! Invariant: every supertype of a type in the repository is in the
//! repository; a type with subtypes cannot be removed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::TraderError;
use crate::names::{PropNames, is_valid_property_name, is_valid_type_name};
use crate::value::{PropId, ValueType};

/// How a property may be set and changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Optional and modifiable.
    #[default]
    Normal,
    /// Optional; never changes once present; never dynamic.
    Readonly,
    /// Required at export; cannot be deleted; may change.
    Mandatory,
    /// Required at export and never changes.
    MandatoryReadonly,
}

impl Mode {
    pub fn is_mandatory(self) -> bool {
        matches!(self, Mode::Mandatory | Mode::MandatoryReadonly)
    }

    pub fn is_readonly(self) -> bool {
        matches!(self, Mode::Readonly | Mode::MandatoryReadonly)
    }

    fn from_flags(mandatory: bool, readonly: bool) -> Mode {
        match (mandatory, readonly) {
            (false, false) => Mode::Normal,
            (false, true) => Mode::Readonly,
            (true, false) => Mode::Mandatory,
            (true, true) => Mode::MandatoryReadonly,
        }
    }

    /// The weakest mode at least as strong as both.
    fn join(self, other: Mode) -> Mode {
        Mode::from_flags(
            self.is_mandatory() || other.is_mandatory(),
            self.is_readonly() || other.is_readonly(),
        )
    }

    /// Whether `self` keeps every restriction of `base` (a subtype may only
    /// strengthen an inherited mode).
    pub fn at_least(self, base: Mode) -> bool {
        (self.is_mandatory() || !base.is_mandatory()) && (self.is_readonly() || !base.is_readonly())
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Normal => "normal",
            Mode::Readonly => "readonly",
            Mode::Mandatory => "mandatory",
            Mode::MandatoryReadonly => "mandatory_readonly",
        }
    }
}

/// A property declaration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropDef {
    pub name: String,
    pub value_type: ValueType,
    pub mode: Mode,
    #[serde(default)]
    pub doc: String,
}

/// A service type as declared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceType {
    pub name: String,
    #[serde(default)]
    pub interface: String,
    #[serde(default)]
    pub super_types: Vec<String>,
    #[serde(default)]
    pub props: Vec<PropDef>,
    #[serde(default)]
    pub masked: bool,
    #[serde(default)]
    pub incarnation: u64,
    #[serde(default)]
    pub doc: String,
}

/// Dense number of a service type, for cheap type tests on offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeId(pub u32);

/// A property as the fully described type sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct FullProp {
    pub id: PropId,
    pub def: PropDef,
}

/// A type with everything it inherits.
#[derive(Debug)]
pub struct FullType {
    pub id: TypeId,
    pub name: String,
    /// Transitive supertypes, nearest first, without duplicates.
    pub ancestors: Vec<String>,
    /// Own properties first, then inherited ones in supertype order.
    pub props: Vec<FullProp>,
    by_id: HashMap<PropId, usize>,
}

impl FullType {
    pub fn prop(&self, id: PropId) -> Option<&FullProp> {
        self.by_id.get(&id).map(|&i| &self.props[i])
    }

    pub fn prop_by_name(&self, name: &str) -> Option<&FullProp> {
        self.props.iter().find(|p| p.def.name == name)
    }

    pub fn is_a(&self, name: &str) -> bool {
        self.name == name || self.ancestors.iter().any(|a| a == name)
    }
}

struct Entry {
    decl: ServiceType,
    full: Arc<FullType>,
}

/// The repository. Not synchronised: the trader guards it.
#[derive(Default)]
pub struct TypeRepo {
    types: BTreeMap<String, Entry>,
    incarnation: u64,
    next_type_id: u32,
}

impl TypeRepo {
    pub fn new() -> Self {
        Self::default()
    }

    /// The current incarnation number: the number of the latest change.
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    pub fn len(&self) -> usize {
        self.types.len()
    }

    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    /// Checks `decl` and computes its full form without adding it.
    pub fn check_add(&self, decl: &ServiceType, names: &PropNames) -> Result<Arc<FullType>, TraderError> {
        if !is_valid_type_name(&decl.name) {
            return Err(TraderError::IllegalTypeName(decl.name.clone()));
        }
        if self.types.contains_key(&decl.name) {
            return Err(TraderError::TypeExists(decl.name.clone()));
        }
        let mut own: HashMap<&str, &PropDef> = HashMap::new();
        for prop in &decl.props {
            if !is_valid_property_name(&prop.name) {
                return Err(TraderError::IllegalPropertyName(prop.name.clone()));
            }
            if own.insert(prop.name.as_str(), prop).is_some() {
                return Err(TraderError::DuplicateProperty(prop.name.clone()));
            }
        }

        // Inherited properties, merged across supertypes: (def, declaring type).
        let mut inherited: Vec<(PropDef, String)> = Vec::new();
        let mut ancestors: Vec<String> = Vec::new();
        for (i, super_name) in decl.super_types.iter().enumerate() {
            if decl.super_types[..i].contains(super_name) {
                return Err(TraderError::DuplicateSuperType {
                    type_name: decl.name.clone(),
                    super_type: super_name.clone(),
                });
            }
            let Some(super_entry) = self.types.get(super_name) else {
                return Err(TraderError::UnknownType(super_name.clone()));
            };
            for name in std::iter::once(super_name).chain(super_entry.full.ancestors.iter()) {
                if !ancestors.contains(name) {
                    ancestors.push(name.clone());
                }
            }
            for prop in &super_entry.full.props {
                match inherited.iter_mut().find(|(def, _)| def.name == prop.def.name) {
                    Some((def, from)) => {
                        if def.value_type != prop.def.value_type {
                            return Err(TraderError::ValueTypeRedefinition {
                                type_name: decl.name.clone(),
                                property: prop.def.name.clone(),
                                super_type: from.clone(),
                                declared: def.value_type.to_string(),
                                redeclared: format!("{} (by '{super_name}')", prop.def.value_type),
                            });
                        }
                        def.mode = def.mode.join(prop.def.mode);
                    }
                    None => inherited.push((prop.def.clone(), super_name.clone())),
                }
            }
        }

        for (def, from) in &inherited {
            if let Some(redeclared) = own.get(def.name.as_str())
                && (redeclared.value_type != def.value_type || !redeclared.mode.at_least(def.mode))
            {
                return Err(TraderError::ValueTypeRedefinition {
                    type_name: decl.name.clone(),
                    property: def.name.clone(),
                    super_type: from.clone(),
                    declared: format!("{} {}", def.mode.name(), def.value_type),
                    redeclared: format!("{} {}", redeclared.mode.name(), redeclared.value_type),
                });
            }
        }

        let mut props: Vec<FullProp> =
            decl.props.iter().map(|def| FullProp { id: names.intern(&def.name), def: def.clone() }).collect();
        for (def, _) in inherited {
            if !own.contains_key(def.name.as_str()) {
                props.push(FullProp { id: names.intern(&def.name), def });
            }
        }
        let by_id = props.iter().enumerate().map(|(i, p)| (p.id, i)).collect();
        Ok(Arc::new(FullType {
            id: TypeId(self.next_type_id),
            name: decl.name.clone(),
            ancestors,
            props,
            by_id,
        }))
    }

    /// Adds a type checked by [`check_add`](Self::check_add) and returns its
    /// incarnation. `decl.incarnation` and `masked` are kept when restoring
    /// from storage (`restore = true`), assigned otherwise.
    pub fn add(&mut self, mut decl: ServiceType, full: Arc<FullType>, restore: bool) -> u64 {
        if restore {
            self.incarnation = self.incarnation.max(decl.incarnation);
        } else {
            self.incarnation += 1;
            decl.incarnation = self.incarnation;
            decl.masked = false;
        }
        self.next_type_id = self.next_type_id.max(full.id.0 + 1);
        let incarnation = decl.incarnation;
        self.types.insert(decl.name.clone(), Entry { decl, full });
        incarnation
    }

    /// Checks that `name` exists and has no subtypes.
    pub fn check_remove(&self, name: &str) -> Result<(), TraderError> {
        if !self.types.contains_key(name) {
            return Err(TraderError::UnknownType(name.to_string()));
        }
        let subtypes: Vec<&str> = self
            .types
            .values()
            .filter(|e| e.decl.super_types.iter().any(|s| s == name))
            .map(|e| e.decl.name.as_str())
            .collect();
        if !subtypes.is_empty() {
            return Err(TraderError::HasSubtypes { name: name.to_string(), subtypes: subtypes.join(", ") });
        }
        Ok(())
    }

    pub fn remove(&mut self, name: &str) {
        if self.types.remove(name).is_some() {
            self.incarnation += 1;
        }
    }

    /// Sets the mask flag, returning the updated declaration.
    pub fn set_masked(&mut self, name: &str, masked: bool) -> Result<ServiceType, TraderError> {
        let next = self.incarnation + 1;
        let entry = self.types.get_mut(name).ok_or_else(|| TraderError::UnknownType(name.to_string()))?;
        match (entry.decl.masked, masked) {
            (true, true) => return Err(TraderError::AlreadyMasked(name.to_string())),
            (false, false) => return Err(TraderError::NotMasked(name.to_string())),
            _ => {}
        }
        entry.decl.masked = masked;
        entry.decl.incarnation = next;
        self.incarnation = next;
        Ok(entry.decl.clone())
    }

    pub fn describe(&self, name: &str) -> Result<&ServiceType, TraderError> {
        self.types.get(name).map(|e| &e.decl).ok_or_else(|| TraderError::UnknownType(name.to_string()))
    }

    /// The type with inherited properties and transitive supertypes, in the
    /// declaration form.
    pub fn fully_describe(&self, name: &str) -> Result<ServiceType, TraderError> {
        let entry = self.types.get(name).ok_or_else(|| TraderError::UnknownType(name.to_string()))?;
        Ok(ServiceType {
            super_types: entry.full.ancestors.clone(),
            props: entry.full.props.iter().map(|p| p.def.clone()).collect(),
            ..entry.decl.clone()
        })
    }

    pub fn full(&self, name: &str) -> Result<&Arc<FullType>, TraderError> {
        self.types.get(name).map(|e| &e.full).ok_or_else(|| TraderError::UnknownType(name.to_string()))
    }

    pub fn is_masked(&self, name: &str) -> bool {
        self.types.get(name).is_some_and(|e| e.decl.masked)
    }

    /// Names of all types, or of those added or changed after `since`.
    pub fn list(&self, since: Option<u64>) -> Vec<String> {
        self.types
            .values()
            .filter(|e| since.is_none_or(|s| e.decl.incarnation > s))
            .map(|e| e.decl.name.clone())
            .collect()
    }

    /// `name` and every type that has it as a (transitive) supertype.
    pub fn conforming(&self, name: &str) -> Vec<&Arc<FullType>> {
        self.types.values().filter(|e| e.full.is_a(name)).map(|e| &e.full).collect()
    }

    /// All declarations, for persistence.
    pub fn declarations(&self) -> impl Iterator<Item = &ServiceType> {
        self.types.values().map(|e| &e.decl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prop(name: &str, value_type: ValueType, mode: Mode) -> PropDef {
        PropDef { name: name.into(), value_type, mode, doc: String::new() }
    }

    fn ty(name: &str, supers: &[&str], props: Vec<PropDef>) -> ServiceType {
        ServiceType {
            name: name.into(),
            interface: String::new(),
            super_types: supers.iter().map(|s| s.to_string()).collect(),
            props,
            masked: false,
            incarnation: 0,
            doc: String::new(),
        }
    }

    fn add(repo: &mut TypeRepo, names: &PropNames, decl: ServiceType) -> Result<u64, TraderError> {
        let full = repo.check_add(&decl, names)?;
        Ok(repo.add(decl, full, false))
    }

    fn base_repo() -> (TypeRepo, PropNames) {
        let mut repo = TypeRepo::new();
        let names = PropNames::new();
        add(
            &mut repo,
            &names,
            ty(
                "Server",
                &[],
                vec![
                    prop("host", ValueType::String, Mode::Mandatory),
                    prop("load", ValueType::Double, Mode::Normal),
                    prop("serial", ValueType::String, Mode::Readonly),
                ],
            ),
        )
        .expect("base type");
        (repo, names)
    }

    #[test]
    fn subtypes_inherit_transitively() {
        let (mut repo, names) = base_repo();
        add(
            &mut repo,
            &names,
            ty("Media", &["Server"], vec![prop("titles", ValueType::StringSeq, Mode::Normal)]),
        )
        .expect("Media");
        add(&mut repo, &names, ty("Hls", &["Media"], vec![])).expect("Hls");
        let full = repo.fully_describe("Hls").expect("Hls");
        assert_eq!(full.super_types, vec!["Media", "Server"]);
        let prop_names: Vec<_> = full.props.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(prop_names, ["titles", "host", "load", "serial"]);
        let conforming: Vec<_> = repo.conforming("Server").iter().map(|t| t.name.clone()).collect();
        assert_eq!(conforming, ["Hls", "Media", "Server"]);
        assert_eq!(repo.describe("Hls").expect("Hls").props.len(), 0);
    }

    #[test]
    fn redefinition_may_only_strengthen() {
        let (mut repo, names) = base_repo();
        // Strengthening normal -> mandatory and readonly -> mandatory_readonly is fine.
        add(
            &mut repo,
            &names,
            ty(
                "Strong",
                &["Server"],
                vec![
                    prop("load", ValueType::Double, Mode::Mandatory),
                    prop("serial", ValueType::String, Mode::MandatoryReadonly),
                ],
            ),
        )
        .expect("strengthening is allowed");
        let err = add(
            &mut repo,
            &names,
            ty("Weak", &["Server"], vec![prop("host", ValueType::String, Mode::Normal)]),
        )
        .expect_err("weakening mandatory");
        assert!(err.to_string().contains("'host'"), "{err}");
        let err = add(
            &mut repo,
            &names,
            ty("Retyped", &["Server"], vec![prop("load", ValueType::Int, Mode::Normal)]),
        )
        .expect_err("changing the value type");
        assert!(matches!(err, TraderError::ValueTypeRedefinition { ref property, .. } if property == "load"));
        let err = add(
            &mut repo,
            &names,
            ty("Loose", &["Server"], vec![prop("serial", ValueType::String, Mode::Normal)]),
        )
        .expect_err("dropping readonly");
        assert!(matches!(err, TraderError::ValueTypeRedefinition { .. }));
    }

    #[test]
    fn conflicting_supertypes_are_rejected() {
        let (mut repo, names) = base_repo();
        add(&mut repo, &names, ty("Other", &[], vec![prop("load", ValueType::Int, Mode::Normal)]))
            .expect("Other");
        let err = add(&mut repo, &names, ty("Both", &["Server", "Other"], vec![])).expect_err("conflict");
        assert!(
            matches!(err, TraderError::ValueTypeRedefinition { ref property, .. } if property == "load"),
            "{err}"
        );
    }

    #[test]
    fn add_errors_name_the_culprit() {
        let (mut repo, names) = base_repo();
        assert!(
            matches!(add(&mut repo, &names, ty("Server", &[], vec![])), Err(TraderError::TypeExists(n)) if n == "Server")
        );
        assert!(
            matches!(add(&mut repo, &names, ty("X", &["Nope"], vec![])), Err(TraderError::UnknownType(n)) if n == "Nope")
        );
        assert!(matches!(
            add(&mut repo, &names, ty("bad name", &[], vec![])),
            Err(TraderError::IllegalTypeName(_))
        ));
        let dup = vec![prop("a", ValueType::Bool, Mode::Normal), prop("a", ValueType::Bool, Mode::Normal)];
        assert!(
            matches!(add(&mut repo, &names, ty("D", &[], dup)), Err(TraderError::DuplicateProperty(n)) if n == "a")
        );
        let kw = vec![prop("in", ValueType::Bool, Mode::Normal)];
        assert!(
            matches!(add(&mut repo, &names, ty("K", &[], kw)), Err(TraderError::IllegalPropertyName(n)) if n == "in")
        );
        assert!(matches!(
            add(&mut repo, &names, ty("S", &["Server", "Server"], vec![])),
            Err(TraderError::DuplicateSuperType { .. })
        ));
    }

    #[test]
    fn remove_mask_and_incarnations() {
        let (mut repo, names) = base_repo();
        let before = repo.incarnation();
        let inc = add(&mut repo, &names, ty("Media", &["Server"], vec![])).expect("Media");
        assert_eq!(inc, before + 1);
        assert_eq!(repo.list(Some(before)), vec!["Media"]);
        assert!(
            matches!(repo.check_remove("Server"), Err(TraderError::HasSubtypes { ref subtypes, .. }) if subtypes == "Media")
        );
        let masked = repo.set_masked("Server", true).expect("mask");
        assert!(masked.masked && repo.is_masked("Server"));
        assert!(matches!(repo.set_masked("Server", true), Err(TraderError::AlreadyMasked(_))));
        assert_eq!(repo.list(Some(inc)), vec!["Server"]);
        repo.set_masked("Server", false).expect("unmask");
        assert!(matches!(repo.set_masked("Server", false), Err(TraderError::NotMasked(_))));
        repo.check_remove("Media").expect("leaf type can go");
        repo.remove("Media");
        assert!(matches!(repo.describe("Media"), Err(TraderError::UnknownType(_))));
        assert!(matches!(repo.check_remove("Media"), Err(TraderError::UnknownType(_))));
    }
}
