#!/usr/bin/env python3
# llama.cpp (llama-cpp-python) speed baseline for steerscope.
#
# Times, on a fresh context state each repeat:
#   - prefill: all prompt ids in ONE llm.eval() call (n_batch 512);
#   - decode: --decode greedy tokens, one eval per token, argmax of llama_get_logits_ith(ctx, -1).
# Reports the best (fastest) of --repeats for each phase and prints ONE line of JSON:
#   {"engine":"llama.cpp","version":..,"threads":N,"prefill_tokens":..,"prefill_tok_s":..,
#    "decode_tokens":..,"decode_tok_s":..,"prefill_cpu_tok_s":..,"decode_cpu_tok_s":..,
#    "first_tokens":[first 8 greedy ids]}
# The *_cpu_tok_s rates divide by the process's CPU time (time.process_time) instead of the wall
# clock: on a loaded machine they show the engine's own speed better (at 1 thread).
#
# Usage:
#   nice -n 19 python3 tests/reference/llama_cpp_bench.py \
#       --model ~/.cache/steerscope/models/SmolLM2-135M-Instruct.Q4_1.gguf \
#       --threads 1 --ids-file IDS.json --decode 64 [--repeats 3]
# IDS.json is a JSON list of token ids (the prompt, e.g. 128 ids; no BOS for SmolLM2).
# Without --ids-file, --make-ids N builds an N-token prompt from a fixed English text.
# Written against llama-cpp-python 0.3.36. On a shared 2-core machine, record the load
# average beside any multi-thread number (two threads collapse under contention).

import argparse
import json
import sys
import time

import numpy as np
import llama_cpp

FILLER = (
    "The history of the printing press begins in the fifteenth century, when Johannes Gutenberg "
    "combined movable metal type, oil-based ink and a wooden screw press. Within decades, printing "
    "shops spread across Europe, books became cheaper, literacy rose, and new ideas travelled faster "
    "than ever before. Scholars could compare identical copies of a text, which changed how science, "
    "religion and politics were argued. "
)


def argmax_last(llm, n_vocab):
    ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
    return int(np.argmax(np.ctypeslib.as_array(ptr, shape=(n_vocab,))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ids-file")
    ap.add_argument("--make-ids", type=int, default=128,
                    help="prompt length to synthesize when --ids-file is not given")
    ap.add_argument("--decode", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    llm = llama_cpp.Llama(
        model_path=args.model,
        n_ctx=512,
        n_batch=512,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        n_gpu_layers=0,
        logits_all=False,
        verbose=False,
    )
    n_vocab = llm.n_vocab()

    if args.ids_file:
        with open(args.ids_file) as f:
            ids = [int(i) for i in json.load(f)]
    else:
        ids = []
        while len(ids) < args.make_ids:
            ids += llm.tokenize(FILLER.encode("utf-8"), add_bos=False, special=False)
        ids = ids[: args.make_ids]
    if not ids:
        sys.exit("empty prompt")
    if len(ids) + args.decode > 512:
        sys.exit(f"prompt ({len(ids)}) + decode ({args.decode}) exceeds n_ctx 512")

    best_prefill = float("inf")
    best_decode = float("inf")
    cpu_prefill = float("inf")
    cpu_decode = float("inf")
    first_tokens = None
    for _ in range(args.repeats):
        llm.reset()  # n_tokens = 0 ...
        llm._ctx.kv_cache_clear()  # ... and an empty KV cache
        t0, c0 = time.perf_counter(), time.process_time()
        llm.eval(ids)
        tok = argmax_last(llm, n_vocab)
        t1, c1 = time.perf_counter(), time.process_time()
        best_prefill = min(best_prefill, t1 - t0)
        cpu_prefill = min(cpu_prefill, c1 - c0)

        out = [tok]
        t2, c2 = time.perf_counter(), time.process_time()
        for _ in range(args.decode):
            llm.eval([tok])
            tok = argmax_last(llm, n_vocab)
            out.append(tok)
        t3, c3 = time.perf_counter(), time.process_time()
        best_decode = min(best_decode, t3 - t2)
        cpu_decode = min(cpu_decode, c3 - c2)
        if first_tokens is None:
            first_tokens = out[:8]
        elif out[:8] != first_tokens:
            print(f"warning: greedy tokens differ between repeats: {out[:8]} vs {first_tokens}",
                  file=sys.stderr)

    print(json.dumps({
        "engine": "llama.cpp",
        "version": llama_cpp.__version__,
        "threads": args.threads,
        "prefill_tokens": len(ids),
        "prefill_tok_s": round(len(ids) / best_prefill, 2),
        "decode_tokens": args.decode,
        "decode_tok_s": round(args.decode / best_decode, 2),
        "prefill_cpu_tok_s": round(len(ids) / cpu_prefill, 2),
        "decode_cpu_tok_s": round(args.decode / cpu_decode, 2),
        "first_tokens": first_tokens,
    }))


if __name__ == "__main__":
    main()
