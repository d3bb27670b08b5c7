"""Goldens of the ResLRU (Figure 4, Table 1): ``lru_block`` and ``lru_lsc_step``.

``lru_block``: the ``reslruffn`` block as stable_spike@d253a69 ``full_model.py`` builds it
(``Expert(net_name='reslruffn')`` -> pyaromatics@61c9b10 ``ResLRUFFN(num_neurons=H)``, dop
0.1, called with training=False: dropout off), forward on fixed inputs and the gradients of
the fixed scalar sum(out * R) w.r.t. every weight and the inputs, for a block without
(I = H) and with (I != H) the adapter. Weights: the reference's own initialisation (TF seed
fixed), then seeded numpy offsets on the LayerNorm and Dense parameters that it initialises
to 1 and 0, so that each of them is seen in the numbers.

``lru_lsc_step`` and ``lru_lsc_step_unbalanced``: one iteration of stable_drnn@c128682
``neural_models/lruLSC.py`` ``lruLSC`` itself (stack 2, width 8, batch 8, seed 3; comments
``findLSC_radius``, Figure 4's target 1, and ``findLSC_radius_targetnorm:0.5_unbalanced``;
both with the ``wmultiplier_wshuff`` that lruLSC appends). Stack 2 because after one
iteration a third cell would still be unbuilt, and ``compare_to_default_scales`` (run after
the loop) then builds it on a 2H-wide input and fails: after the reference's 500 iterations
every cell has been built. Instrumentation only, every number is the
reference's: ``tqdm`` (the module's name) yields one step instead of 500; ``ResLRUCell``
(the module's name) is wrapped to keep the cells; ``get_norms`` is wrapped to record its
states in, its radii out and (first call) the weights before the iteration; and
``np.random.shuffle`` is wrapped to record each permutation (the wrapper runs the original
shuffle and checks that the recorded permutation gives the same result). The input of the
first layer is not an argument of any reference function: it is redrawn after
``tf.random.set_seed(seed)`` in the order the loop draws it, and checked by its states,
which ``get_norms`` received. ``GEXPERIMENTS`` points at a temporary folder, so that no
earlier pretrained file is loaded. The one call replaced, not wrapped, is the save path
after the loop, ``equivalence_and_save`` (``_skip_save``: it only reads the cells, and
takes minutes).
"""

ERA = "lru"

import operator  # noqa: E402
import tempfile  # noqa: E402

import numpy as np  # noqa: E402

from crosscheck import golden  # noqa: E402
from crosscheck.weightmap import lru as lrumap  # noqa: E402

BATCH, STEPS, WIDTH = 2, 24, 12
CASES = {"same": WIDTH, "adapter": 5}  # block input width I
LSC = dict(comments="findLSC_radius", seed=3, stack=2, width=8, classes=2, vocab_size=7, maxlen=10,
           batch_size=8)
# golden name -> lruLSC arguments. Target 1 (Figure 4's default): the time factor 1/0.985 is
# inside the clip, the depth factor (radii near 0.05) clips at 1.05. Unbalanced at maxlen 40
# (the same cells and draws): rho_t* = 40/42 and rho_l* = 2/42 give the unclipped factors
# 0.967 and 0.983 (the depth one a mean of ratios; the ratio of means, 0.863, would clip).
LSC_CASES = {"lru_lsc_step": LSC,
             "lru_lsc_step_unbalanced": dict(LSC, comments="findLSC_radius_targetnorm:0.5_unbalanced", maxlen=40)}
REF_LRU = "keras_tools/esoteric_layers/linear_recurrent_unit.py"


def _commits() -> dict:
    from crosscheck.sources import era_commits
    return era_commits(ERA)


def _check_order(layer, n_weights: int) -> list[str]:
    """Assert that ``layer.weights`` is the map's order (by object identity); return the names."""
    table = lrumap.entries(n_weights > len(lrumap.BLOCK))
    assert len(layer.weights) == len(table), (len(layer.weights), len(table))
    for i, (entry, variable) in enumerate(zip(table, layer.weights)):
        assert operator.attrgetter(entry.keras_path)(layer) is variable, (i, entry, variable.name)
    return [v.name for v in layer.weights]


def _offset_weights(weights: list, rng: np.random.Generator) -> list:
    """LayerNorm gamma/beta and the Dense biases start at 1 and 0: give them seeded offsets."""
    out = [w.copy() for w in weights]
    for i, entry in enumerate(lrumap.entries(len(out) > len(lrumap.BLOCK))):
        if entry.keras_path in ("norm.gamma", "norm.beta") or entry.keras_path.endswith("bias"):
            out[i] = (out[i] + rng.normal(0.0, 0.3, out[i].shape)).astype(np.float32)
    return out


