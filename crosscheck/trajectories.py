"""The recurrent LSC side by side (issue 24, item 3): the reference's recLSC.apply_LSC and the
port's RecurrentLSCRun, from the same initial weights, on the same PTB batch, shuffling off.

    python crosscheck/trajectories.py [--cells LSTM GRU ...] [--steps 50] [--scale 0.25] [--stage ...]

For each cell this process (the project's Python) builds the port's DeepRNN (seed 0, the
paper's depth-2 PTB widths times ``--scale``), draws the first LSC batch of the demo PTB text
(lscrepro.data.ptb.write_demo) with the paper's LSC batch size, and runs the port for
``--steps`` steps twice: its defaults ("port") and the switches of config/reference.yaml plus
``jacobian_points: graph`` ("port_reference"). It then runs apply_LSC of stable_drnn@4b667ae in
the reference's venv (``--reference CELL``, started here as crosscheck/run.py starts a
generator) on the same weights (crosscheck/weightmap/rnn_lsc.py) and token ids, with
``wmultiplier`` and without ``wshuff``, recording each get_norms call (crosscheck/goldens/
rec_lsc.py's Recorder). Outputs: docs/crosscheck/lsc_trajectories.csv (step, cell,
implementation, kind, layer, radius, loss), lsc_trajectories_selection.csv (the step each
selection rule keeps), lsc_trajectories_summary.csv (each curve's first value, the mean of
its last 10 steps, the direction) and lsc_trajectories.png. Scratch under
$LSCREPRO_CROSSCHECK_DIR/traj.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from crosscheck import sources  # noqa: E402

CELLS = ("LSTM", "GRU", "rsimplernn", "ssimplernn", "maLSNN", "maLSNNb")
# the paper's depth-2 PTB nets (stable_spike@67f1ce7 default_config) and LSC batch sizes
# (training.py: 8, ALIFs 3, simple RNNs 16)
PAPER_WIDTHS = {"LSTM": (500, 300), "GRU": (625, 300)}
DEFAULT_WIDTHS, EMBEDDING = (1300, 300), 300
LSC_BATCH = {"maLSNN": 3, "maLSNNb": 3, "rsimplernn": 16, "ssimplernn": 16}
TARGET = 0.5
OUT = REPO / "docs" / "crosscheck"
FIELDS = ("step", "cell", "implementation", "kind", "layer", "radius", "loss")


def sizes(cell: str, scale: float) -> tuple[list[int], int, int]:
    """(widths, embedding, LSC batch): the paper's, widths times ``scale``."""
    widths = [max(2, round(w * scale)) for w in PAPER_WIDTHS.get(cell, DEFAULT_WIDTHS)]
    return widths, widths[-1], LSC_BATCH.get(cell, 8)  # the tied readout: last width = embedding


def scratch() -> Path:
    path = Path(os.environ.get("LSCREPRO_CROSSCHECK_DIR", sources.DEFAULT_SCRATCH)).expanduser() / "traj"
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- the port (project Python) --------------------------------------------------------------------
def demo_task():
    import tempfile

    import torch

    from lscrepro.data import ptb
    from lscrepro.tasks.language import WordPTB

    folder = Path(tempfile.mkdtemp(prefix="lscrepro-ptb-demo-"))
    ptb.write_demo(folder)
    corpus = ptb.read_ptb({split: folder / name for split, name in ptb.SPLIT_FILES.items()})
    ids = {"train": torch.as_tensor(corpus["train"], dtype=torch.long),
           "valid": torch.as_tensor(corpus["valid"], dtype=torch.long),
           "test": torch.as_tensor(corpus["test"], dtype=torch.long)}
    ids["val"] = ids["valid"]
    # "full": the demo validation text is too short for the reference's window count at batch 16
    return WordPTB(ids, vocab_size=len(corpus["vocab"]), maxlen=100, timerepeat=2, evaluation="full")


def port_model(cell: str, widths: list[int], embedding: int, task):
    from lscrepro.models.rnn import DeepRNN
    activation = "swish" if cell == "rsimplernn" else "relu"  # the reference's PTB simple RNN
    return DeepRNN(cell, widths, task.dims, seed=0, dropout=0.3, activation=activation, embedding=embedding)


