//! The figures a dashboard ranks by: libyears and updates behind by type, overall and per
//! ecosystem.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::Ecosystem;
use crate::report::{DependencyReport, Outcome, UpdateType};

/// Drift figures for a set of reports (one service, or several).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DriftSummary {
    #[serde(flatten)]
    pub totals: EcosystemSummary,
    pub by_ecosystem: BTreeMap<Ecosystem, EcosystemSummary>,
}

/// Drift figures for one group of reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EcosystemSummary {
    pub dependencies: u32,
    pub outdated: u32,
    /// Sum of libyears over dependencies whose release dates are known.
    pub libyears: f64,
    /// Dependencies whose newest version is a major update away.
    pub majors_behind: u32,
    pub minors_behind: u32,
    pub patches_behind: u32,
    pub digests_behind: u32,
    /// Outdated dependencies whose update may break (Renovate's `isBreaking`).
    pub breaking: u32,
    /// Dependencies on a yanked or deprecated version.
    pub yanked_or_deprecated: u32,
    pub unknown: u32,
    pub skipped: u32,
}

impl EcosystemSummary {
    fn add(&mut self, outcome: &Outcome) {
        self.dependencies += 1;
        match outcome {
            Outcome::UpToDate(up) => {
                if up.current_yanked || up.current_deprecated.is_some() {
                    self.yanked_or_deprecated += 1;
                }
            }
            Outcome::Outdated(o) => {
                self.outdated += 1;
                self.libyears += o.libyears.unwrap_or(0.0);
                match o.update_type {
                    UpdateType::Major => self.majors_behind += 1,
                    UpdateType::Minor => self.minors_behind += 1,
                    UpdateType::Patch | UpdateType::Pin => self.patches_behind += 1,
                    UpdateType::Digest => self.digests_behind += 1,
                }
                if o.breaking {
                    self.breaking += 1;
                }
                if o.current_yanked || o.current_deprecated.is_some() {
                    self.yanked_or_deprecated += 1;
                }
            }
            Outcome::Unknown(_) => self.unknown += 1,
            Outcome::Skipped(_) => self.skipped += 1,
        }
    }
}

/// Adds up reports.
pub fn summarise(reports: &[DependencyReport]) -> DriftSummary {
    let mut summary = DriftSummary::default();
    for report in reports {
        summary.totals.add(&report.outcome);
        summary
            .by_ecosystem
            .entry(report.dependency.ecosystem)
            .or_default()
            .add(&report.outcome);
    }
    summary
}
