//! What is being run and under which rules.
//!
//! [`model`] reads model architectures (Hugging Face `config.json`, built-in presets) and counts
//! their parameters. [`portfolio`] reads the portfolio file — training jobs, inference services,
//! the policy and the contracts — and validates it against a catalog, reporting every problem
//! with file, line, column and field path ([`yaml::Diagnostic`]).
//!
//! This crate knows nothing of performance, prices beyond the catalog, or plans.

pub mod model;
pub mod portfolio;
pub mod timeline;
pub mod yaml;

pub use model::{ModelSpec, ParamCounts};
pub use portfolio::{
    CommitmentTerm, Contract, DEFAULT_MIGRATION_COST, FailureScope, Horizon, InferenceService,
    MigrationCost, Policy, Portfolio, Precision, ReservationTerm, Resilience, Restart, ShareBasis,
    Slo, SupplyRamp, TrainingJob, Workload, WorkloadKind,
};
pub use yaml::{Diagnostic, Severity};