def run_port(cell: str, model, task, ids, steps: int, implementation: str) -> tuple[list[dict], int]:
    """The port's steps on ``ids`` (B, T) from ``model``'s weights: per-step rows, selected step."""
    import torch

    from lscrepro.lsc import recurrent

    overrides = {"port": {}, "port_reference": {"radius_method": "eig", "jacobian_points": "graph",
                                                "on_nonfinite": "skip"}}[implementation]
    settings = recurrent.RecurrentLSCSettings(
        target=TARGET, batch_size=len(ids), shuffle=False, max_steps=steps, measure_batches=1,
        weight_decay=1e-3 if cell == "rsimplernn" else 1e-4, **overrides)
    run = recurrent.RecurrentLSCRun(model, task, settings, seed=0, device=torch.device("cpu"),
                                    log=lambda *_: None)
    recorded, real = [], recurrent.local_radii

    def recording(*args, **kwargs):
        radii, new_states = real(*args, **kwargs)
        recorded.append({key: r.detach().mean().item() for key, r in radii.items()})
        return radii, new_states

    recurrent.local_radii = recording
    try:
        run.states = [v.zeros(len(ids), "cpu") for v in run.views]
        for t in range(steps):
            if run.finished():  # converged (its stop rule), as the reference's loop stops
                break
            run.step(ids[:, t])
    finally:
        recurrent.local_radii = real
    rows = [dict(step=t, cell=cell, implementation=implementation, kind=kind, layer=layer + 1,
                 radius=radius, loss=run.result.loss_curve[t])
            for t, means in enumerate(recorded) for (kind, layer), radius in sorted(means.items())]
    return rows, run.selected_step()


def prepare_cell(cell: str, scale: float, steps: int, task) -> dict:
    """Port runs, and the inputs the reference's run needs (written to the scratch folder)."""
    import torch

    from crosscheck.weightmap.rnn import port_parameters
    widths, embedding, batch = sizes(cell, scale)
    generator = torch.Generator().manual_seed(0)
    ids = next(iter(task.lsc_inputs(batch, generator, "train")))[:, :steps]
    model = port_model(cell, widths, embedding, task)
    initial = port_parameters(model)
    if not (scratch() / f"{cell}_inputs.npz").exists():  # a reference run may be reading it
        np.savez(scratch() / f"{cell}_inputs.npz", ids=ids.numpy(), **{f"p:{k}": v for k, v in initial.items()})
    (scratch() / f"{cell}_sizes.json").write_text(json.dumps(
        {"stack": ":".join(map(str, widths)), "embedding": embedding, "vocab": task.vocab_size,
         "batch": batch, "seq": steps, "target": TARGET}))
    rows, selected = [], {}
    for implementation in ("port", "port_reference"):
        start = time.perf_counter()
        torch.manual_seed(0)
        fresh = port_model(cell, widths, embedding, task)
        fresh.load_state_dict(model.state_dict())
        part, selected[implementation] = run_port(cell, fresh, task, ids, steps, implementation)
        rows += part
        print(f"{cell} {implementation}: {steps} steps in {time.perf_counter() - start:.0f} s, "
              f"selected step {selected[implementation]}", flush=True)
    return {"rows": rows, "selected": selected, "widths": widths, "batch": batch}


# --- the reference (its venv) ------------------------------------------------------------------
def reference_cell(cell: str) -> None:
    """In the venv: apply_LSC on the port's initial weights and ids; writes <cell>_reference.json."""
    import re

    from crosscheck.goldens import rec_lsc
    from crosscheck.weightmap.rnn_lsc import port_to_lsc

    inputs = np.load(scratch() / f"{cell}_inputs.npz")
    port = {k[2:]: inputs[k] for k in inputs.files if k.startswith("p:")}
    ids = inputs["ids"].astype(np.float32)[..., None]
    spec = json.loads((scratch() / f"{cell}_sizes.json").read_text())
    batches = [(ids, np.zeros(ids.shape[:2], np.float32))]
    start = time.perf_counter()
    recorder, results = rec_lsc.run_reference(
        cell, learn=True, steps=ids.shape[1], initial_weights=lambda names: port_to_lsc(cell, port, names),
        batches=batches, sizes=spec)
    losses = [float(x) for x in re.findall(r"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?", results["LSC_losses"])]
    out = {"calls": [[float(c["radius"].mean()), float(c["loss"])] for c in recorder.calls],
           "losses": losses[:-1],  # apply_LSC appends the best step's loss last
           "selected": selected_reference_step(recorder), "seconds": time.perf_counter() - start,
           "fail_rate": results["fail_rate"]}
    (scratch() / f"{cell}_reference.json").write_text(json.dumps(out))


