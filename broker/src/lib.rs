//! The Bourse trader.
pub mod tcl;
pub mod value;
