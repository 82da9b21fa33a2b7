//! Matching inside one file or text: reads it in bounded chunks that overlap, runs the rules
//! whose keywords occur, and turns accepted matches into [`SecretMatch`]es.
//!
//! A file is read in chunks of [`CHUNK_BYTES`]; each chunk after the first starts with the
//! last [`OVERLAP_BYTES`] of the previous one, so a secret that straddles a boundary is seen
//! whole. In every chunk but the last, matches that end within [`DEFER_BYTES`] of the end are
//! left to the next chunk, where more of the text follows them. A match already taken (per
//! rule, by absolute offset) is not taken again, so the overlap never reports twice. Matches
//! longer than `OVERLAP_BYTES - DEFER_BYTES` (60 KiB) can be cut at a chunk boundary.

use std::collections::HashSet;
use std::io::{self, Read};
use std::ops::Range;

use super::allowlist::Candidate;
use super::assign;
use super::compiled::{CompiledRule, Origin};
use super::rules::{
    ASSIGNMENT_RULE_ID, ASSIGNMENT_RULE_TITLE, CONTEXT_BYTES, KNOWN_EXAMPLES, RuleClass,
};
use super::{Scanner, SecretMatch, fingerprint, names};
use crate::severity::Severity;

/// Bytes held at once while a file is scanned, including the overlap.
pub const CHUNK_BYTES: usize = 1024 * 1024;
/// Bytes of the previous chunk that start the next one.
pub const OVERLAP_BYTES: usize = 64 * 1024;
/// Matches ending this close to the end of a chunk that is not the last wait for the next.
pub const DEFER_BYTES: usize = 4 * 1024;
/// A NUL byte in this many leading bytes marks a file as binary.
const BINARY_SNIFF_BYTES: usize = 8 * 1024;
/// Most characters of the line shown on each side of a secret in an excerpt.
const EXCERPT_BEFORE: usize = 40;
const EXCERPT_AFTER: usize = 20;
/// Most bytes of a line given to allowlist regexes with `regexTarget = "line"`.
const MAX_LINE_BYTES: usize = 4096;

/// The origin of a scanned text: a file in the image or a config value.
#[derive(Clone, Copy)]
pub enum Subject<'a> {
    /// A file at this path inside the image.
    File(&'a str),
    /// A config value or history line; the string names the field for allowlists.
    Config(&'a str),
}

/// Result of scanning one file or text.
#[derive(Debug, Default)]
pub struct Outcome {
    pub matches: Vec<SecretMatch>,
    /// The per-file match limit was reached and the rest of the file was not scanned.
    pub truncated: bool,
    pub binary: bool,
    pub bytes: u64,
    pub chunks: u64,
    /// Matches that an allowlist suppressed.
    pub suppressed: u64,
}

/// State carried from one chunk to the next.
struct State<'a> {
    subject: Subject<'a>,
    format: Option<assign::Format>,
    binary: bool,
    /// Newlines before the current chunk.
    lines_before: usize,
    /// Per rule (the generic rule last), the absolute end of the last match taken.
    last_end: Vec<u64>,
    /// Absolute offset up to which the generic rule has read lines.
    lines_read_to: u64,
    /// Absolute byte ranges of secrets taken, so that a second rule matching the same secret
    /// (a token inside a URL) is dropped. Ranges that end before the current chunk are pruned.
    taken: Vec<Range<u64>>,
    fingerprints: HashSet<String>,
    outcome: Outcome,
    lowered: Vec<u8>,
    max_matches: usize,
}

