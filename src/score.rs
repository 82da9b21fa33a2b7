//! The score (0–100) and grade (A–F) of an audit, and the release gate. Pure functions of the
//! check outcomes, documented in docs/scoring.md.

use crate::severity::Severity;

/// Share of a check's weight that it keeps, given its worst finding.
pub fn retained_share(worst: Option<Severity>) -> f64 {
    match worst {
        None | Some(Severity::Info) => 1.0,
        Some(Severity::Low) => 0.8,
        Some(Severity::Medium) => 0.5,
        Some(Severity::High) => 0.2,
        Some(Severity::Critical) => 0.0,
    }
}

/// One check's contribution: its weight, and its worst finding if it was evaluated.
#[derive(Clone, Copy, Debug)]
pub struct CheckScore {
    pub weight: u32,
    /// `None` when the check could not be evaluated; it then leaves the denominator.
    pub evaluated: Option<Option<Severity>>,
}

/// Computes the score: the weighted share of evaluated checks' weight that their findings
/// leave, rounded to a whole number. With no evaluated check the score is 100, because there
/// was nothing to deduct from.
pub fn score(checks: &[CheckScore]) -> u32 {
    let mut total = 0.0;
    let mut kept = 0.0;
    for check in checks {
        if let Some(worst) = check.evaluated {
            total += f64::from(check.weight);
            kept += f64::from(check.weight) * retained_share(worst);
        }
    }
    if total == 0.0 {
        return 100;
    }
    (100.0 * kept / total).round() as u32
}

/// Grade from the score; any critical finding forces F, because a single leaked live
/// credential blocks a release whatever else is right.
pub fn grade(score: u32, worst: Option<Severity>) -> char {
    if worst == Some(Severity::Critical) {
        return 'F';
    }
    match score {
        90..=100 => 'A',
        80..=89 => 'B',
        70..=79 => 'C',
        60..=69 => 'D',
        _ => 'F',
    }
}

/// Release gate thresholds from the command line.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gate {
    /// Fail when a finding of this severity or above remains.
    pub fail_on: Option<Severity>,
    /// Fail when the score is below this.
    pub min_score: Option<u32>,
}

/// Result of the gate: passed when `reasons` is empty.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct GateResult {
    pub passed: bool,
    pub reasons: Vec<String>,
}

impl Gate {
    pub fn evaluate(&self, score: u32, severities: &[Severity]) -> GateResult {
        let mut reasons = Vec::new();
        if let Some(threshold) = self.fail_on {
            let count = severities.iter().filter(|s| **s >= threshold).count();
            if count > 0 {
                reasons.push(format!(
                    "{count} findings of severity {threshold} or above (--fail-on {threshold})"
                ));
            }
        }
        if let Some(min) = self.min_score
            && score < min
        {
            reasons.push(format!("score {score} is below --min-score {min}"));
        }
        GateResult {
            passed: reasons.is_empty(),
            reasons,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(weight: u32, worst: Option<Severity>) -> CheckScore {
        CheckScore {
            weight,
            evaluated: Some(worst),
        }
    }

    #[test]
    fn all_passing_scores_100() {
        assert_eq!(
            score(&[check(25, None), check(10, Some(Severity::Info))]),
            100
        );
    }

    #[test]
    fn findings_deduct_by_severity() {
        // 25 * 0.2 + 25 * 1.0 = 30 of 50.
        assert_eq!(
            score(&[check(25, Some(Severity::High)), check(25, None)]),
            60
        );
        assert_eq!(score(&[check(10, Some(Severity::Critical))]), 0);
    }

    #[test]
    fn not_applicable_leaves_denominator() {
        let na = CheckScore {
            weight: 50,
            evaluated: None,
        };
        assert_eq!(score(&[check(10, None), na]), 100);
    }

    #[test]
    fn nothing_evaluated_scores_100() {
        let na = CheckScore {
            weight: 10,
            evaluated: None,
        };
        assert_eq!(score(&[na]), 100);
        assert_eq!(score(&[]), 100);
    }

    #[test]
    fn grade_bands_and_critical_cap() {
        assert_eq!(grade(95, Some(Severity::Low)), 'A');
        assert_eq!(grade(85, None), 'B');
        assert_eq!(grade(59, None), 'F');
        assert_eq!(grade(99, Some(Severity::Critical)), 'F');
    }

    #[test]
    fn gate_fail_on_counts_at_or_above() {
        let gate = Gate {
            fail_on: Some(Severity::High),
            min_score: None,
        };
        assert!(gate.evaluate(50, &[Severity::Medium]).passed);
        assert!(
            !gate
                .evaluate(50, &[Severity::Medium, Severity::High])
                .passed
        );
        assert!(!gate.evaluate(50, &[Severity::Critical]).passed);
    }

    #[test]
    fn gate_min_score() {
        let gate = Gate {
            fail_on: None,
            min_score: Some(80),
        };
        assert!(gate.evaluate(80, &[]).passed);
        assert!(!gate.evaluate(79, &[]).passed);
    }
}
