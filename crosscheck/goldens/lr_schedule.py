"""Golden of Table 1's learning-rate schedule: ``lr_schedule``.

Table 1's grid (stable_drnn@c128682 ``plot_training.py``:1458-1460 and 1511) trained with
``lr_schedule='cosine_no_restarts'`` and ``optimizer_name='SWAAdaBeliefLA'``; stable_spike@d253a69
``full_model.py``:371-373 passes ``total_steps = final_epochs * final_steps_per_epoch`` to
py-aromatics@61c9b10 ``optimizer_selection.get_optimizer``, which makes it
``CosineDecay(lr, decay_steps=max(int(total_steps / 6.5), 2), alpha=.1)`` inside
``Lookahead(tfa AdaBelief(lr, weight_decay), 6, 0.5)`` (not SWA: its ``swa`` lambda reads the
name after ``SWA`` was stripped from it; the generator asserts the type).

Each case builds that optimiser with the reference's own ``get_optimizer`` and applies fixed
seeded gradients to one small variable, step by step: recorded per step are the learning rate
the inner AdaBelief used (its ``_decayed_lr`` at the step's iteration count, read before the
step) and the variable after the step (so the step at which each rate applies is pinned by
the weights too, through Lookahead's syncs every 6 steps). ``schedule_*`` holds the schedule
object's own values at more steps (Table 1's real size: 250 epochs x 46 windows).

Glue (not reference code): the gradients are given to ``apply_gradients`` directly.
"""

ERA = "lru"

import numpy as np  # noqa: E402

from crosscheck import golden  # noqa: E402

LR = 3e-2
SHAPE = (3, 4)
# name: (total_steps, steps run, weight_decay). 130 -> decay_steps 20 (the cosine and the floor
# after it, with 6-step Lookahead syncs on both sides); 10 -> int(1.5) = 1, raised to 2.
CASES = {"cosine": (130, 40, 0.0), "short": (10, 8, 0.0), "decay": (130, 30, 1e-2)}
TABLE1_TOTAL = 250 * 46  # epochs x (929589 // 64 // 300 - 2) windows
SCHEDULE_STEPS = np.array([0, 1, 2, 100, 500, 884, 1000, 1768, 1769, 1770, 2000, 11499])
REF_FILE = "keras_tools/esoteric_optimizers/optimizer_selection.py"


def _inner_adabelief(optimizer):
    """The innermost optimiser (tfa wrappers keep the wrapped one in ``_optimizer``)."""
    inner = optimizer
    while hasattr(inner, "_optimizer"):
        inner = inner._optimizer
    return inner


def run_case(total_steps: int, steps: int, weight_decay: float, seed: int) -> dict:
    import tensorflow as tf
    from pyaromatics.keras_tools.esoteric_optimizers.optimizer_selection import get_optimizer

    rng = np.random.default_rng(seed)
    w0 = rng.standard_normal(SHAPE).astype(np.float32)
    grads = rng.standard_normal((steps, *SHAPE)).astype(np.float32)
    optimizer = get_optimizer(optimizer_name="SWAAdaBeliefLA", lr=LR, lr_schedule="cosine_no_restarts",
                              total_steps=total_steps, weight_decay=weight_decay, clipnorm=None)
    # not SWA: get_optimizer's ``swa`` lambda reads optimizer_name when called, after the
    # name lost its 'SWA', so SWAAdaBeliefLA is Lookahead(AdaBelief)
    assert type(optimizer).__name__ == "Lookahead", type(optimizer)
    adabelief = _inner_adabelief(optimizer)
    assert type(adabelief).__name__ == "AdaBelief", type(adabelief)
    variable = tf.Variable(w0)
    lrs, iterations, weights = [], [], []
    for g in grads:
        if lrs:  # before the first step the wrappers have not yet shared their counter
            iterations.append(int(adabelief.iterations.numpy()))
        else:
            iterations.append(0)
        lrs.append(float(adabelief._decayed_lr(tf.float32).numpy()))
        optimizer.apply_gradients([(tf.constant(g), variable)])
        weights.append(variable.numpy().copy())
    assert int(optimizer.iterations.numpy()) == steps
    return {"w0": w0, "grads": grads, "lr": np.array(lrs, np.float32),
            "iterations": np.array(iterations), "weights": np.array(weights)}


def schedule_values(total_steps: int) -> np.ndarray:
    """The schedule object get_optimizer gives the inner AdaBelief, at SCHEDULE_STEPS."""
    import tensorflow as tf
    from pyaromatics.keras_tools.esoteric_optimizers.optimizer_selection import get_optimizer

    optimizer = get_optimizer(optimizer_name="SWAAdaBeliefLA", lr=LR, lr_schedule="cosine_no_restarts",
                              total_steps=total_steps, weight_decay=0.0, clipnorm=None)
    schedule = _inner_adabelief(optimizer)._get_hyper("learning_rate")
    assert type(schedule).__name__ == "CosineDecay", type(schedule)
    assert schedule.decay_steps == max(int(total_steps / 6.5), 2) and schedule.alpha == 0.1
    return np.array([float(schedule(tf.constant(s, tf.float32)).numpy()) for s in SCHEDULE_STEPS], np.float32)


def main() -> None:
    import tensorflow as tf

    tf.random.set_seed(0)
    arrays = {"lr": np.float32(LR), "schedule_steps": SCHEDULE_STEPS,
              "schedule_table1": schedule_values(TABLE1_TOTAL)}
    for i, (name, (total, steps, wd)) in enumerate(CASES.items()):
        case = run_case(total, steps, wd, seed=i)
        arrays.update({f"{name}_{k}": v for k, v in case.items()})
        arrays[f"{name}_total_steps"] = np.int64(total)
        arrays[f"{name}_weight_decay"] = np.float32(wd)
    from crosscheck.sources import era_commits

    golden.save(
        "lr_schedule", arrays,
        reference={"repo": "LuCeHe/py-aromatics", "commit": era_commits(ERA)["py-aromatics"],
                   "file": REF_FILE, "function": "get_optimizer('SWAAdaBeliefLA', lr_schedule='cosine_no_restarts')"},
        inputs=(f"lr {LR}; cases {CASES} as (total_steps, steps, weight_decay); variable {SHAPE} and "
                "gradients from numpy default_rng(case index) standard normals (float32)"),
        notes=("Per case: lr = the inner AdaBelief's _decayed_lr before each step, iterations = its "
               "step counter then, weights = the variable after each apply_gradients of the returned "
               "optimiser, Lookahead(AdaBelief) (SWA never wraps it: get_optimizer's lambda reads the stripped name). schedule_table1: the CosineDecay object at schedule_steps for total_steps "
               f"{TABLE1_TOTAL} (Table 1: 250 epochs x 46 windows of 64 x 300 tokens). Table 1's grid: "
               "stable_drnn@c128682 plot_training.py:1458-1460, 1511; total_steps: stable_spike@d253a69 "
               "full_model.py:371-373."))


if __name__ == "__main__":
    main()