impl Scanner {
    /// Scans `reader` in chunks. `size` is a hint for the first buffer.
    pub(crate) fn scan_stream(
        &self,
        subject: Subject<'_>,
        size: u64,
        reader: &mut dyn Read,
    ) -> io::Result<Outcome> {
        let mut state = State {
            subject,
            format: match subject {
                Subject::File(path) => assign::format_of(crate::image::fs::file_name(path)),
                Subject::Config(_) => None,
            },
            binary: false,
            lines_before: 0,
            last_end: vec![0; self.rules.len() + 1],
            lines_read_to: 0,
            taken: Vec::new(),
            fingerprints: HashSet::new(),
            outcome: Outcome::default(),
            lowered: Vec::new(),
            max_matches: self.limits.max_matches_per_file,
        };
        let mut buffer: Vec<u8> = Vec::with_capacity((size as usize).min(CHUNK_BYTES));
        let mut base: u64 = 0;
        loop {
            let eof = fill(reader, &mut buffer, CHUNK_BYTES)?;
            if state.outcome.chunks == 0 {
                let sniff = &buffer[..buffer.len().min(BINARY_SNIFF_BYTES)];
                state.binary =
                    matches!(subject, Subject::File(_)) && memchr::memchr(0, sniff).is_some();
                state.outcome.binary = state.binary;
            }
            state.outcome.chunks += 1;
            self.scan_chunk(&mut state, &buffer, base, eof);
            if eof || state.outcome.truncated {
                state.outcome.bytes = base + buffer.len() as u64;
                break;
            }
            let keep = OVERLAP_BYTES.min(buffer.len());
            let cut = buffer.len() - keep;
            state.lines_before += memchr::memchr_iter(b'\n', &buffer[..cut]).count();
            base += cut as u64;
            buffer.drain(..cut);
            state.taken.retain(|range| range.end > base);
        }
        let mut outcome = state.outcome;
        outcome.matches.sort_by_key(|m| m.line);
        Ok(outcome)
    }

    fn scan_chunk(&self, state: &mut State<'_>, data: &[u8], base: u64, last: bool) {
        state.lowered.clear();
        state
            .lowered
            .extend(data.iter().map(u8::to_ascii_lowercase));
        let hits = self.prefilter.hits(&state.lowered);
        let path = match state.subject {
            Subject::File(path) => Some(path),
            Subject::Config(_) => None,
        };
        let defer_from = if last {
            usize::MAX
        } else {
            data.len().saturating_sub(DEFER_BYTES)
        };
        for (index, rule) in self.rules.iter().enumerate() {
            if !hits[index] || !rule.applies_to(path) || (state.binary && !rule.binary) {
                continue;
            }
            for captures in rule.regex.captures_iter(data) {
                let whole = captures.get(0).expect("group 0 always participates");
                if base + (whole.start() as u64) < state.last_end[index] {
                    continue;
                }
                if whole.end() > defer_from {
                    break;
                }
                let Some(secret) = rule.secret_range(&captures) else {
                    continue;
                };
                if self.take(state, rule, data, base, whole.range(), secret) {
                    state.last_end[index] = base + whole.end() as u64;
                    if state.outcome.truncated {
                        return;
                    }
                }
            }
        }
        if let Some(format) = state.format
            && !state.binary
        {
            self.scan_assignments(state, format, data, base, last, defer_from);
        }
    }

    /// Runs the generic rule over the complete lines (or JSON/XML pairs) of a chunk.
    fn scan_assignments(
        &self,
        state: &mut State<'_>,
        format: assign::Format,
        data: &[u8],
        base: u64,
        last: bool,
        defer_from: usize,
    ) {
        let generic = self.rules.len();
        let found = match format {
            assign::Format::Dotenv | assign::Format::Lines => {
                // Only complete lines: in a chunk that is not the last, the text after the
                // final newline is read again, whole, by the next chunk.
                let end = if last {
                    data.len()
                } else {
                    memchr::memrchr(b'\n', data).map_or(0, |i| i + 1)
                };
                // Lines before `from` were read with the previous chunk. When the previous
                // chunk ended inside a line longer than the overlap, that line is skipped.
                let from = if state.lines_read_to >= base {
                    (state.lines_read_to - base) as usize
                } else {
                    memchr::memchr(b'\n', data).map_or(data.len(), |i| i + 1)
                };
                state.lines_read_to = base + end as u64;
                assign::find(&data[..end], format, from)
            }
            assign::Format::Json | assign::Format::Xml => assign::find(data, format, 0)
                .into_iter()
                .filter(|f| {
                    base + f.value.start as u64 >= state.last_end[generic]
                        && f.value.end <= defer_from
                })
                .collect(),
        };
        for found in found {
            let value = found.value.clone();
            if self.take_assignment(state, data, base, value.clone()) {
                state.last_end[generic] = base + value.end as u64;
                if state.outcome.truncated {
                    return;
                }
            }
        }
    }

