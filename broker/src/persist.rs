//! Durable state in the data directory: permanent offers and service types,
//! in one redb database (`bourse.redb`), values as JSON.
//!
//! Leased offers are never written: they live only as long as their
//! exporter keeps them alive, and exporters export again after a restart.
//! Every write is its own committed transaction, made before the in-memory
//! state changes, so an acknowledged change is on disk.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::error::TraderError;
use crate::offer::StoredOffer;
use crate::types::ServiceType;

const OFFERS: TableDefinition<&str, &[u8]> = TableDefinition::new("offers");
const TYPES: TableDefinition<&str, &[u8]> = TableDefinition::new("types");
/// Names of service types that were removed, so that a built-in type that a
/// user removed does not come back at the next start.
const REMOVED_TYPES: TableDefinition<&str, u64> = TableDefinition::new("removed_types");

fn storage<E: std::fmt::Display>(context: &'static str) -> impl Fn(E) -> TraderError {
    move |err| TraderError::Storage(format!("{context}: {err}"))
}

pub struct Persist {
    db: Database,
}

/// Everything read back at start.
pub struct Loaded {
    pub types: Vec<ServiceType>,
    pub offers: Vec<StoredOffer>,
    pub removed_types: Vec<String>,
}

impl Persist {
    /// Opens (or creates) the database in `dir`, creating `dir` if needed.
    pub fn open(dir: &Path) -> Result<Persist, TraderError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            TraderError::Storage(format!("cannot create data directory {}: {e}", dir.display()))
        })?;
        let path = dir.join("bourse.redb");
        let db = Database::create(&path)
            .map_err(|e| TraderError::Storage(format!("cannot open {}: {e}", path.display())))?;
        let tx = db.begin_write().map_err(storage("begin"))?;
        tx.open_table(OFFERS).map_err(storage("open offers"))?;
        tx.open_table(TYPES).map_err(storage("open types"))?;
        tx.open_table(REMOVED_TYPES).map_err(storage("open removed types"))?;
        tx.commit().map_err(storage("commit"))?;
        Ok(Persist { db })
    }

    pub fn load(&self) -> Result<Loaded, TraderError> {
        let tx = self.db.begin_read().map_err(storage("begin read"))?;
        let mut loaded = Loaded { types: Vec::new(), offers: Vec::new(), removed_types: Vec::new() };
        let types = tx.open_table(TYPES).map_err(storage("open types"))?;
        for entry in types.iter().map_err(storage("read types"))? {
            let (key, value) = entry.map_err(storage("read type"))?;
            let decl: ServiceType = serde_json::from_slice(value.value())
                .map_err(|e| TraderError::Storage(format!("type '{}' is corrupt: {e}", key.value())))?;
            loaded.types.push(decl);
        }
        let offers = tx.open_table(OFFERS).map_err(storage("open offers"))?;
        for entry in offers.iter().map_err(storage("read offers"))? {
            let (key, value) = entry.map_err(storage("read offer"))?;
            let offer: StoredOffer = serde_json::from_slice(value.value())
                .map_err(|e| TraderError::Storage(format!("offer '{}' is corrupt: {e}", key.value())))?;
            loaded.offers.push(offer);
        }
        let removed = tx.open_table(REMOVED_TYPES).map_err(storage("open removed types"))?;
        for entry in removed.iter().map_err(storage("read removed types"))? {
            let (key, _) = entry.map_err(storage("read removed type"))?;
            loaded.removed_types.push(key.value().to_string());
        }
        // Supertypes must be added before their subtypes: incarnation order
        // guarantees it, since a type is always added after its supertypes.
        loaded.types.sort_by_key(|t| t.incarnation);
        loaded.offers.sort_by_key(|o| o.seq);
        Ok(loaded)
    }

    pub fn put_offer(&self, offer: &StoredOffer) -> Result<(), TraderError> {
        let bytes = serde_json::to_vec(offer).map_err(storage("encode offer"))?;
        let tx = self.db.begin_write().map_err(storage("begin"))?;
        tx.open_table(OFFERS)
            .map_err(storage("open offers"))?
            .insert(offer.id.as_str(), bytes.as_slice())
            .map_err(storage("write offer"))?;
        tx.commit().map_err(storage("commit"))
    }

    pub fn delete_offers(&self, ids: &[&str]) -> Result<(), TraderError> {
        let tx = self.db.begin_write().map_err(storage("begin"))?;
        {
            let mut table = tx.open_table(OFFERS).map_err(storage("open offers"))?;
            for id in ids {
                table.remove(*id).map_err(storage("delete offer"))?;
            }
        }
        tx.commit().map_err(storage("commit"))
    }

    pub fn put_type(&self, decl: &ServiceType) -> Result<(), TraderError> {
        let bytes = serde_json::to_vec(decl).map_err(storage("encode type"))?;
        let tx = self.db.begin_write().map_err(storage("begin"))?;
        tx.open_table(TYPES)
            .map_err(storage("open types"))?
            .insert(decl.name.as_str(), bytes.as_slice())
            .map_err(storage("write type"))?;
        tx.open_table(REMOVED_TYPES)
            .map_err(storage("open removed types"))?
            .remove(decl.name.as_str())
            .map_err(storage("write type"))?;
        tx.commit().map_err(storage("commit"))
    }

    pub fn delete_type(&self, name: &str, incarnation: u64) -> Result<(), TraderError> {
        let tx = self.db.begin_write().map_err(storage("begin"))?;
        tx.open_table(TYPES).map_err(storage("open types"))?.remove(name).map_err(storage("delete type"))?;
        tx.open_table(REMOVED_TYPES)
            .map_err(storage("open removed types"))?
            .insert(name, incarnation)
            .map_err(storage("delete type"))?;
        tx.commit().map_err(storage("commit"))
    }
}
