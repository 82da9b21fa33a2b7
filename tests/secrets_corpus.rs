//! Measures secret detection on the labelled corpus image that `tests/corpus/build.sh` builds
//! (fake credentials in each provider's format, and decoy files): precision and recall per
//! rule and overall. Fails when either is below 0.95, when any decoy file has a finding, or
//! when a report contains a labelled value.
//!
//! Run with `--nocapture` to see the per-rule table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

const MIN_PRECISION: f64 = 0.95;
const MIN_RECALL: f64 = 0.95;

fn images_dir() -> PathBuf {
    match std::env::var_os("IMGAUDIT_TEST_IMAGES") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-images"),
    }
}

fn corpus_file(suffix: &str) -> PathBuf {
    let path = images_dir().join(format!("secrets-corpus.{suffix}"));
    assert!(
        path.exists(),
        "{} is missing; build the corpus with `bash tests/corpus/build.sh` (as root)",
        path.display()
    );
    path
}

fn labels() -> Value {
    let text = std::fs::read_to_string(corpus_file("labels.json")).expect("labels are readable");
    serde_json::from_str(&text).expect("labels are JSON")
}

fn audit(image: &Path) -> (Value, String) {
    let output = Command::cargo_bin("imgaudit")
        .expect("the imgaudit binary is built")
        .env_remove("IMGAUDIT_LOG")
        .args(["--format", "json", "--now", "2026-12-04"])
        .arg(image)
        .output()
        .expect("imgaudit starts");
    let stdout = String::from_utf8(output.stdout).expect("stdout is UTF-8");
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "imgaudit failed on {}: {}",
        image.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let report = serde_json::from_str(&stdout).expect("the report is JSON");
    (report, stdout)
}

/// A file finding: path, line and rule.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Found {
    path: String,
    line: u64,
    rule: String,
}

