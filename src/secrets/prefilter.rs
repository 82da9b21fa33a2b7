//! The keyword prefilter: finds which rules' keywords occur in a text, so that only those
//! rules run their regex.
//!
//! Keywords are lower-case and match in any case, as gitleaks defines them. Rather than an
//! ASCII-case-insensitive automaton (for which aho-corasick 1.1 disables its SIMD "Teddy"
//! searcher), the scanner lower-cases each chunk once and searches it with case-sensitive,
//! leftmost-first automata of at most 64 patterns each, the most Teddy accepts.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Input, MatchKind};

/// Maximum patterns in one automaton: Teddy handles at most 64.
pub const MAX_PATTERNS_PER_AUTOMATON: usize = 64;

struct Automaton {
    searcher: AhoCorasick,
    /// For each pattern, the rules to mark when it occurs: its own rules and those of every
    /// keyword it contains (see [`Prefilter::build`]).
    pattern_rules: Vec<Vec<usize>>,
    /// Number of distinct rules this automaton can mark, to stop once all are marked.
    reachable: usize,
}

pub struct Prefilter {
    automata: Vec<Automaton>,
    /// Rules without keywords, which always run.
    always: Vec<usize>,
    rule_count: usize,
}

impl Prefilter {
    /// Builds the automata from each rule's lower-case keywords (`keywords[i]` for rule `i`).
    ///
    /// A leftmost-first search reports one pattern per start position. Patterns are added
    /// longest first, so that the one reported is the longest keyword starting there, and each
    /// pattern also marks the rules of every shorter keyword it contains. Together with
    /// restarting the search one byte after each match start, that finds every rule whose
    /// keyword occurs anywhere.
    pub fn build(keywords: &[Vec<String>]) -> Prefilter {
        let mut distinct: Vec<(String, Vec<usize>)> = Vec::new();
        let mut always = Vec::new();
        for (rule, words) in keywords.iter().enumerate() {
            if words.is_empty() {
                always.push(rule);
            }
            for word in words {
                let word = word.to_ascii_lowercase();
                match distinct.iter_mut().find(|(w, _)| *w == word) {
                    Some((_, rules)) => rules.push(rule),
                    None => distinct.push((word, vec![rule])),
                }
            }
        }
        distinct.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));

        let closure: Vec<Vec<usize>> = distinct
            .iter()
            .map(|(word, _)| {
                let mut rules: Vec<usize> = distinct
                    .iter()
                    .filter(|(inner, _)| word.contains(inner.as_str()))
                    .flat_map(|(_, rules)| rules.iter().copied())
                    .collect();
                rules.sort_unstable();
                rules.dedup();
                rules
            })
            .collect();

        let automata = distinct
            .chunks(MAX_PATTERNS_PER_AUTOMATON)
            .zip(closure.chunks(MAX_PATTERNS_PER_AUTOMATON))
            .map(|(words, rules)| {
                let searcher = AhoCorasickBuilder::new()
                    .match_kind(MatchKind::LeftmostFirst)
                    .build(words.iter().map(|(w, _)| w.as_bytes()))
                    .expect("keyword automata of at most 64 patterns build");
                let mut reachable: Vec<usize> = rules.iter().flatten().copied().collect();
                reachable.sort_unstable();
                reachable.dedup();
                Automaton {
                    searcher,
                    pattern_rules: rules.to_vec(),
                    reachable: reachable.len(),
                }
            })
            .collect();
        Prefilter {
            automata,
            always,
            rule_count: keywords.len(),
        }
    }

    pub fn automaton_count(&self) -> usize {
        self.automata.len()
    }

    /// Returns, for each rule, whether one of its keywords occurs in `lowered` (a text
    /// already converted to ASCII lower case).
    pub fn hits(&self, lowered: &[u8]) -> Vec<bool> {
        let mut hit = vec![false; self.rule_count];
        for rule in &self.always {
            hit[*rule] = true;
        }
        for automaton in &self.automata {
            let mut marked = 0;
            let mut at = 0;
            while at < lowered.len() && marked < automaton.reachable {
                let input = Input::new(lowered).span(at..lowered.len());
                let Some(found) = automaton.searcher.find(input) else {
                    break;
                };
                for rule in &automaton.pattern_rules[found.pattern().as_usize()] {
                    if !hit[*rule] {
                        hit[*rule] = true;
                        marked += 1;
                    }
                }
                at = found.start() + 1;
            }
        }
        hit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keywords(words: &[&[&str]]) -> Vec<Vec<String>> {
        words
            .iter()
            .map(|w| w.iter().map(|s| s.to_string()).collect())
            .collect()
    }

    #[test]
    fn overlapping_keywords_all_hit() {
        // "sk_live_" contains "live_" (prefix overlap) and "xoxb-" overlaps nothing.
        let prefilter = Prefilter::build(&keywords(&[&["sk_live_"], &["live_"], &["_li"]]));
        assert_eq!(
            prefilter.hits(b"const k = 'sk_live_abc'"),
            vec![true, true, true]
        );
    }

    #[test]
    fn keyword_at_same_start_as_longer_one_hits() {
        let prefilter = Prefilter::build(&keywords(&[&["sk-"], &["sk-ant-api03-"]]));
        assert_eq!(prefilter.hits(b"sk-ant-api03-xyz"), vec![true, true]);
        assert_eq!(prefilter.hits(b"sk-proj-xyz"), vec![true, false]);
    }

    #[test]
    fn partially_overlapping_keywords_hit() {
        // "ab" + "bc" in "abc": the search restarts one byte after each match start.
        let prefilter = Prefilter::build(&keywords(&[&["abx", "ab"], &["bcd"]]));
        assert_eq!(prefilter.hits(b"zabcd"), vec![true, true]);
    }

    #[test]
    fn rules_without_keywords_always_run() {
        let prefilter = Prefilter::build(&keywords(&[&[], &["token"]]));
        assert_eq!(prefilter.hits(b"nothing here"), vec![true, false]);
    }

    #[test]
    fn many_keywords_split_into_automata() {
        let words: Vec<Vec<String>> = (0..150).map(|i| vec![format!("kw{i:03}x")]).collect();
        let prefilter = Prefilter::build(&words);
        assert_eq!(prefilter.automaton_count(), 3);
        let hits = prefilter.hits(b"... kw007x ... kw149x ...");
        assert!(hits[7]);
        assert!(hits[149]);
        assert_eq!(hits.iter().filter(|h| **h).count(), 2);
    }
}
