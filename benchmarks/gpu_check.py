"""Does the CUDA path work, and what does a step cost there? One prepared command for a
GPU machine:

    python benchmarks/gpu_check.py --device cuda --out gpu_check.json

1. A slice of the demo grid (config/smoke.yaml; for each family, FFN, deep RNN and ResLRU,
   one LSC pre-training and the training that loads it) runs through the workflow, in a
   scratch copy of it, twice on ``--device`` and once on the CPU. Every metric and radius of
   the device runs is compared with the CPU run (relative tolerance ``--rtol``: float32
   kernels differ between devices) and between the two device runs (determinism: equal).
2. One LSC step and one training step per family are timed on the device at the paper's
   sizes (``--timing paper``), at small sizes (``small``, what CI runs on the CPU) or not.

Prints a summary, writes the JSON, exits 1 if a check fails. ``--device cpu`` runs the same
code on the CPU (the CPU run is then the first device run).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))
from workflow_utils import copy_workflow, snakemake  # noqa: E402  (the tests' workflow copy)

# one training run per family whose variant loads a pre-training (results/<prefix>/...)
SLICE = {"ffn": "ffn/mnist/relu/lsc/lr0.01/seed0",
         "rnn": "rnn/wordptb/LSTM/depth2/lsc/seed0",
         "lru": "lru/fig4/depth2/lsc/clip0/seed0"}
PRETRAINED = {"ffn": "ffn/pretrained/mnist/relu/lsc/seed0",
              "rnn": "rnn/pretrained/wordptb/LSTM/depth2/lsc/seed0",
              "lru": "lru/pretrained/fig4/depth2/lsc/seed0"}


def run_slice(workdir: Path, prefix: str, device: str) -> dict[str, float]:
    """Run the slice under results/<prefix>/ on ``device``; its numbers, flattened."""
    targets = [f"results/{prefix}/{run}/metrics.json" for run in SLICE.values()]
    snakemake(workdir, "--cores", "2", "--configfile", "config/smoke.yaml",
              "--config", f"prefix={prefix}", f"device={device}", "--", *targets)
    numbers = {}
    for family in SLICE:
        metrics = json.loads((workdir / f"results/{prefix}/{SLICE[family]}/metrics.json").read_text())
        report = json.loads((workdir / f"results/{prefix}/{PRETRAINED[family]}/pretrain.json").read_text())
        numbers.update(_numbers(f"{family}.train", {k: metrics["result"][k] for k in ("val", "test")}))
        numbers.update(_numbers(f"{family}.pretrain", {k: v for k, v in report["result"].items()
                                                       if k.startswith("radius_after")}))
    return numbers


def _numbers(prefix: str, value) -> dict[str, float]:
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _numbers(f"{prefix}.{key}", item).items()}
    return {prefix: float(value)} if isinstance(value, (int, float)) and not isinstance(value, bool) else {}


def compare(device_run: dict, cpu_run: dict, repeat: dict, rtol: float) -> list[dict]:
    """One row per number: its CPU and device values, relative gap, equal across device runs."""
    rows = []
    for key in sorted(cpu_run):
        a, b, again = cpu_run[key], device_run.get(key, math.nan), repeat.get(key, math.nan)
        gap = abs(a - b) / max(abs(a), 1e-12) if math.isfinite(a) and math.isfinite(b) else math.nan
        close = gap <= rtol or (math.isnan(a) and math.isnan(b))
        deterministic = b == again or (math.isnan(b) and math.isnan(again))
        rows.append({"number": key, "cpu": a, "device": b, "relative_gap": gap, "close": bool(close),
                     "deterministic": bool(deterministic)})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    parser.add_argument("--rtol", type=float, default=0.05, help="device vs CPU, relative (default 0.05)")
    parser.add_argument("--timing", default="paper", choices=["paper", "small", "none"])
    parser.add_argument("--workdir", type=Path, help="scratch copy of the workflow (default: a temp dir)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="gpu_check_"))
    copy_workflow(workdir)
    first = run_slice(workdir, f"check_{args.device}_a", args.device)
    second = run_slice(workdir, f"check_{args.device}_b", args.device)
    cpu = first if args.device == "cpu" else run_slice(workdir, "check_cpu", "cpu")
    rows = compare(first, cpu, second, args.rtol)
    from gpu_timing import time_families  # torch only from here on

    timings = time_families(args.device, args.timing) if args.timing != "none" else {}
    ok = bool(rows) and all(r["close"] and r["deterministic"] for r in rows)
    result = {"device": args.device, "rtol": args.rtol, "ok": ok, "numbers": rows, "timings": timings,
              "seconds": time.perf_counter() - start, **_machine(args.device)}
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    _print_summary(result)
    return 0 if ok else 1


def _machine(device: str) -> dict:
    import torch

    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    return {"device_name": name, "torch": torch.__version__, "threads": torch.get_num_threads()}


def _print_summary(result: dict) -> None:
    rows = result["numbers"]
    far = [r for r in rows if not r["close"]]
    varying = [r for r in rows if not r["deterministic"]]
    gaps = [r["relative_gap"] for r in rows if math.isfinite(r["relative_gap"])]
    print(f"{result['device']} ({result['device_name']}): {len(rows)} numbers of {len(SLICE)} families; "
          f"largest relative gap to the CPU {max(gaps, default=math.nan):.2e} (tolerance {result['rtol']}); "
          f"{len(far)} outside it; {len(varying)} differ between two {result['device']} runs")
    for r in far + varying:
        print(f"  {r['number']}: cpu {r['cpu']:.6g}, {result['device']} {r['device']:.6g}")
    for family, times in result["timings"].items():
        print(f"  {family}: " + ", ".join(f"{k} {v:.4f} s" for k, v in times.items() if k.endswith("_s"))
              + f" ({times['shape']})")
    print(f"{'OK' if result['ok'] else 'FAILED'} in {result['seconds']:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
