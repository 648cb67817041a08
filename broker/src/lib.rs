//! The Bourse trader.
pub mod value;
