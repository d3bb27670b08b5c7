"""Seconds for `snakemake -n all` on the paper grid, against two baselines run in the same
minutes: `snakemake --version` (start-up and plugin imports alone) and a minimal Snakefile
with the same number of jobs (one data job, pre-trainings, trainings with a log, a
benchmark, a params function and an input function each): what Snakemake itself needs to
plan that many jobs, whatever the workflow does.

    python benchmarks/dry_run.py [--repeats 5]

Runs alternate between the three commands so that a slow minute of the machine hits all
of them; medians are printed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MINIMAL = """\
rule all:
    input: expand("res/train/{{i}}/metrics.json", i=range({train}))

rule data:
    output: "res/data.npz"
    shell: "touch {{output}}"

rule pretrain:
    input: "res/data.npz"
    output: w="res/pre/{{j}}/weights.pt", r="res/pre/{{j}}/pretrain.json"
    log: "logs/pre/{{j}}.log"
    benchmark: "bench/pre/{{j}}.tsv"
    params: spec=lambda wc: '{{"j": %s}}' % wc.j
    shell: "touch {{output}}"

rule train:
    input: d="res/data.npz", w=lambda wc: f"res/pre/{{int(wc.i) % {pretrain}}}/weights.pt"
    output: m="res/train/{{i}}/metrics.json", h="res/train/{{i}}/history.csv"
    log: "logs/train/{{i}}.log"
    benchmark: "bench/train/{{i}}.tsv"
    params: spec=lambda wc: '{{"i": %s}}' % wc.i
    shell: "touch {{output}}"
"""


def seconds(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pretrain-jobs", type=int, default=372, help="the paper grid: 36 + 288 + 48")
    parser.add_argument("--train-jobs", type=int, default=1316, help="the paper grid: 756 + 432 + 128")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        minimal = Path(tmp)
        (minimal / "Snakefile").write_text(MINIMAL.format(train=args.train_jobs, pretrain=args.pretrain_jobs))
        commands = {
            "snakemake --version": (["snakemake", "--version"], ROOT),
            f"minimal Snakefile, {args.pretrain_jobs + args.train_jobs + 2} jobs": (
                ["snakemake", "-n", "all", "-q", "--cores", "1"], minimal),
            "this workflow, paper grid": (["snakemake", "-n", "all", "-q", "--cores", "1"], ROOT),
        }
        times = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, (command, cwd) in commands.items():
                times[name].append(seconds(command, cwd))
    medians = {name: statistics.median(values) for name, values in times.items()}
    baseline = medians[list(commands)[1]]
    print(f"median of {args.repeats} runs each, alternating")
    for name, median in medians.items():
        spread = f"{min(times[name]):.2f}-{max(times[name]):.2f}"
        print(f"{name:<40} {median:6.2f} s  ({spread})  {median / baseline:5.2f}x the minimal Snakefile")


if __name__ == "__main__":
    main()
