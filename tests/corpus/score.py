#!/usr/bin/env python3
"""Score a secret scanner's report against the corpus labels.

Usage: score.py LABELS.json (--imgaudit REPORT.json | --trivy REPORT.json) [--by rule|class]

A finding counts as a true positive when it names a labelled file and a line of the
credential: the first line, or any line of a multi-line credential such as a PEM block.
Each label is matched once. Findings in decoy files are listed. Rule ids
differ between tools, so only imgaudit can be scored per rule (--by rule); --by class groups
by the labels' provider class and works for both. Prints a Markdown table.
"""

import argparse
import collections
import json
import sys


def imgaudit_findings(report):
    out = []
    for finding in report["findings"]:
        if finding["check_id"] != "secret-in-file":
            continue
        location = finding["location"]
        out.append((location["path"], location.get("line"), finding["evidence"]["rule"]))
    return out


def trivy_findings(report):
    out = []
    for result in report.get("Results", []):
        if result.get("Class") != "secret":
            continue
        path = "/" + result["Target"].lstrip("/")
        for secret in result.get("Secrets", []):
            out.append((path, secret.get("StartLine"), secret.get("RuleID")))
    return out


def score(labels, findings, key):
    """Match findings to labels on (path, line); returns per-group [tp, fp, fn] and the
    findings in decoy files."""
    decoy_paths = {d["path"] for d in labels["decoys"]}
    unmatched = collections.defaultdict(list)
    for label in labels["positives"]:
        unmatched[label["path"]].append(label)
    counts = collections.defaultdict(lambda: [0, 0, 0])
    decoy_hits = []
    extra = []
    for path, line, rule in findings:
        candidates = [c for c in unmatched.get(path, []) if line is not None and c["first_line"] <= line <= c["last_line"]]
        if candidates:
            # Prefer the label with the same rule id (imgaudit), else take any.
            pick = next((c for c in candidates if c["rule"] == rule), candidates[0])
            unmatched[path].remove(pick)
            group = key(pick, rule)
            counts[group][0] += 1
            if key is by_rule and pick["rule"] != rule:
                # Right place, wrong rule: a miss for the label's rule, a false find for the other.
                counts[group][0] -= 1
                counts[group][2] += 1
                counts[rule][1] += 1
        else:
            if path in decoy_paths:
                decoy_hits.append((path, line, rule))
            extra.append((path, line, rule))
            counts[rule if key is by_rule else "(unlabelled)"][1] += 1
    for remaining in unmatched.values():
        for label in remaining:
            counts[key(label, None)][2] += 1
    return counts, decoy_hits, extra


def by_rule(label, _rule):
    return label["rule"]


def by_class(label, _rule):
    return label["class"]


def ratio(a, b):
    return a / b if b else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labels")
    tool = parser.add_mutually_exclusive_group(required=True)
    tool.add_argument("--imgaudit")
    tool.add_argument("--trivy")
    parser.add_argument("--by", choices=["rule", "class"], default="class")
    args = parser.parse_args()
    with open(args.labels, encoding="utf-8") as handle:
        labels = json.load(handle)
    if args.imgaudit:
        with open(args.imgaudit, encoding="utf-8") as handle:
            findings = imgaudit_findings(json.load(handle))
    else:
        if args.by == "rule":
            sys.exit("--by rule needs imgaudit's rule ids; use --by class for trivy")
        with open(args.trivy, encoding="utf-8") as handle:
            findings = trivy_findings(json.load(handle))
    counts, decoy_hits, extra = score(labels, findings, by_rule if args.by == "rule" else by_class)

    print(f"| {args.by} | labelled | found | false | precision | recall |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    total = [0, 0, 0]
    for group in sorted(counts):
        tp, fp, fn = counts[group]
        total = [total[0] + tp, total[1] + fp, total[2] + fn]
        print(f"| {group} | {tp + fn} | {tp} | {fp} | {ratio(tp, tp + fp):.2f} | {ratio(tp, tp + fn):.2f} |")
    tp, fp, fn = total
    print(f"| **all** | {tp + fn} | {tp} | {fp} | {ratio(tp, tp + fp):.3f} | {ratio(tp, tp + fn):.3f} |")
    print(f"\nfindings in decoy files: {len(decoy_hits)}")
    for hit in decoy_hits:
        print(f"  {hit[0]}:{hit[1]} {hit[2]}")
    others = [e for e in extra if e not in decoy_hits]
    if others:
        print(f"other unlabelled findings: {len(others)}")
        for hit in others:
            print(f"  {hit[0]}:{hit[1]} {hit[2]}")


if __name__ == "__main__":
    main()