    /// Judges one regex match and records it; returns whether it was consumed.
    fn take(
        &self,
        state: &mut State<'_>,
        rule: &CompiledRule,
        data: &[u8],
        base: u64,
        whole: Range<usize>,
        secret: Range<usize>,
    ) -> bool {
        let secret_bytes = &data[secret.clone()];
        let secret_text = String::from_utf8_lossy(secret_bytes);
        if !accepts(rule, &secret_text, &data[whole.clone()]) {
            return false;
        }
        if let Some(context) = &rule.context {
            let from = whole.start.saturating_sub(CONTEXT_BYTES);
            let to = (whole.end + CONTEXT_BYTES).min(data.len());
            if !context.is_match(&data[from..to]) {
                return false;
            }
        }
        let absolute = base + secret.start as u64..base + secret.end as u64;
        if state
            .taken
            .iter()
            .any(|t| t.start < absolute.end && absolute.start < t.end)
        {
            return false;
        }
        let found = Found {
            rule_id: &rule.id,
            title: &rule.title,
            severity: rule.severity,
            private_key: rule.class == Some(RuleClass::PrivateKey),
            whole,
            secret,
        };
        self.record(state, Some(rule), data, base, found)
    }

    fn take_assignment(
        &self,
        state: &mut State<'_>,
        data: &[u8],
        base: u64,
        value: Range<usize>,
    ) -> bool {
        let absolute = base + value.start as u64..base + value.end as u64;
        if state
            .taken
            .iter()
            .any(|t| t.start < absolute.end && absolute.start < t.end)
        {
            return false;
        }
        let found = Found {
            rule_id: ASSIGNMENT_RULE_ID,
            title: ASSIGNMENT_RULE_TITLE,
            severity: Severity::High,
            private_key: false,
            whole: value.clone(),
            secret: value,
        };
        self.record(state, None, data, base, found)
    }

    /// Applies allowlists and the per-file fingerprint dedupe, then stores the match. Returns
    /// whether the match was consumed (stored, suppressed or a repeat), so that the overlap
    /// of the next chunk does not judge it again.
    fn record(
        &self,
        state: &mut State<'_>,
        rule: Option<&CompiledRule>,
        data: &[u8],
        base: u64,
        found: Found<'_>,
    ) -> bool {
        let secret_bytes = &data[found.secret.clone()];
        let secret_text = String::from_utf8_lossy(secret_bytes);
        let print = fingerprint(found.rule_id, &secret_text);
        let line_range = line_around(data, found.whole.start);

        let location = match state.subject {
            Subject::File(path) | Subject::Config(path) => path,
        };
        let candidate = Candidate {
            rule_id: found.rule_id,
            path: Some(location),
            secret: secret_bytes,
            whole_match: &data[found.whole.clone()],
            line: &data[line_range.clone()],
            fingerprint: &print,
        };
        // A suppressed secret still counts as taken, so that a more general rule does not
        // report it under another rule id.
        state
            .taken
            .push(base + found.secret.start as u64..base + found.secret.end as u64);
        let rule_lists = rule.map_or(&[][..], |r| r.allowlists.as_slice());
        if rule_lists
            .iter()
            .chain(&self.allowlists)
            .any(|list| list.suppresses(&candidate))
        {
            state.outcome.suppressed += 1;
            return true;
        }

        if !state.fingerprints.insert(print.clone()) {
            // The same secret again in this file: reported once, at its first line.
            return true;
        }
        if state.outcome.matches.len() >= state.max_matches {
            state.outcome.truncated = true;
            return true;
        }
        let secret_match = describe(state, data, &found, line_range, &secret_text, print);
        state.outcome.matches.push(secret_match);
        true
    }
}

