//! The `bourse` command line: drives a Bourse broker over gRPC.
