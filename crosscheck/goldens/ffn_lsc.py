"""Golden ``ffn_lsc_step``: one step of the reference's FFN LSC (radius mode) on fixed weights.

Runs stable_drnn@4b667ae ``neural_models/nonrecLSC.py`` ``apply_LSC_no_time`` itself, for one
step (a one-batch generator), on Figure 2's net from ``ffnandcnns.py`` ``build_ffn`` at a small
size (input 20, 6 x Dense(16) + activation, Dense(10)) with weights drawn here, the arguments
``ffnandcnns.main`` passes (nlayerjump=2, max_dim 200000, lr 1e-4) and comments
``findLSC_radius_adabelief`` (no wmultiplier/wshuff: the step's loss and gradient are what is
checked). The block choice is fixed through the function's own ``keep_in_layers`` argument
(the input layer ``pairs[0]``). Recorded by wrapping, never replacing, reference calls:
``split_model`` (the pair), ``get_norms`` (site input, per-sample radii, loss; the full
Jacobian from the same tape), ``sample_axis`` in recLSC (which rows or columns the square cut
kept) and Lookahead's ``apply_gradients`` (the gradient of every weight of the site).
"""

ERA = "fig3"

import argparse  # noqa: E402
import sys  # noqa: E402
import types  # noqa: E402

import numpy as np  # noqa: E402

from crosscheck import golden  # noqa: E402

N_IN, WIDTH, DEPTH, CLASSES, BATCH = 20, 16, 6, 10, 8
SEED = 0
# (activation, keep_in_layers name) -> pairs[0] in Keras' layer list: 0 input_1, then
# dense, activation, dense_1, activation_1, ... dense_5, activation_5 (12), dense_6 (13)
CASES = {
    "sin_input": ("sin", "input_1"),  # Dense+sin on the input: 16 x 20, cut to 16 x 16
    "sin_hidden": ("sin", "activation_1"),  # Dense_2+sin: square 16 x 16
    "sin_act_dense": ("sin", "dense_2"),  # sin then Dense_3 (from a pre-activation)
    "sin_act_readout": ("sin", "dense_5"),  # sin then the readout: 10 x 16
    "sin_readout": ("sin", "activation_5"),  # the readout alone: 10 x 16, cut to 10 x 10
    "relu_hidden": ("relu", "activation_1"),
    "relu_act_dense": ("relu", "dense_2"),
}


def _absent_modules(*names: str) -> None:
    """ffnandcnns imports, at module level, sklearn's train_test_split (for its ``main``) and,
    through esoteric_callbacks, GPUtil (a memory callback): neither is on build_ffn's path. Where
    the venv lacks one, a placeholder module whose every attribute refuses to run."""
    for name in names:
        try:
            __import__(name)
            continue
        except ImportError:
            pass
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            qualified = ".".join(parts[:depth])
            if qualified not in sys.modules:
                module = types.ModuleType(qualified, "crosscheck placeholder: not installed, not used")
                module.__path__ = []
                module.__getattr__ = _refuse(qualified)
                sys.modules[qualified] = module


def _refuse(module: str):
    def getattr_(attribute: str):
        def refuse(*args, **kwargs):
            raise NotImplementedError(f"crosscheck placeholder {module}.{attribute} was called")
        return refuse
    return getattr_


def fixed_weights(rng: np.random.Generator) -> list[np.ndarray]:
    """Keras-layout [kernel, bias] per Dense: Glorot-scale normals and small nonzero biases."""
    sizes = [N_IN] + [WIDTH] * DEPTH + [CLASSES]
    weights = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        std = 1.3 * np.sqrt(2.0 / (fan_in + fan_out))
        weights.append((std * rng.standard_normal((fan_in, fan_out))).astype(np.float32))
        weights.append((0.2 * rng.standard_normal(fan_out)).astype(np.float32))
    return weights


class OneBatch:
    """The generator interface apply_LSC_no_time reads: one epoch of one step, one batch."""

    epochs, steps_per_epoch = 1, 1

    def __init__(self, x: np.ndarray):
        self.x = x

    def on_epoch_end(self):
        pass

    def __getitem__(self, step):
        return self.x, np.zeros(len(self.x))


def install_recorders(tf, tfa, nonrecLSC, recLSC, record: dict) -> None:
    """Wrap the reference calls whose inputs and outputs the golden keeps."""
    original_split, original_norms, original_sample = nonrecLSC.split_model, nonrecLSC.get_norms, recLSC.sample_axis

    def split_model(model, pairs):
        record["pairs"] = list(pairs)
        return original_split(model, pairs)

    def get_norms(tape=None, lower_states=None, upper_states=None, **kwargs):
        upper = tf.squeeze(upper_states[0])
        record["h"] = lower_states[0].numpy()
        record["jacobian"] = tape.batch_jacobian(upper, lower_states[0]).numpy()
        norms, loss, naswot = original_norms(tape, lower_states, upper_states, **kwargs)
        record["radii"], record["loss"] = norms.numpy(), loss.numpy()
        return norms, loss, naswot

    def sample_axis(tensor, max_dim=1024, return_deshuffling=False, axis=1, samples_indices=None):
        out = original_sample(tensor, max_dim=max_dim, return_deshuffling=return_deshuffling, axis=axis,
                              samples_indices=samples_indices)
        record["cut"] = (np.asarray(tensor), np.asarray(out), axis)
        return out

    class RecordingLookahead(tfa.optimizers.Lookahead):
        def apply_gradients(self, grads_and_vars, *args, **kwargs):
            grads_and_vars = list(grads_and_vars)
            record["grads"] = {v.name: g.numpy() for g, v in grads_and_vars if g is not None}
            record["no_grad"] = [v.name for g, v in grads_and_vars if g is None]
            return super().apply_gradients(grads_and_vars, *args, **kwargs)

    nonrecLSC.split_model, nonrecLSC.get_norms, recLSC.sample_axis = split_model, get_norms, sample_axis
    tfa.optimizers.Lookahead = RecordingLookahead


