"""Goldens of the recurrent LSC (issue 24 items 2b and 2c) from the reference's own recLSC.

Runs ``apply_LSC`` of stable_drnn@4b667ae ``neural_models/recLSC.py`` as it is, on a tiny
language model (vocabulary 20, a 12-wide embedding, stack 12:12, tied readout ``embproj``;
the reference's PTB path: ``get_embedding=True, timesteps=1``) for each of the six cells,
and records what its own functions compute through thin wrappers (no reference line is
re-run here):

- ``recLSC.Task``: fixed numpy-seeded token batches instead of the PTB generator;
- ``recLSC.get_norms``: each call's radii (per sample) and loss, in apply_LSC's call order
  (per layer: rec, then enc (layer 0) or depth, then dec (last layer));
- ``tf.linalg.eigvals``: the square matrix each call takes the radius of, and
  ``recLSC.sample_axis``: the full Jacobian and the kept indices where it is not square
  (the indices drawn with numpy as sample_axis draws them, then passed to it);
- ``tfa.optimizers.Lookahead``: the gradients apply_LSC hands the optimiser and the
  weights after its update;
- ``recLSC.build_model``: the initial weights (seeded TF draws), and the weights each
  rebuilt model receives (``set_weights``): at step 0 the initial ones, at step 1 those
  after step 0's ``wmultiplier``.

Goldens: ``rec_radii_<cell>`` (learn=False, 3 steps carrying the state: 2b) and
``rec_lsc_update_<cell>`` (learn=True, ``wmultiplier`` on, ``wshuff`` off, target 0.5, 2
steps: 2c). Weights are stored as ``w{i}`` arrays in ``names`` order (Keras variable names).
"""

from __future__ import annotations

ERA = "fig3"

CELLS = ("LSTM", "GRU", "rsimplernn", "ssimplernn", "maLSNN", "maLSNNb")
VOCAB, WIDTH, BATCH, SEQ = 20, 12, 4, 6
RADII_STEPS, UPDATE_STEPS = 3, 2
TARGET = 0.5
REFERENCE = {"repo": "LuCeHe/stable_drnn", "commit": "4b667ae723d4a1a8755bac1e920096421f9d93fc",
             "file": "neural_models/recLSC.py", "function": "apply_LSC (its get_norms calls)"}
# the Jacobians in apply_LSC's order of get_norms calls, for 2 layers
CALL_ORDER = (("rec", 0), ("enc", 0), ("rec", 1), ("depth", 1), ("dec", 1))


def model_args(cell: str, learn_comments: str, stack: str = f"{WIDTH}:{WIDTH}", embedding: int = WIDTH,
               vocab: int = VOCAB, batch: int = BATCH, seq: int = SEQ, target: float = TARGET) -> dict:
    """The reference's model_args of a PTB run (toy sizes by default; training.py builds the
    same dict; the comments as training.py hands them to apply_LSC, plus targetnorm)."""
    comments = (f"allns_embproj_findLSC_radius_targetnorm:{target}_dampf:.5_reoldspike"
                f"{learn_comments}_batchsize:{batch}")
    return dict(task_name="wordptb", net_name=cell, n_neurons=embedding, lr=1e-3, stack=stack,
                loss_name="sparse_categorical_crossentropy", embedding=f"learned:None:None:{embedding}",
                optimizer_name="AdaBelief", lr_schedule="", weight_decay=0.0, clipnorm=None,
                initializer="glorot_uniform", comments=comments, in_len=seq, n_in=1, out_len=seq,
                n_out=vocab, final_epochs=1, seed=0)


def token_batch(seed: int):
    import numpy as np
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, VOCAB, size=(BATCH, SEQ, 1)).astype("float32")
    return ids, rng.integers(0, VOCAB, size=(BATCH, SEQ)).astype("float32")


_ORIGINALS: dict = {}


