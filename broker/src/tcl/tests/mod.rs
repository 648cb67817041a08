//! Tests of the constraint and preference languages.
