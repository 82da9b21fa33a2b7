//! Timing of the keyword prefilter designs that the secret scanner chose between, on a file
//! given in `IMGAUDIT_BENCH_FILE`. Ignored by default; docs/benchmarks.md has the command and
//! the figures.

use std::time::{Duration, Instant};

use aho_corasick::{AhoCorasickBuilder, Input, MatchKind};

const CHUNK: usize = 1 << 20;

fn keywords() -> Vec<String> {
    let mut words: Vec<String> = imgaudit::secrets::RULES
        .iter()
        .flat_map(|rule| rule.keywords.iter().map(|k| (*k).to_owned()))
        .collect();
    words.sort();
    words.dedup();
    words.sort_by_key(|w| std::cmp::Reverse(w.len()));
    words
}

fn best_of<F: FnMut() -> usize>(runs: usize, mut run: F) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut hits = 0;
    for _ in 0..runs {
        let started = Instant::now();
        hits = run();
        best = best.min(started.elapsed());
    }
    (best, hits)
}

#[test]
#[ignore = "benchmark: set IMGAUDIT_BENCH_FILE and run in release mode"]
fn prefilter_designs() {
    let path = std::env::var("IMGAUDIT_BENCH_FILE").expect("IMGAUDIT_BENCH_FILE names a file");
    let text = std::fs::read(&path).expect("the benchmark file is readable");
    let words = keywords();

    // One ASCII-case-insensitive automaton, searched for overlapping matches.
    let insensitive = AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .build(&words)
        .unwrap();
    let (single, single_hits) = best_of(5, || {
        text.chunks(CHUNK)
            .map(|chunk| insensitive.find_overlapping_iter(chunk).count())
            .sum()
    });

    // Lower-cased chunks and case-sensitive leftmost-first automata of at most 64 patterns,
    // restarting one byte after each match, as the scanner does.
    let automata: Vec<_> = words
        .chunks(64)
        .map(|part| {
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostFirst)
                .build(part)
                .unwrap()
        })
        .collect();
    let mut lowered = Vec::with_capacity(CHUNK);
    let (split, split_hits) = best_of(5, || {
        let mut hits = 0;
        for chunk in text.chunks(CHUNK) {
            lowered.clear();
            lowered.extend(chunk.iter().map(u8::to_ascii_lowercase));
            for automaton in &automata {
                let mut at = 0;
                while let Some(found) =
                    automaton.find(Input::new(&lowered[..]).span(at..lowered.len()))
                {
                    hits += 1;
                    at = found.start() + 1;
                }
            }
        }
        hits
    });

    let mib = text.len() as f64 / (1024.0 * 1024.0);
    println!(
        "{path}: {mib:.0} MiB, {} keywords, {} automata",
        words.len(),
        automata.len()
    );
    println!(
        "case-insensitive, overlapping: {:>8.1} ms ({single_hits} keyword hits)",
        single.as_secs_f64() * 1e3
    );
    println!(
        "lower-cased, <= 64 per automaton: {:>8.1} ms ({split_hits} keyword hits)",
        split.as_secs_f64() * 1e3
    );
}
