#!/usr/bin/env python3
# Validates the concept datasets in core/data/concepts/ (polarity pairs written for steerscope).
#
# Checks: index.json lists each concept with existing train/test files; every line is one JSON
# object with exactly the string fields prompt/positive/negative, all non-empty and stripped;
# positive != negative; 64 train and 32 test lines; completions are 10-30 words and of similar
# length (word-count ratio <= 1.6); prompts unique within a concept and not shared between train
# and test. Exits non-zero on any error.
#
#   python3 tests/reference/check_concepts.py [core/data/concepts]

import json
import os
import sys

EXPECTED = {"train": 64, "test": 32}
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
        prompts = {}
        ratios = []
        for split in ("train", "test"):
            path = os.path.join(root, concept[split])
            prompts[split] = []
            with open(path, encoding="utf-8") as f:
                lines = f.read().split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            if len(lines) != EXPECTED[split]:
                err(f"{path}: {len(lines)} lines, expected {EXPECTED[split]}")
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
                wp, wn = len(row["positive"].split()), len(row["negative"].split())
                for k, w in (("positive", wp), ("negative", wn)):
                    if not MIN_WORDS <= w <= MAX_WORDS:
                        err(f"{where}: {k} has {w} words (want {MIN_WORDS}-{MAX_WORDS})")
                ratio = max(wp, wn) / max(1, min(wp, wn))
                ratios.append(ratio)
                if ratio > MAX_RATIO:
                    err(f"{where}: length ratio {ratio:.2f} ({wp} vs {wn} words)")
                prompts[split].append(row["prompt"])
        for split in ("train", "test"):
            seen = set()
            for p in prompts[split]:
                if p.lower() in seen:
                    err(f"{name}.{split}: duplicate prompt {p!r}")
                seen.add(p.lower())
        shared = {p.lower() for p in prompts["train"]} & {p.lower() for p in prompts["test"]}
        for p in sorted(shared):
            err(f"{name}: prompt in both train and test: {p!r}")
        if ratios:
            print(f"{name}: train {len(prompts['train'])}, test {len(prompts['test'])}, "
                  f"max length ratio {max(ratios):.2f}")

    for e in errors:
        print("ERROR", e)
    print("OK" if not errors else f"{len(errors)} error(s)")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
