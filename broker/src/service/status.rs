//! The one mapping from trader errors to gRPC statuses.
//!
//! Constraint and preference errors also carry a `google.rpc.ErrorInfo`
//! (reason `CONSTRAINT_SYNTAX`, `CONSTRAINT_TYPE`, `PREFERENCE_SYNTAX` or
//! `PREFERENCE_TYPE`; metadata `field`, `position`, `end`) so that clients
//! can point at the culprit.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::error::{ExprField, TraderError};
use crate::tcl::TclError;

pub const ERROR_DOMAIN: &str = "bourse.v1";

pub fn to_status(err: TraderError) -> Status {
    use TraderError as E;
    let code = match &err {
        E::UnknownType(_)
        | E::UnknownOffer(_)
        | E::NoMatchingOffers
        | E::UnknownPage
        | E::UnknownReservation(_) => Code::NotFound,
        E::NoRoom { .. } => Code::ResourceExhausted,
        E::TypeExists(_) => Code::AlreadyExists,
        E::HasSubtypes { .. }
        | E::HasOffers { .. }
        | E::AlreadyMasked(_)
        | E::NotMasked(_)
        | E::MaskedType(_)
        | E::NotLeased(_) => Code::FailedPrecondition,
        E::Storage(_) => Code::Internal,
        E::Expression { field, text: _, source } => {
            let (kind, end) = match source {
                TclError::Syntax { pos, .. } => ("SYNTAX", *pos),
                TclError::Type { end, .. } => ("TYPE", *end),
            };
            let prefix = match field {
                ExprField::Constraint => "CONSTRAINT",
                ExprField::Preference => "PREFERENCE",
            };
            let metadata = HashMap::from([
                ("field".to_string(), field.name().to_string()),
                ("position".to_string(), source.pos().to_string()),
                ("end".to_string(), end.to_string()),
            ]);
            let details = ErrorDetails::with_error_info(format!("{prefix}_{kind}"), ERROR_DOMAIN, metadata);
            return Status::with_error_details(Code::InvalidArgument, err.to_string(), details);
        }
        _ => Code::InvalidArgument,
    };
    if code == Code::Internal {
        tracing::error!(error = %err, "request failed");
    }
    Status::new(code, err.to_string())
}
