"""Peak RSS while converting a safetensors checkpoint to GGUF, against its largest tensor.

Writes a synthetic Llama checkpoint whose largest tensors are the embeddings and the
output head (--vocab x --hidden float32; 256 MiB each by default), converts it to F16
in a child process, and reads that child's peak RSS (VmHWM, Linux). A second child that
only imports the converter and reads the checkpoint's headers gives the baseline.

Target (issue 9): peak RSS stays under baseline + largest tensor + --overhead-mb.
Exits 1 when it does not.

    python bench/convert_rss.py [--vocab 32768] [--hidden 2048] [--layers 2] [--overhead-mb 64]

`--block-mb 4096` converts whole tensors at once, to see what the row blocks save.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tests.convert.tiny import TinySpec, _tokenizer, write_safetensors

_CHILD = """
import sys
from pathlib import Path
import numpy, gguf
import corral.convert.convert as module
from corral.convert import convert_checkpoint
from corral.convert.safetensors import open_checkpoint
source, target, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
module._CHUNK_BYTES = int(sys.argv[4])
if mode == "convert":
    convert_checkpoint(source, target, out_type="F16")
else:
    open_checkpoint(source).close()
# VmHWM starts afresh at exec; ru_maxrss would carry over the parent's peak from fork.
status = Path("/proc/self/status").read_text()
print(next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")))
"""


def build(directory: Path, vocab: int, hidden: int, layers: int) -> int:
    """Write the checkpoint (one shard per tensor group); returns the largest tensor's bytes."""
    rng = np.random.default_rng(0)
    ffn = hidden * 11 // 4 // 256 * 256
    heads = hidden // 64

    def w(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape, dtype=np.float32) * 0.02

    directory.mkdir(parents=True)
    write_safetensors(
        directory / "model-00001-of-00003.safetensors",
        {"model.embed_tokens.weight": w(vocab, hidden)},
    )
    write_safetensors(
        directory / "model-00002-of-00003.safetensors",
        {"lm_head.weight": w(vocab, hidden), "model.norm.weight": np.ones(hidden, np.float32)},
    )
    blocks: dict[str, np.ndarray] = {}
    for i in range(layers):
        p = f"model.layers.{i}."
        blocks[p + "input_layernorm.weight"] = np.ones(hidden, np.float32)
        blocks[p + "post_attention_layernorm.weight"] = np.ones(hidden, np.float32)
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            blocks[p + f"self_attn.{name}.weight"] = w(hidden, hidden)
        blocks[p + "mlp.gate_proj.weight"] = w(ffn, hidden)
        blocks[p + "mlp.up_proj.weight"] = w(ffn, hidden)
        blocks[p + "mlp.down_proj.weight"] = w(hidden, ffn)
    write_safetensors(directory / "model-00003-of-00003.safetensors", blocks)
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hidden,
        "intermediate_size": ffn,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": heads,
        "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "vocab_size": vocab,
    }
    (directory / "config.json").write_text(json.dumps(config))
    _tokenizer(directory, TinySpec())
    return vocab * hidden * 4


def child_peak_kib(source: Path, target: Path, mode: str, block: int) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(source), str(target), mode, str(block)],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=32768)
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--overhead-mb", type=float, default=64.0)
    parser.add_argument(
        "--block-mb", type=int, default=16, help="converter block size (huge = whole tensors)"
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="convert-rss-"))
    try:
        block = args.block_mb * 2**20
        largest = build(root / "ckpt", args.vocab, args.hidden, args.layers)
        total = sum(p.stat().st_size for p in (root / "ckpt").glob("*.safetensors"))
        base = child_peak_kib(root / "ckpt", root / "unused.gguf", "baseline", 0) * 1024
        started = time.perf_counter()
        peak = child_peak_kib(root / "ckpt", root / "model.gguf", "convert", block) * 1024
        seconds = time.perf_counter() - started
        limit = base + largest + args.overhead_mb * 2**20
        mib = 2**20
        print(
            f"checkpoint:     {total / mib:8.1f} MiB safetensors, largest tensor "
            f"{largest / mib:.1f} MiB"
        )
        print(
            f"output:         {(root / 'model.gguf').stat().st_size / mib:8.1f} MiB F16 GGUF "
            f"in {seconds:.1f} s"
        )
        print(f"baseline RSS:   {base / mib:8.1f} MiB (imports + headers)")
        print(
            f"peak RSS:       {peak / mib:8.1f} MiB (+{(peak - base) / mib:.1f} MiB over baseline)"
        )
        print(
            f"target:       < {limit / mib:8.1f} MiB (baseline + largest tensor + "
            f"{args.overhead_mb:.0f} MiB)"
        )
        ok = peak < limit
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
