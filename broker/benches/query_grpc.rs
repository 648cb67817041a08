//! Placeholder: see the query benchmark.
fn main() {}
