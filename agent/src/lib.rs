//! The Bourse agent: keeps a media server's offer true in the broker.
//!
//! This crate is a placeholder until the agent is built; see ARCHITECTURE.md.