def block_case(tag: str, n_in: int, rng: np.random.Generator) -> dict:
    import tensorflow as tf
    from sg_design_lif.neural_models.full_model import Expert

    expert = Expert(0, 0, False, "wordptb", "reslruffn", n_neurons=WIDTH, tau=.1,
                    initializer="glorot_uniform", tau_adaptation=50, n_out=10, comments="")
    block = expert.rnn
    x = tf.Variable(rng.normal(size=(BATCH, STEPS, n_in)).astype(np.float32))
    block(x, training=False)  # builds it
    names = _check_order(block, len(block.weights))
    block.set_weights(_offset_weights(block.get_weights(), rng))
    cotangent = tf.constant(rng.normal(size=(BATCH, STEPS, WIDTH)).astype(np.float32))
    with tf.GradientTape() as tape:
        out = block(x, training=False)
        loss = tf.reduce_sum(out * cotangent)
    grads = tape.gradient(loss, block.trainable_weights + [x])
    again = block(x, training=False)
    assert np.array_equal(out.numpy(), again.numpy()), "dropout is not off"
    arrays = {f"{tag}.x": x.numpy(), f"{tag}.cotangent": cotangent.numpy(), f"{tag}.out": out.numpy(),
              f"{tag}.loss": np.float32(loss.numpy()), f"{tag}.grad_x": grads[-1].numpy(),
              f"{tag}.names": np.array(names)}
    for i, (w, g) in enumerate(zip(block.get_weights(), grads[:-1])):
        arrays[f"{tag}.w{i:02d}"], arrays[f"{tag}.g{i:02d}"] = w, g.numpy()
    return arrays


def block_golden() -> None:
    import tensorflow as tf
    tf.keras.utils.set_random_seed(0)  # Python's random too: unseeded Keras initialisers draw from it
    rng = np.random.default_rng(24)
    arrays = {}
    for tag, n_in in CASES.items():
        arrays.update(block_case(tag, n_in, rng))
    golden.save("lru_block", arrays, reference={
        "repo": "py-aromatics (block), stable_spike (builder)", "commit": _commits(),
        "file": f"pyaromatics/{REF_LRU} (ResLRUFFN, GEGLU in geglu.py); "
                "sg_design_lif/neural_models/full_model.py (Expert)",
        "function": "full_model.Expert(net_name='reslruffn').rnn = ResLRUFFN(num_neurons=H), "
                    "called with training=False"},
        inputs=f"H={WIDTH}, batch {BATCH}, {STEPS} steps; cases {CASES} (block input width); "
               "x ~ N(0,1) and cotangent R ~ N(0,1) from numpy default_rng(24); weights: the reference's "
               "initialisation after tf.keras.utils.set_random_seed(0), LayerNorm gamma/beta and Dense biases + N(0, 0.3)",
        notes="<tag>.w<i>: Keras get_weights() order (crosscheck/weightmap/lru.py), <tag>.g<i> the gradient "
              "of loss = sum(out * cotangent) w.r.t. it, <tag>.grad_x w.r.t. the input; <tag>.names the "
              "variable names. Dropout (dop 0.1) off: training=False, checked by a second call.")


class Recorder:
    """Wrappers around reference calls that keep what they saw (see the module docstring)."""

    def __init__(self, lsc_module, original_shuffle):
        self.module, self.original_shuffle = lsc_module, original_shuffle
        self.real_get_norms, self.real_cell = lsc_module.get_norms, lsc_module.ResLRUCell
        self.cells, self.norms, self.states, self.perms, self.before = [], [], [], [], None

    def cell(self, *args, **kwargs):
        cell = self.real_cell(*args, **kwargs)
        self.cells.append(cell)
        return cell

    def get_norms(self, *args, **kwargs):
        if self.before is None:  # first call: after the forward, before wmultiplier
            self.before = [c.get_weights() if c.built else None for c in self.cells]
        norms, loss, extra = self.real_get_norms(*args, **kwargs)
        self.states.append(kwargs["lower_states"][0].numpy())
        self.norms.append(norms.numpy())
        return norms, loss, extra

    def shuffle(self, x):
        state = np.random.get_state()
        expected = list(x) if isinstance(x, list) else np.array(x, copy=True)
        self.original_shuffle(expected)
        np.random.set_state(state)
        perm = np.arange(len(x))
        self.original_shuffle(perm)
        if isinstance(x, list):
            assert [id(v) for v in expected] == [id(x[i]) for i in perm]
            x[:] = expected
        else:
            assert np.array_equal(expected, x[perm])
            x[...] = expected
        self.perms.append(perm)

    @staticmethod
    def one_step(iterable=None, *args, **kwargs):
        from tqdm import tqdm
        return [0] if iterable is not None else tqdm(*args, disable=True, **kwargs)


def _redraw_inputs(seed: int, batch: int, width: int):
    """The loop's first draws after tf.random.set_seed(seed): inputs_t1, l1's two states."""
    import tensorflow as tf
    tf.random.set_seed(seed)
    inputs = tf.random.normal((batch, 1, width)).numpy()
    states = [tf.random.normal((batch, 2 * width)).numpy() for _ in range(2)]
    return inputs[:, 0], np.concatenate(states, axis=-1)