def kept_indices(full: np.ndarray, cut: np.ndarray, axis: int) -> np.ndarray:
    """Which slices of ``full`` along ``axis`` the cut kept, in order (sample_axis keeps them
    sorted), recovered by matching values."""
    full_slices, cut_slices = np.moveaxis(full, axis, 0), np.moveaxis(cut, axis, 0)
    indices, start = [], 0
    for piece in cut_slices:
        match = next(i for i in range(start, len(full_slices)) if np.array_equal(full_slices[i], piece))
        indices.append(match)
        start = match + 1
    return np.array(indices, dtype=np.int64)


def run_case(activation: str, keep_in: str, weights: list, x: np.ndarray, modules) -> dict:
    tf, tfa, ffnandcnns, nonrecLSC = modules
    record: dict = {}
    install_recorders(tf, tfa, nonrecLSC, sys.modules["alif_sg.neural_models.recLSC"], record)
    args = argparse.Namespace(layers=DEPTH, width=WIDTH, initialization="glorot_normal",
                              activation={"sin": tf.math.sin, "relu": "relu"}[activation])

    def build_model():
        model = ffnandcnns.build_ffn(args, (N_IN,), CLASSES)
        model.set_weights(weights)
        return model

    tf.keras.backend.clear_session()  # fresh layer names: dense, dense_1, ...
    after, results = nonrecLSC.apply_LSC_no_time(
        build_model, generator=OneBatch(x), max_dim=200000, norm_pow=2, forward_lsc=False, nlayerjump=2,
        net_name="ffn", task_name="crosscheck", activation=activation, seed=SEED, learning_rate=1e-4,
        comments="findLSC_radius_adabelief", keep_in_layers=[keep_in])
    # the step's own record of its mean radius and loss (results' strings) against what was kept
    step_norm, step_loss = float(results["LSC_norms"].strip("[]")), float(results["LSC_losses"].strip("[]"))
    if not np.allclose([step_norm, step_loss], [np.mean(record["radii"]), record["loss"]], rtol=1e-5):
        raise RuntimeError(f"the recorded radii and loss are not the step's: {results}")
    arrays = {"pairs": np.array(record["pairs"]), "h": record["h"], "jacobian": record["jacobian"],
              "radii": record["radii"], "loss": np.float32(record["loss"])}
    if "cut" in record:
        full, cut, axis = record["cut"]
        arrays["cut_axis"] = np.int64(axis)
        arrays["cut_indices"] = kept_indices(full, cut, axis)
    for name, grad in record["grads"].items():
        arrays[f"grad__{name.split(':')[0].replace('/', '__')}"] = grad
    arrays["no_grad"] = np.array(record["no_grad"], dtype=str)
    return arrays


def main() -> None:
    _absent_modules("sklearn.model_selection", "GPUtil")
    import tensorflow as tf
    import tensorflow_addons as tfa

    from alif_sg import ffnandcnns
    from alif_sg.neural_models import nonrecLSC

    rng = np.random.default_rng(24)
    weights = {"sin": fixed_weights(rng), "relu": fixed_weights(rng)}
    x = rng.standard_normal((BATCH, N_IN)).astype(np.float32)
    arrays = {"x": x}
    for activation, w in weights.items():
        for i, array in enumerate(w):
            arrays[f"weights__{activation}__{i}"] = array
    for case, (activation, keep_in) in CASES.items():
        for key, value in run_case(activation, keep_in, weights[activation], x,
                                   (tf, tfa, ffnandcnns, nonrecLSC)).items():
            arrays[f"{case}__{key}"] = value
    golden.save(
        "ffn_lsc_step", arrays,
        reference={"repo": "LuCeHe/stable_drnn", "commit": "4b667ae723d4a1a8755bac1e920096421f9d93fc",
                   "file": "neural_models/nonrecLSC.py", "function": "apply_LSC_no_time (one step); "
                   "ffnandcnns.py build_ffn; recLSC.py get_norms (radius)"},
        inputs=f"x: ({BATCH}, {N_IN}) standard normals, weights__<act>__<i>: Keras get_weights() order, "
               "kernels 1.3 x Glorot-std normals, biases N(0, 0.2^2), numpy default_rng(24) "
               f"(sin net first, then relu, then x); build_ffn(layers={DEPTH}, width={WIDTH}, classes="
               f"{CLASSES}); seed {SEED}; keep_in_layers per case: " +
               ", ".join(f"{c}={k}" for c, (_, k) in CASES.items()),
        notes="Per case <case>__: pairs (the reference's [pairs[0], pairs[1]] in Keras' layer list, "
              "input layer at 0), h (the site's input batch), jacobian (full per-sample Jacobian of the "
              "site, out x in, from the reference's own tape), cut_axis and cut_indices (get_norms' "
              "sample_axis of a non-square Jacobian: the rows (axis 1) or columns (axis 2) kept), radii "
              "(per sample, radius mode), loss (well_loss squared = mean (rho - 1)^2), grad__dense_k__"
              "kernel/bias (what the step handed Lookahead(AdaBelief); Keras layout), no_grad (variables "
              "of the site whose gradient is None). Glue: a one-batch generator object and the wrappers "
              "that record the reference's calls; nothing of the step itself is re-run here.")


if __name__ == "__main__":
    main()
