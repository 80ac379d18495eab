//! Why a batch is refused: the kinds (one counter each) and the refusal with the field named.

use canopy_protocol::ValidationError;
use serde::Serialize;

/// Why a batch was refused; one counter per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalKind {
    Malformed,
    UnknownVersion,
    Empty,
    TooLong,
    TooMany,
    NotFinite,
    NegativeEnergy,
    EndBeforeStart,
    Absurd,
    NotConserved,
    OutsideRetention,
    /// Two samples of the batch cover the same time of one source.
    OverlappingSamples,
}

impl RefusalKind {
    pub const ALL: [RefusalKind; 12] = [
        Self::Malformed,
        Self::UnknownVersion,
        Self::Empty,
        Self::TooLong,
        Self::TooMany,
        Self::NotFinite,
        Self::NegativeEnergy,
        Self::EndBeforeStart,
        Self::Absurd,
        Self::NotConserved,
        Self::OutsideRetention,
        Self::OverlappingSamples,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnknownVersion => "unknown_version",
            Self::Empty => "empty",
            Self::TooLong => "too_long",
            Self::TooMany => "too_many",
            Self::NotFinite => "not_finite",
            Self::NegativeEnergy => "negative_energy",
            Self::EndBeforeStart => "end_before_start",
            Self::Absurd => "absurd",
            Self::NotConserved => "not_conserved",
            Self::OutsideRetention => "outside_retention",
            Self::OverlappingSamples => "overlapping_samples",
        }
    }
}

/// A refused batch: the kind, the field (a path such as `samples[0].pods[2].energy_joules`)
/// and a message saying what is wrong.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub kind: RefusalKind,
    pub field: String,
    pub message: String,
}

impl From<ValidationError> for Refusal {
    fn from(error: ValidationError) -> Self {
        let message = error.to_string();
        let (kind, field) = match error {
            ValidationError::UnknownSchemaVersion { .. } => {
                (RefusalKind::UnknownVersion, "schema_version".to_owned())
            }
            ValidationError::Empty { field } => (RefusalKind::Empty, field),
            ValidationError::TooLong { field, .. } => (RefusalKind::TooLong, field),
            ValidationError::TooMany { field, .. } => (RefusalKind::TooMany, field),
            ValidationError::NotFinite { field } => (RefusalKind::NotFinite, field),
            ValidationError::NegativeEnergy { field, .. } => (RefusalKind::NegativeEnergy, field),
            ValidationError::EndBeforeStart { field } => (RefusalKind::EndBeforeStart, field),
            ValidationError::Absurd { field, .. } => (RefusalKind::Absurd, field),
            ValidationError::NotConserved { field, .. } => (RefusalKind::NotConserved, field),
            ValidationError::Overlapping { field, .. } => (RefusalKind::OverlappingSamples, field),
        };
        Self {
            kind,
            field,
            message,
        }
    }
}