/// Builds the reported form of a match: masked secret, line and masked excerpt.
fn describe(
    state: &State<'_>,
    data: &[u8],
    found: &Found<'_>,
    line_range: Range<usize>,
    secret_text: &str,
    print: String,
) -> SecretMatch {
    let masked = if found.private_key {
        mask_private_key(secret_text)
    } else {
        super::mask(secret_text)
    };
    let is_file = matches!(state.subject, Subject::File(_));
    let line = is_file.then(|| {
        state.lines_before + memchr::memchr_iter(b'\n', &data[..found.whole.start]).count() + 1
    });

    // In a URL the user name, host and path around the password are masked too: the
    // excerpt shows the key that contains the URL, not the connection it opens.
    let hidden = if memchr::memmem::find(&data[found.whole.clone()], b"://").is_some() {
        let rest = &data[found.whole.end..line_range.end.max(found.whole.end)];
        let url_end = rest
            .iter()
            .position(|b| b.is_ascii_whitespace() || b"\"'<>`".contains(b))
            .unwrap_or(rest.len());
        found.whole.start..found.whole.end + url_end
    } else {
        found.secret.clone()
    };
    let excerpt =
        (is_file && !found.private_key).then(|| excerpt(data, line_range, hidden, secret_text));

    SecretMatch {
        rule_id: found.rule_id.to_owned(),
        title: found.title.to_owned(),
        severity: found.severity,
        line,
        masked,
        fingerprint: print,
        excerpt,
    }
}

/// A match about to be recorded.
struct Found<'a> {
    rule_id: &'a str,
    title: &'a str,
    severity: Severity,
    private_key: bool,
    whole: Range<usize>,
    secret: Range<usize>,
}