fn file_findings(report: &Value) -> Vec<Found> {
    report["findings"]
        .as_array()
        .expect("findings is an array")
        .iter()
        .filter(|f| f["check_id"] == "secret-in-file")
        .map(|f| Found {
            path: f["location"]["path"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            line: f["location"]["line"].as_u64().unwrap_or(0),
            rule: f["evidence"]["rule"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        })
        .collect()
}

/// True positives, false positives and false negatives of one rule.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    found: usize,
    false_found: usize,
    missed: usize,
}

impl Counts {
    fn precision(self) -> f64 {
        ratio(self.found, self.found + self.false_found)
    }

    fn recall(self) -> f64 {
        ratio(self.found, self.found + self.missed)
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

/// Matches findings to labels: same path, a line inside the credential, same rule. Returns
/// counts per rule and the findings that matched no label.
fn score(labels: &Value, findings: &[Found]) -> (BTreeMap<String, Counts>, Vec<Found>) {
    let mut open: Vec<&Value> = labels["positives"]
        .as_array()
        .expect("positives is an array")
        .iter()
        .collect();
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    let mut unmatched = Vec::new();
    for finding in findings {
        let hit = open.iter().position(|label| {
            label["path"] == finding.path.as_str()
                && label["rule"] == finding.rule.as_str()
                && (label["first_line"].as_u64().unwrap()..=label["last_line"].as_u64().unwrap())
                    .contains(&finding.line)
        });
        match hit {
            Some(index) => {
                open.remove(index);
                counts.entry(finding.rule.clone()).or_default().found += 1;
            }
            None => {
                counts.entry(finding.rule.clone()).or_default().false_found += 1;
                unmatched.push(finding.clone());
            }
        }
    }
    for label in open {
        let rule = label["rule"].as_str().unwrap().to_owned();
        counts.entry(rule).or_default().missed += 1;
    }
    (counts, unmatched)
}

fn total(counts: &BTreeMap<String, Counts>) -> Counts {
    counts.values().fold(Counts::default(), |sum, c| Counts {
        found: sum.found + c.found,
        false_found: sum.false_found + c.false_found,
        missed: sum.missed + c.missed,
    })
}

fn print_table(counts: &BTreeMap<String, Counts>) {
    println!("| rule | labelled | found | false | precision | recall |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (rule, c) in counts {
        println!(
            "| {rule} | {} | {} | {} | {:.2} | {:.2} |",
            c.found + c.missed,
            c.found,
            c.false_found,
            c.precision(),
            c.recall()
        );
    }
    let all = total(counts);
    println!(
        "| all | {} | {} | {} | {:.3} | {:.3} |",
        all.found + all.missed,
        all.found,
        all.false_found,
        all.precision(),
        all.recall()
    );
}

#[test]
fn corpus_precision_and_recall() {
    let labels = labels();
    let (report, _) = audit(&corpus_file("docker.tar"));
    let findings = file_findings(&report);
    let (counts, unmatched) = score(&labels, &findings);
    print_table(&counts);

    let all = total(&counts);
    assert!(
        all.precision() >= MIN_PRECISION,
        "precision {:.3} is below {MIN_PRECISION}; unmatched findings: {unmatched:#?}",
        all.precision()
    );
    assert!(
        all.recall() >= MIN_RECALL,
        "recall {:.3} is below {MIN_RECALL}",
        all.recall()
    );
    for (rule, c) in &counts {
        assert!(
            c.found > 0 || c.missed == 0,
            "rule {rule} found none of its {} labelled credentials",
            c.missed
        );
    }
}

#[test]
fn corpus_decoys_stay_quiet() {
    let labels = labels();
    let (report, _) = audit(&corpus_file("docker.tar"));
    let decoys: Vec<&str> = labels["decoys"]
        .as_array()
        .expect("decoys is an array")
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert!(
        decoys.len() >= 20,
        "the corpus has {} decoy files",
        decoys.len()
    );
    let fired: Vec<Found> = file_findings(&report)
        .into_iter()
        .filter(|f| decoys.contains(&f.path.as_str()))
        .collect();
    assert!(fired.is_empty(), "decoys fired: {fired:#?}");
}

#[test]
fn corpus_forms_agree() {
    let (docker, _) = audit(&corpus_file("docker.tar"));
    let (oci, _) = audit(&corpus_file("oci"));
    let mut a = file_findings(&docker);
    let mut b = file_findings(&oci);
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

#[test]
fn corpus_values_never_printed() {
    let labels = labels();
    let (_, text) = audit(&corpus_file("docker.tar"));
    // Armour lines (`-----END RSA PRIVATE KEY-----`) are format, not secret, and masks show
    // the header of a private key.
    let armour = regex::Regex::new(r"-{4,5} ?(?:BEGIN|END) [A-Z0-9 ]+?-{4,5}").unwrap();
    for label in labels["positives"].as_array().unwrap() {
        let value = armour.replace_all(label["value"].as_str().unwrap(), "");
        let value: Vec<char> = value.chars().collect();
        // Masks show the first 4 characters and armour headers. The second half of a value
        // is never shown, so no 12-character piece of it may appear.
        let tail = &value[value.len() / 2..];
        for window in tail.windows(12) {
            let piece: String = window.iter().collect();
            assert!(
                !text.contains(&piece),
                "{}:{}: {piece:?} of the labelled value is in the report",
                label["path"],
                label["line"]
            );
        }
    }
}

#[test]
fn corpus_deleted_files_name_both_layers() {
    let (report, _) = audit(&corpus_file("docker.tar"));
    for path in ["/app/.git-credentials", "/tmp/build/.env.build"] {
        let finding = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["location"]["path"] == path)
            .unwrap_or_else(|| panic!("no finding in {path}"));
        let message = finding["message"].as_str().unwrap();
        assert!(message.contains("added in layer 2"), "{message}");
        assert!(message.contains("deleted in layer 3"), "{message}");
    }
}

#[test]
fn corpus_scan_section_counts_skips() {
    let (report, _) = audit(&corpus_file("docker.tar"));
    let scan = &report["scan"];
    let skipped = |rule: &str| {
        scan["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["rule"] == rule)
            .map(|s| s["files"].as_u64().unwrap())
    };
    assert_eq!(skipped("package-tests"), Some(1), "{scan:#}");
    assert_eq!(skipped("package-documentation"), Some(1), "{scan:#}");
    assert!(scan["files_scanned"].as_u64().unwrap() > 60, "{scan:#}");
    assert!(
        scan["rules"]["built_in"].as_u64().unwrap() >= 60,
        "{scan:#}"
    );
}