def _skip_save(*args, **kwargs):
    """Stands in for lruLSC's save path, ``equivalence_and_save`` (after the loop: copies the
    cells into ResLRUFFNs under an Embedding and writes an .h5). Keras traces tfp's
    scan_associative over an unknown length there, 2.5 of the run's 2.7 minutes per case,
    and it reads the cells without changing them."""
    return None


def run_one_iteration(arguments: dict):
    import alif_sg.neural_models.lruLSC as lsc_module
    import tensorflow as tf
    original_shuffle = np.random.shuffle
    recorder = Recorder(lsc_module, original_shuffle)
    patched = {"tqdm": recorder.one_step, "ResLRUCell": recorder.cell, "get_norms": recorder.get_norms,
               "equivalence_and_save": _skip_save}
    saved = {name: getattr(lsc_module, name) for name in [*patched, "GEXPERIMENTS"]}
    with tempfile.TemporaryDirectory() as folder:
        try:
            for name, value in {**patched, "GEXPERIMENTS": folder}.items():
                setattr(lsc_module, name, value)
            np.random.shuffle = recorder.shuffle
            # lruLSC seeds TF and numpy; its unseeded Keras initialisers take their op seeds
            # from Keras' seed generator (else Python's random), which it leaves alone: the
            # reference's own runs were not repeatable. Seeded here, before the call.
            tf.keras.utils.set_random_seed(arguments["seed"])
            _, results = lsc_module.lruLSC(**arguments)
        finally:
            np.random.shuffle = original_shuffle
            for name, value in saved.items():
                setattr(lsc_module, name, value)
    return recorder, results


def lsc_golden(name: str, arguments: dict) -> None:
    recorder, results = run_one_iteration(arguments)
    stack = arguments["stack"]
    # the loop swallows exceptions: check that the one iteration ran to its end
    weights_per_cell = len(lrumap.BLOCK)
    assert len(recorder.norms) == 2 and len(recorder.perms) == 1 + 2 * weights_per_cell, \
        (len(recorder.norms), len(recorder.perms))
    pair = [int(i) for i in recorder.perms[0][:2]]  # rnns[k] wrapped cells[k] before the shuffle
    x, s1 = _redraw_inputs(arguments["seed"], arguments["batch_size"], arguments["width"])
    assert np.array_equal(s1, recorder.states[0]) and np.array_equal(s1, recorder.states[1])
    arrays = {"pair": np.array(pair), "x": x, "s1": s1, "a_t": recorder.norms[0], "a_l": recorder.norms[1],
              "tn_t": np.float64(results["tn_t"]), "tn_l": np.float64(results["tn_l"])}
    cells = recorder.cells[:stack]
    for k, index in enumerate(pair):
        _check_order(cells[index], weights_per_cell)
        for i, (before, after) in enumerate(zip(recorder.before[index], cells[index].get_weights())):
            arrays[f"before.{k}.w{i:02d}"], arrays[f"after.{k}.w{i:02d}"] = before, after
            arrays[f"perm.{k}.w{i:02d}"] = recorder.perms[1 + k * weights_per_cell + i]
    golden.save(name, arrays, reference={
        "repo": "stable_drnn (lruLSC), py-aromatics (ResLRUCell)", "commit": _commits(),
        "file": f"alif_sg/neural_models/lruLSC.py; pyaromatics/{REF_LRU}; alif_sg/neural_models/normify.py",
        "function": f"lruLSC(**{arguments}) for one of its iterations"},
        inputs=f"the reference's own draws: tf.keras.utils.set_random_seed({arguments['seed']}) here (Keras' initialiser seeds), then tf.random.set_seed and np.random.seed inside lruLSC (cell "
               "initialisation, Gaussian inputs and states, the pair shuffle, the weight shuffles)",
        notes="pair = (l1, l2): indices of the cells np.random.shuffle(rnns) put first; x (B, H): l1's input "
              "(inputs_t1[:, 0]), s1 (B, 4H): l1's [Re, Im] state; a_t, a_l: get_norms' per-sample radii of "
              "d s1'/d s1 and d s2'/d s1; tn_t, tn_l the targets. before/after.<k>.w<i>: cell pair[k]'s "
              "get_weights() (crosscheck/weightmap/lru.py order) before the wmultiplier and after the halves "
              "copy; perm.<k>.w<i>: the permutation np.random.shuffle applied to that weight's flattened "
              "(Keras-layout, row-major) array: shuffled = flat[perm]. Glue: the one-step tqdm and the "
              "recording wrappers (module docstring); x is redrawn after the same tf.random.set_seed and "
              "checked through s1.")


if __name__ == "__main__":
    block_golden()
    for name, arguments in LSC_CASES.items():
        lsc_golden(name, arguments)