class Recorder:
    """Patches the reference's module (and TF's eigvals, tfa's Lookahead) to record."""

    def __init__(self, recLSC, batches, initial_weights=None):
        import numpy as np
        import tensorflow as tf
        import tensorflow_addons as tfa

        self.calls, self.grads, self.after_opt, self.received, self.models = [], [], [], [], []
        self.initial_weights, self.names = initial_weights, None
        self._current = None
        recorder = self
        # the module is reloaded for each run (fresh functions); TF's and tfa's are patched once
        _ORIGINALS.setdefault("eigvals", tf.linalg.eigvals)
        _ORIGINALS.setdefault("Lookahead", tfa.optimizers.Lookahead)
        real = {"get_norms": recLSC.get_norms, "sample_axis": recLSC.sample_axis,
                "build_model": recLSC.build_model, "eigvals": _ORIGINALS["eigvals"]}

        class FixedTask:
            vocab_size = VOCAB

            def __init__(self, **kwargs):
                pass

            def __getitem__(self, step):
                return (list(batches[step]),)

        def get_norms(**kwargs):
            recorder._current = {}
            norms, loss, naswot = real["get_norms"](**kwargs)
            recorder._current.update(radius=norms.numpy(), loss=float(loss.numpy()))
            recorder.calls.append(recorder._current)
            return norms, loss, naswot

        def sample_axis(tensor, max_dim=1024, axis=1, **kwargs):
            # the draw sample_axis would make, made here so it can be recorded
            idx = sorted(np.random.choice(tensor.shape[axis], max_dim, replace=False))
            recorder._current.update(full=tensor.numpy(), index=np.array(idx), axis=axis)
            return real["sample_axis"](tensor, max_dim=max_dim, axis=axis, samples_indices=idx, **kwargs)

        def eigvals(matrix, *args, **kwargs):
            if recorder._current is not None and "square" not in recorder._current:
                recorder._current["square"] = matrix.numpy()
            return real["eigvals"](matrix, *args, **kwargs)

        def build_model(**kwargs):
            built = real["build_model"](**kwargs)
            model = built[0] if isinstance(built, tuple) else built
            if recorder.names is None:  # apply_LSC's first model: the initial weights
                recorder.names = [w.name for layer in model.layers for w in layer.weights]
                if callable(recorder.initial_weights):  # weights from elsewhere, by name
                    recorder.initial_weights = recorder.initial_weights(recorder.names)
                if recorder.initial_weights is not None:
                    model.set_weights(recorder.initial_weights)
                recorder.initial_weights = [w.copy() for w in model.get_weights()]
            else:
                set_weights = model.set_weights

                def recording_set_weights(weights):
                    recorder.received.append([np.array(w) for w in weights])
                    set_weights(weights)
                model.set_weights = recording_set_weights
            recorder.models.append(model)
            return built

        class RecordingLookahead(_ORIGINALS["Lookahead"]):
            def apply_gradients(self, grads_and_vars, *args, **kwargs):
                pairs = list(grads_and_vars)
                # an embedding's gradient comes as IndexedSlices where only its lookup uses it
                recorder.grads.append({v.name: (None if g is None else tf.convert_to_tensor(g).numpy())
                                       for g, v in pairs})
                out = super().apply_gradients(pairs, *args, **kwargs)
                recorder.after_opt.append({v.name: v.numpy().copy() for _, v in pairs})
                return out

        recLSC.Task, recLSC.get_norms, recLSC.sample_axis = FixedTask, get_norms, sample_axis
        recLSC.build_model = build_model
        tf.linalg.eigvals = eigvals
        tfa.optimizers.Lookahead = RecordingLookahead


def run_reference(cell: str, learn: bool, steps: int, seed: int = 0, initial_weights=None,
                  batches=None, sizes: dict | None = None, **lsc_kwargs):
    """apply_LSC of ``cell`` with the recorder installed; returns (recorder, its results).
    ``initial_weights``: a list in apply_LSC's names order, or a function of those names;
    ``sizes``: model_args' keywords (stack, embedding, vocab, batch, seq, target)."""
    import importlib

    import numpy as np
    import tensorflow as tf

    recLSC = importlib.reload(importlib.import_module("alif_sg.neural_models.recLSC"))
    tf.keras.backend.clear_session()
    # Python's random too: Keras' unseeded initialisers draw their seeds from it, so without
    # it every regeneration started from other initial weights
    tf.keras.utils.set_random_seed(seed)
    batches = batches or [token_batch(seed)]
    recorder = Recorder(recLSC, batches, initial_weights)
    comments = "_wmultiplier" if learn else ""
    args = dict(train_task_args={}, model_args=model_args(cell, comments, **(sizes or {})),
                batch_size=len(batches[0][0]),
                steps_per_epoch=len(batches), rec_norm=True, depth_norm=True, encoder_norm=True,
                decoder_norm=True, learn=learn, time_steps=steps, lr=7.2e-3, stop_time=None)
    args.update(lsc_kwargs)
    recorder.best_weights, results = recLSC.apply_LSC(**args)
    return recorder, results