def selected_reference_step(recorder) -> int:
    """The step whose starting weights apply_LSC handed back (0: the initial ones): its
    best_weights are model.get_weights() of the step that saved them, before its update."""
    best = recorder.best_weights
    for t, received in enumerate(recorder.received):
        if all(np.array_equal(a, b) for a, b in zip(received, best)):
            return t
    raise RuntimeError("apply_LSC's best weights are none of the steps' weights")


def reference_rows(cell: str, steps: int) -> tuple[list[dict], int | None, float]:
    data = json.loads((scratch() / f"{cell}_reference.json").read_text())
    spec = json.loads((scratch() / f"{cell}_sizes.json").read_text())
    # apply_LSC's calls per step (dec only for readouts of at most 100 outputs); a step that
    # raised (caught by apply_LSC, no update) made none, and apply_LSC stops logging losses
    # for it, so the rows below are its successful steps, which come first here
    order = [("rec", 1), ("enc", 1), ("rec", 2), ("depth", 2)] + ([("dec", 2)] if spec["vocab"] <= 100 else [])
    rows = []
    for t in range(min(steps, len(data["calls"]) // len(order))):
        for n, (kind, layer) in enumerate(order):
            radius, _ = data["calls"][t * len(order) + n]
            rows.append(dict(step=t, cell=cell, implementation="reference", kind=kind, layer=layer,
                             radius=radius, loss=data["losses"][t]))
    return rows, data["selected"], data["seconds"]


def run_reference_process(cell: str) -> None:
    from crosscheck.run import ensure_venv
    root = sources.materialise("fig3", Path(os.environ.get("LSCREPRO_CROSSCHECK_DIR", sources.DEFAULT_SCRATCH)),
                               sources.DEFAULT_GIT_SOURCE)
    python = ensure_venv(Path(os.environ.get("LSCREPRO_CROSSCHECK_DIR", sources.DEFAULT_SCRATCH)).expanduser())
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), str(HERE / "stubs"), str(REPO)]),
               TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", PYTHONHASHSEED="0", TF_DETERMINISTIC_OPS="1")
    with open(scratch() / f"{cell}_reference.log", "w") as log:
        subprocess.run([str(python), str(Path(__file__).resolve()), "--reference", cell], cwd=REPO, env=env,
                       check=True, stdout=log, stderr=subprocess.STDOUT)


# --- the outputs -------------------------------------------------------------------------------
def write_csv(path: Path, rows: list[dict], fields) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


def step_means(rows: list[dict]) -> list[float]:
    """Each step's mean of the rec, depth and enc radii: what both selection rules rank."""
    steps = sorted({r["step"] for r in rows})
    return [float(np.mean([r["radius"] for r in rows if r["step"] == t and r["kind"] != "dec"])) for t in steps]


def summary(rows: list[dict]) -> list[dict]:
    """Each curve's first radius, the mean of its last 10 steps and the direction between."""
    out = []
    for key in dict.fromkeys((r["cell"], r["implementation"], r["kind"], r["layer"]) for r in rows):
        curve = [r["radius"] for r in rows if (r["cell"], r["implementation"], r["kind"], r["layer"]) == key]
        first, last = curve[0], float(np.mean(curve[-10:]))
        direction = "flat" if abs(last - first) < 0.02 else ("up" if last > first else "down")
        out.append(dict(zip(("cell", "implementation", "kind", "layer"), key), first=first, last10=last,
                        direction=direction))
    return out


