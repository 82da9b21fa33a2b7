//! JSON rendering. The layout is versioned by `schema_version`; secrets appear only masked.

use super::Report;

pub fn render(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(report).expect("the report serialises to JSON");
    text.push('\n');
    text
}
