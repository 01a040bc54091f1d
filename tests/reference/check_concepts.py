#!/usr/bin/env python3
# Validates the concept datasets in core/data/concepts/ (polarity pairs written for steerscope).
#
# Checks: index.json lists each concept with existing train/test files; every line is one JSON
# object with exactly the string fields prompt/positive/negative, all non-empty and stripped;
# positive != negative; at least 64 train and 100 test lines; prompts unique within a concept
# and not shared between train and test; no duplicate pair. Text concepts: completions are 10-30
# words and of similar length (word-count ratio <= 1.6). Single-token concepts
# ("completion": "single-token" in index.json): completions are exactly Yes/No or A/B, the A/B
# prompts list both options as "(A) " and "(B) " lines, and the positive side is "Yes" (resp.
# "A") in 40-60% of each file's pairs. Exits non-zero on any error. (That each single-token
# completion is one token of the real tokenizer is checked by core/tests/concepts.rs.)
#
#   python3 tests/reference/check_concepts.py [core/data/concepts]

import json
import os
import sys

MINIMUM = {"train": 64, "test": 100}
SINGLE_TOKEN_ANSWERS = ({"Yes", "No"}, {"A", "B"})
BALANCE = (0.4, 0.6)
FIELDS = ("prompt", "positive", "negative")
MIN_WORDS, MAX_WORDS, MAX_RATIO = 10, 30, 1.6


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "core", "data", "concepts")
    errors = []

    def err(msg):
        errors.append(msg)

    with open(os.path.join(root, "index.json"), encoding="utf-8") as f:
        index = json.load(f)
    assert isinstance(index, list) and index, "index.json must be a non-empty list"
    names = [c["name"] for c in index]
    if len(set(names)) != len(names):
        err("duplicate concept names in index.json")

    for concept in index:
        name = concept["name"]
        for key in ("name", "description", "train", "test"):
            if not isinstance(concept.get(key), str) or not concept[key].strip():
                err(f"index.json: {name}: missing {key}")
        single_token = concept.get("completion") == "single-token"
        prompts = {}
        ratios = []
        for split in ("train", "test"):
            path = os.path.join(root, concept[split])
            prompts[split] = []
            with open(path, encoding="utf-8") as f:
                lines = f.read().split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            if len(lines) < MINIMUM[split]:
                err(f"{path}: {len(lines)} lines, expected at least {MINIMUM[split]}")
            seen_pairs = set()
            first_answer = 0
            for n, line in enumerate(lines, 1):
                where = f"{concept[split]}:{n}"
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    err(f"{where}: invalid JSON ({e})")
                    continue
                if not isinstance(row, dict) or set(row) != set(FIELDS):
                    err(f"{where}: fields must be exactly {FIELDS}")
                    continue
                for k in FIELDS:
                    v = row[k]
                    if not isinstance(v, str) or not v.strip() or v != v.strip():
                        err(f"{where}: {k} must be a non-empty, stripped string")
                if row["positive"] == row["negative"]:
                    err(f"{where}: positive == negative")
                key = (row["prompt"], row["positive"], row["negative"])
                if key in seen_pairs:
                    err(f"{where}: duplicate pair")
                seen_pairs.add(key)
                prompts[split].append(row["prompt"])
                if single_token:
                    answers = {row["positive"], row["negative"]}
                    if answers not in SINGLE_TOKEN_ANSWERS:
                        err(f"{where}: single-token completions must be Yes/No or A/B, got {sorted(answers)}")
                    elif answers == {"A", "B"} and not ("\n(A) " in row["prompt"] and "\n(B) " in row["prompt"]):
                        err(f"{where}: an A/B prompt must list the options as '(A) ' and '(B) ' lines")
                    first_answer += row["positive"] in ("Yes", "A")
                    continue
                wp, wn = len(row["positive"].split()), len(row["negative"].split())
                for k, w in (("positive", wp), ("negative", wn)):
                    if not MIN_WORDS <= w <= MAX_WORDS:
                        err(f"{where}: {k} has {w} words (want {MIN_WORDS}-{MAX_WORDS})")
                ratio = max(wp, wn) / max(1, min(wp, wn))
                ratios.append(ratio)
                if ratio > MAX_RATIO:
                    err(f"{where}: length ratio {ratio:.2f} ({wp} vs {wn} words)")
            if single_token and lines:
                share = first_answer / len(lines)
                if not BALANCE[0] <= share <= BALANCE[1]:
                    err(f"{path}: positive is Yes/A in {share:.0%} of pairs (want {BALANCE[0]:.0%}-{BALANCE[1]:.0%})")
        for split in ("train", "test"):
            seen = set()
            for p in prompts[split]:
                if p.lower() in seen:
                    err(f"{name}.{split}: duplicate prompt {p!r}")
                seen.add(p.lower())
        shared = {p.lower() for p in prompts["train"]} & {p.lower() for p in prompts["test"]}
        for p in sorted(shared):
            err(f"{name}: prompt in both train and test: {p!r}")
        detail = f", max length ratio {max(ratios):.2f}" if ratios else ", single-token"
        print(f"{name}: train {len(prompts['train'])}, test {len(prompts['test'])}{detail}")

    for e in errors:
        print("ERROR", e)
    print("OK" if not errors else f"{len(errors)} error(s)")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