def plot(rows: list[dict], selection: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = list(dict.fromkeys(r["cell"] for r in rows))
    fig, axes = plt.subplots(2, 3, figsize=(15, 8), sharex=True, squeeze=False)
    styles = {"reference": "-", "port": "--", "port_reference": ":"}
    colours = {("rec", 1): "C0", ("rec", 2): "C1", ("enc", 1): "C2", ("depth", 2): "C3", ("dec", 2): "C4"}
    for ax, cell in zip(axes.flat, cells):
        for (impl, kind, layer) in sorted({(r["implementation"], r["kind"], r["layer"]) for r in rows
                                           if r["cell"] == cell}):
            line = [(r["step"], r["radius"]) for r in rows if (r["cell"], r["implementation"], r["kind"],
                                                              r["layer"]) == (cell, impl, kind, layer)]
            ax.plot(*zip(*line), styles[impl], color=colours[kind, layer], lw=1.2,
                    label=f"{kind} l{layer}" if impl == "reference" else None)
        for s in selection:
            if s["cell"] == cell and s["selected_step"] is not None:
                ax.axvline(s["selected_step"], ls=styles[s["implementation"]], color="k", lw=0.8)
        ax.axhline(TARGET, color="grey", lw=0.6)
        ax.set_title(cell)
        ax.set_ylabel("mean radius over the batch")
        ax.legend(fontsize=7, loc="upper right")
    for ax in axes[-1]:
        ax.set_xlabel("LSC step")
    fig.suptitle("recurrent LSC, target 0.5: reference (solid), port default (dashed), port with the "
                 "reference's switches (dotted); black: the step each keeps")
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", nargs="+", default=list(CELLS))
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--scale", type=float, default=0.25, help="times the paper's widths")
    parser.add_argument("--reference", metavar="CELL", help=argparse.SUPPRESS)  # the venv side
    parser.add_argument("--stage", choices=("all", "port", "reference", "report"), default="all",
                        help="port: the port's runs (and the reference's inputs); reference: the "
                             "reference's runs (waits for the inputs); report: only gather; a cell "
                             "whose results the scratch already holds is not run again")
    args = parser.parse_args(argv)
    if args.reference:
        return reference_cell(args.reference)
    OUT.mkdir(parents=True, exist_ok=True)
    if args.stage in ("all", "port"):
        import torch
        torch.set_num_threads(1)  # small eigensolves: much faster without threads on 2 cores
        task = demo_task()
        for cell in args.cells:
            if not (scratch() / f"{cell}_port.json").exists():
                port = prepare_cell(cell, args.scale, args.steps, task)
                (scratch() / f"{cell}_port.json").write_text(json.dumps(port))
    if args.stage in ("all", "reference"):
        for cell in args.cells:
            while not (scratch() / f"{cell}_port.json").exists():  # another process's port stage
                time.sleep(10)
            if not (scratch() / f"{cell}_reference.json").exists():
                start = time.perf_counter()
                run_reference_process(cell)
                print(f"{cell} reference: {time.perf_counter() - start:.0f} s", flush=True)
    report(CELLS, args.steps)


def report(cells, steps: int) -> None:
    rows, selection = [], []
    for cell in cells:
        if not (scratch() / f"{cell}_reference.json").exists():
            continue
        port = json.loads((scratch() / f"{cell}_port.json").read_text())
        ref_rows, ref_selected, seconds = reference_rows(cell, steps)
        rows += ref_rows + port["rows"]
        common = dict(cell=cell, widths=":".join(map(str, port["widths"])), batch=port["batch"])
        for impl, step in [("reference", ref_selected), *port["selected"].items()]:
            means = step_means([r for r in ref_rows + port["rows"] if r["implementation"] == impl])
            selection.append(dict(common, implementation=impl, steps=len(means), selected_step=step,
                                  first_mean=means[0], selected_mean=means[step] if step < len(means) else "",
                                  closest_step=int(np.argmin(np.abs(np.array(means) - TARGET)))))
    write_csv(OUT / "lsc_trajectories.csv", rows, FIELDS)
    write_csv(OUT / "lsc_trajectories_summary.csv", summary(rows),
              ("cell", "implementation", "kind", "layer", "first", "last10", "direction"))
    write_csv(OUT / "lsc_trajectories_selection.csv", selection,
              ("cell", "implementation", "widths", "batch", "steps", "selected_step", "first_mean",
               "selected_mean", "closest_step"))
    plot(rows, selection, OUT / "lsc_trajectories.png")


if __name__ == "__main__":
    main()