/// Reads from `reader` until `buffer` contains `limit` bytes or the input ends; returns whether
/// it ended.
fn fill(reader: &mut dyn Read, buffer: &mut Vec<u8>, limit: usize) -> io::Result<bool> {
    while buffer.len() < limit {
        let wanted = (limit - buffer.len()) as u64;
        let read = reader.take(wanted).read_to_end(buffer)?;
        if read == 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Applies the built-in filters: published example keys, placeholders, documentation hosts
/// (`user:pass@proxy.example.com`), the entropy floor, the rule's validator. Rules from
/// configuration files get only their entropy floor; their allowlists do the rest.
fn accepts(rule: &CompiledRule, secret: &str, whole_match: &[u8]) -> bool {
    let entropy_ok = rule.min_entropy == 0.0 || names::shannon_entropy(secret) >= rule.min_entropy;
    if rule.origin != Origin::BuiltIn {
        return entropy_ok;
    }
    if KNOWN_EXAMPLES.contains(&secret) {
        return false;
    }
    let lower = whole_match.to_ascii_lowercase();
    if memchr::memmem::find(&lower, b"example.").is_some()
        || memchr::memmem::find(&lower, b"@host").is_some()
    {
        return false;
    }
    if rule.class != Some(RuleClass::PrivateKey) && names::is_placeholder(secret) {
        return false;
    }
    entropy_ok && rule.validate.is_none_or(|validate| validate(secret))
}

/// Returns the byte range of the line around `offset`, at most [`MAX_LINE_BYTES`] long.
fn line_around(data: &[u8], offset: usize) -> Range<usize> {
    let start = memchr::memrchr(b'\n', &data[..offset]).map_or(0, |i| i + 1);
    let end = memchr::memchr(b'\n', &data[offset..]).map_or(data.len(), |i| offset + i);
    let start = start.max(offset.saturating_sub(MAX_LINE_BYTES / 2));
    let end = end.min(offset + MAX_LINE_BYTES / 2);
    start..end
}

/// Builds a one-line excerpt: up to 40 characters of the line before `hidden`, the secret
/// masked in its place, and up to 20 characters after. Long runs of token characters around
/// it (which could be another credential) are replaced by `…`.
fn excerpt(data: &[u8], line: Range<usize>, hidden: Range<usize>, secret_text: &str) -> String {
    let secret = hidden;
    let before_start = line.start.min(secret.start);
    let before = String::from_utf8_lossy(&data[before_start..secret.start]);
    let after = if secret.end < line.end {
        String::from_utf8_lossy(&data[secret.end..line.end])
    } else {
        Default::default()
    };
    let before_chars: Vec<char> = before.chars().collect();
    let before: String = before_chars[before_chars.len().saturating_sub(EXCERPT_BEFORE)..]
        .iter()
        .collect();
    let after: String = after.chars().take(EXCERPT_AFTER).collect();
    let shown: String = if secret_text.chars().count() >= 16 {
        secret_text.chars().take(4).collect()
    } else {
        String::new()
    };
    let text = format!(
        "{}{shown}********{}",
        redact_tokens(before.trim_start()),
        redact_tokens(after.trim_end())
    );
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Replaces runs of 12 or more token characters that mix letters and digits with `…`.
fn redact_tokens(text: &str) -> String {
    let is_token = |c: char| c.is_ascii_alphanumeric() || "+/_-".contains(c);
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let letters = run.chars().any(|c| c.is_ascii_alphabetic());
        let digits = run.chars().any(|c| c.is_ascii_digit());
        if run.chars().count() >= 12 && letters && digits {
            out.push('…');
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if is_token(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Masks a private key as its armour header (`-----BEGIN RSA PRIVATE KEY-----`) and length.
/// Formats without an armour header (an age key is one line) get the ordinary mask.
fn mask_private_key(secret: &str) -> String {
    let header = secret.split(['\n', '\r']).next().unwrap_or_default();
    let header = header.split("\\n").next().unwrap_or_default();
    let chars = secret.chars().count();
    if header.starts_with("PuTTY-User-Key-File-") {
        return format!("{header} ******** ({chars} chars)");
    }
    let inner = header.trim_matches('-').trim();
    match inner.strip_prefix("BEGIN ") {
        Some(kind) => format!("-----BEGIN {kind}----- ******** ({chars} chars)"),
        None => super::mask(secret),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_mixed_token_runs() {
        assert_eq!(redact_tokens("KEY=abc123def456ghi x"), "KEY=… x");
        assert_eq!(redact_tokens("STRIPE_SECRET_KEY="), "STRIPE_SECRET_KEY=");
    }

    #[test]
    fn excerpt_masks_the_secret() {
        let data = b"first\nexport STRIPE_SECRET_KEY=sk_live_abcdefghijklmnopqrstuvwx # prod\n";
        let start = 31;
        let end = start + 32;
        let text = std::str::from_utf8(&data[start..end]).unwrap();
        let line = line_around(data, start);
        let shown = excerpt(data, line, start..end, text);
        assert_eq!(shown, "export STRIPE_SECRET_KEY=sk_l******** # prod");
    }

    #[test]
    fn private_key_mask_names_the_type() {
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----";
        assert_eq!(
            mask_private_key(pem),
            format!(
                "-----BEGIN RSA PRIVATE KEY----- ******** ({} chars)",
                pem.len()
            )
        );
        let escaped = "-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----\\n";
        assert_eq!(
            mask_private_key(escaped),
            format!(
                "-----BEGIN PRIVATE KEY----- ******** ({} chars)",
                escaped.len()
            )
        );
        let age = "AGE-SECRET-KEY-1QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L";
        assert_eq!(
            mask_private_key(age),
            format!("AGE-******** ({} chars)", age.len())
        );
    }
}