def _call_arrays(recorder, steps: int) -> dict:
    """radius/square/(full, index, axis) of each get_norms call, keyed <kind><layer>_t<step>."""
    import numpy as np
    arrays = {}
    assert len(recorder.calls) == steps * len(CALL_ORDER), len(recorder.calls)
    for n, call in enumerate(recorder.calls):
        kind, layer = CALL_ORDER[n % len(CALL_ORDER)]
        key = f"{kind}{layer}_t{n // len(CALL_ORDER)}"
        arrays[f"radius_{key}"] = call["radius"].astype(np.float32)
        arrays[f"loss_{key}"] = np.float32(call["loss"])
        arrays[f"square_{key}"] = call["square"].astype(np.float32)
        if "full" in call:
            arrays[f"full_{key}"] = call["full"].astype(np.float32)
            arrays[f"index_{key}"] = call["index"].astype(np.int64)
            arrays[f"axis_{key}"] = np.int64(call["axis"])
    return arrays


def _weights(prefix: str, weights) -> dict:
    import numpy as np
    return {f"{prefix}{i}": np.asarray(w, dtype=np.float32) for i, w in enumerate(weights)}


def radii_golden(cell: str) -> None:
    import numpy as np
    from crosscheck import golden

    recorder, _ = run_reference(cell, learn=False, steps=RADII_STEPS)
    ids, _ = token_batch(0)
    arrays = {"names": np.array(recorder.names), "ids": ids.astype(np.int64)[..., 0],
              **_weights("w", recorder.initial_weights), **_call_arrays(recorder, RADII_STEPS)}
    golden.save(f"rec_radii_{cell}", arrays, reference=REFERENCE,
                inputs=f"tf.random.set_seed(0) initial weights (names order); token ids "
                       f"numpy default_rng(0) ({BATCH}, {SEQ}); vocab {VOCAB}, embedding {WIDTH}, "
                       f"stack {WIDTH}:{WIDTH}, embproj; learn=False, {RADII_STEPS} steps from zero states",
                notes="apply_LSC run unchanged with recording wrappers (see the generator's docstring); "
                      "square_*: the matrix eig was taken of, full_*/index_*/axis_*: the Jacobian and the "
                      "rows (axis 1) or columns (axis 2) sample_axis kept where it was not square. "
                      f"Call order per step: {CALL_ORDER}. Steps carry the state as apply_LSC does.")


def update_golden(cell: str) -> None:
    import numpy as np
    from crosscheck import golden

    recorder, _ = run_reference(cell, learn=True, steps=UPDATE_STEPS)
    names = recorder.names
    grads, after_opt = recorder.grads[0], recorder.after_opt[0]
    missing = [n for n in names if n not in grads]
    assert not missing, f"weights without a gradient entry: {missing}"
    ids, _ = token_batch(0)
    arrays = {"names": np.array(names), "ids": ids.astype(np.int64)[..., 0],
              **_weights("w", recorder.initial_weights),
              **_weights("grad", [np.zeros_like(recorder.initial_weights[i]) if grads[n] is None else grads[n]
                                  for i, n in enumerate(names)]),
              "grad_none": np.array([grads[n] is None for n in names]),
              **_weights("opt", [after_opt[n] for n in names]),
              **_weights("rescaled", recorder.received[1]),  # [0]: step 0's model got the initial ones
              **_call_arrays(recorder, UPDATE_STEPS)}
    loss = sum(arrays[f"loss_{k}{l}_t0"] for k, l in CALL_ORDER) / len(CALL_ORDER)
    arrays["mean_loss_t0"] = np.float32(loss)
    golden.save(f"rec_lsc_update_{cell}", arrays, reference=REFERENCE,
                inputs=f"as rec_radii_{cell}; learn=True, comments with wmultiplier (no wshuff), "
                       f"targetnorm {TARGET}, lr 7.2e-3, {UPDATE_STEPS} steps",
                notes="grad*: the gradients apply_LSC passed to tfa Lookahead(AdaBelief) at step 0; opt*: the "
                      "weights right after that update (fresh optimiser: Lookahead's fast step only); "
                      "rescaled*: the weights the step-1 model received, i.e. after step 0's wmultiplier; "
                      "mean_loss_t0: the mean of step 0's get_norms losses (apply_LSC's n_norms = 5). "
                      "The other arrays as in rec_radii_<cell>.")


if __name__ == "__main__":
    import os
    import sys

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    chosen = sys.argv[1:] or CELLS
    for cell in chosen:
        radii_golden(cell)
        update_golden(cell)
        print(f"rec_lsc: {cell} done", flush=True)
