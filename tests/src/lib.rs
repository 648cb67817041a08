//! Harness for the end-to-end tests: starts real Bourse processes on loopback.
