# What the llama.cpp reference scripts share: the model file and its hash, SmolLM2's chat format,
# the command line, and how a logit row is read and sampled into a fixture.
import argparse
import hashlib
import os
import sys

import numpy as np
import llama_cpp

DEFAULT_MODEL = os.path.expanduser("~/.cache/steerscope/models/SmolLM2-135M-Instruct.Q4_1.gguf")
EXPECTED_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def chat(user, system=SYSTEM):
    """SmolLM2 chat format, written out by hand (llama_cpp_reference.py checks it against the
    GGUF's own template)."""
    return (
        f"<|im_start|>system\n{system}<|im_end|>\n"
        f"<|im_start|>user\n{user}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def args_and_model_sha(default_out):
    """--model / --out; warns (does not stop) when the model is not the expected file."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--out", default=default_out)
    args = ap.parse_args()
    sha = sha256_file(args.model)
    if sha != EXPECTED_SHA256:
        print(f"warning: model sha256 {sha} != expected {EXPECTED_SHA256}", file=sys.stderr)
    return args, sha


def last_logits(llm, ids):
    llm.reset()  # n_tokens = 0; eval() then clears the KV cache from position 0
    llm.eval(ids)
    ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
    return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).astype(np.float32).copy()


def sample_row(row):
    """The fixture's view of a logit row: top-1, and the 256 highest-logit ids plus every 64th id
    (deduplicated, sorted) with their values rounded to 5 decimals."""
    top1 = int(np.argmax(row))
    top = np.argsort(-row, kind="stable")[:256]
    sample = sorted(set(int(i) for i in top) | set(range(0, row.size, 64)))
    return {"top1": top1, "sample_ids": sample, "sample_values": [round(float(row[i]), 5) for i in sample]}
