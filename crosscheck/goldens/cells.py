"""Goldens cell_<name>: one layer of each Figure-3 cell, as the reference builds it, run forward over
fixed inputs, with the gradients of a fixed scalar with respect to every weight and the inputs.

The layer is ``ModelBuilder(...).rnns[0]`` of stable_spike@67f1ce7 ``neural_models/full_model.py``
(one layer, ``stack=1``): the reference's own glue picks tau (``tauv``, .1), tau_adaptation
(``taub``, int(in_len / 2)), thr (.01), the swish of rsimplernn on PTB, the comments and the
``_stacki:0`` tag; ``Expert`` wraps the cell in ``tf.keras.layers.RNN``. The comments are the
Figure-3 prefix of the README's run commands plus the ``_dampf:.5`` that training.py appends.
With ``embedding=False`` the layer's input width is n_in (not the embedding's), so a transposed
kernel cannot pass unseen.

Per golden: ``input`` (B, T, I), ``probe`` R (B, T, n), ``weight/<name>`` (the Keras variables by
their short names), ``output`` (B, T, n) at every step, ``state/<k>`` (the final states in the
cell's order), ``loss`` = sum(output * R), ``grad/<name>`` and ``grad/input``. The ALIF cells
add ``voltage``, ``threshold`` (thr + beta a_t) and ``v_scaled`` (v_t - threshold) at every step.
``second/...``: the same for a second input segment that starts from the first's final states
(the carried state of a stateful PTB layer), with the gradients of its own loss (the carried
state a constant). Goldens cell_*_reoldspike: the ALIF cells with the '_reoldspike' that
training.py adds for the LSC (state (v, a); the port's ALIFView). Goldens cell_net_*: whole
two-layer networks of ``build_model`` (embedding, tied or Dense readout, layer wiring).
"""

from __future__ import annotations

ERA = "fig3"

import numpy as np  # noqa: E402

BATCH, STEPS, N_IN, WIDTH, N_OUT = 3, 24, 10, 14, 20
FIG3_COMMENTS = "allns_36_embproj_nogradreset_dropout:.3_timerepeat:2_pretrained" + "_dampf:.5"
# golden name -> (net_name, task_name, extra comments); rsimplernn is swish on PTB and relu on
# SHD / sl-MNIST; '_reoldspike' is what training.py adds for the LSC: state (v, a), and z_{t-1}
# recomputed as H(v - thr - beta a) with the surrogate
CELLS = {
    "LSTM": ("LSTM", "wordptb", ""),
    "GRU": ("GRU", "wordptb", ""),
    "rsimplernn": ("rsimplernn", "wordptb", ""),
    "rsimplernn_relu": ("rsimplernn", "heidelberg", ""),
    "ssimplernn": ("ssimplernn", "wordptb", ""),
    "maLSNN": ("maLSNN", "wordptb", ""),
    "maLSNNb": ("maLSNNb", "wordptb", ""),
    "maLSNN_reoldspike": ("maLSNN", "wordptb", "_reoldspike"),
    "maLSNNb_reoldspike": ("maLSNNb", "wordptb", "_reoldspike"),
}
# golden name -> (net_name, task_name, stack): whole two-layer networks of build_model, for the
# embedding, the tied (PTB) or Dense readout and the layer wiring; dropout off (training=False)
NETWORKS = {
    "net_GRU_ptb": ("GRU", "wordptb", f"10:{WIDTH}"),
    "net_maLSNN_shd": ("maLSNN", "heidelberg", f"10:{WIDTH}"),
}
SEED = 24
REFERENCE = {"repo": "LuCeHe/stable_spike", "commit": "67f1ce7796a0ee16b29c478cf7d193e25e9ef9f2",
             "file": "neural_models/full_model.py",
             "function": "ModelBuilder(...).rnns[0] (Expert -> tf.keras.layers.RNN(cell)); "
                         "LSNN cells from neural_models/lsnn.py"}
# a spike that a float32 rounding could flip makes a golden useless: keep |v - thr| above this
MIN_SPIKE_MARGIN = 1e-4


def build_layer(net: str, task: str, extra: str = ""):
    """The reference's first layer for ``net`` on ``task`` (its own ModelBuilder)."""
    from sg_design_lif.neural_models.full_model import ModelBuilder

    comments = FIG3_COMMENTS + extra + f"_batchsize:{BATCH}_maxlen:{STEPS}"
    builder = ModelBuilder(
        task_name=task, net_name=net, n_neurons=WIDTH, lr=None, stack=1,
        loss_name="sparse_categorical_crossentropy", embedding=False, optimizer_name="SWAAdaBeliefLA",
        lr_schedule="", weight_decay=0.0, clipnorm=None, initializer="glorot_uniform",
        comments=comments, in_len=STEPS, n_in=N_IN, out_len=STEPS, n_out=N_OUT, final_epochs=1)
    return builder.rnns[0]


def randomise_gate_biases(rnn, rng: np.random.Generator, arrays: dict) -> str:
    """LSTM / GRU start with (almost) zero biases: seeded draws added, so the bias layout counts;
    the initialised bias is kept as ``initial/bias``."""
    if rnn.cell.__class__.__name__ not in ("LSTMCell", "GRUCell"):
        return ""
    (bias,) = [w for w in rnn.weights if w.name.split("/")[-1].startswith("bias")]
    arrays["initial/bias"] = bias.numpy()
    bias.assign(bias.numpy() + 0.3 * rng.standard_normal(bias.shape).astype(np.float32))
    return "The LSTM/GRU bias is the initialised value (initial/bias) plus 0.3 N(0, 1) draws (seeded). "


def describe_cell(cell) -> str:
    """What the reference's cell was built with, for the golden's notes."""
    if hasattr(cell, "spike_type"):
        return (f"{type(cell).__name__}: surrogate dampening {cell.spike_type.dampening}, sharpness "
                f"{cell.spike_type.sharpness}, config {cell.config!r}. ")
    activation = getattr(cell, "activation", None)
    return f"{type(cell).__name__}: activation {getattr(activation, '__name__', activation)}. "


def call_rnn(rnn, x, probe, spiking: bool, initial_state=None) -> dict:
    """One call of the reference's RNN layer under a tape: its outputs, final states, the loss
    sum(output * R) and the gradients by the input and every trainable weight (Keras names)."""
    import tensorflow as tf

    from crosscheck.weightmap.rnn import short_name

    with tf.GradientTape() as tape:
        tape.watch(x)
        all_out = rnn(inputs=x, initial_state=initial_state)  # as Expert.__call__ (win: identity)
        outputs, states = (all_out[:4], all_out[4:]) if spiking else (all_out[:1], all_out[1:])
        loss = tf.reduce_sum(outputs[0] * probe)
    weights = list(rnn.trainable_weights)
    grads = tape.gradient(loss, [x] + weights)
    arrays = {"input": x.numpy(), "probe": probe, "output": outputs[0].numpy(), "loss": loss.numpy(),
              "grad/input": grads[0].numpy()}
    arrays.update({f"grad/{short_name(w.name)}": g.numpy() for w, g in zip(weights, grads[1:])})
    arrays.update({f"state/{k}": s.numpy() for k, s in enumerate(states)})
    if spiking:  # outputs [z, v, thr + beta a, v_sc] of lsnn.py's prepare_outputs
        arrays.update(voltage=outputs[1].numpy(), threshold=outputs[2].numpy(), v_scaled=outputs[3].numpy())
    return {"arrays": arrays, "states": states}


def spike_note(name: str, arrays: dict) -> str:
    margin = float(np.abs(arrays["v_scaled"]).min())
    if margin < MIN_SPIKE_MARGIN:
        raise SystemExit(f"{name}: |v - thr| reaches {margin:.2e}; pick another SEED")
    return f"spike rate {arrays['output'].mean():.3f}, smallest |v - thr| {margin:.2e}"


def run_cell(name: str) -> tuple[dict, str]:
    """Segment 1 from zero states; segment 2 (``second/...``) carries segment 1's final states,
    through the stateful layer's own carry on PTB, else as ``initial_state``."""
    import tensorflow as tf
    from pyaromatics.stay_organized.utils import setReproducible

    from crosscheck.weightmap.rnn import short_name

    net, task, extra = CELLS[name]
    # as training.py: Keras' unseeded initializers draw their op seeds from numpy's global RNG
    setReproducible(SEED, prove_seed=False)
    tf.random.set_seed(SEED)
    rng = np.random.default_rng(SEED)
    rnn = build_layer(net, task, extra).rnn
    initial: dict = {}
    note = randomise_gate_biases(rnn, rng, initial) + describe_cell(rnn.cell)
    spiking = "LSNN" in net
    segments = []
    for _ in range(2):
        x = tf.constant(rng.standard_normal((BATCH, STEPS, N_IN)).astype(np.float32))
        probe = rng.standard_normal((BATCH, STEPS, WIDTH)).astype(np.float32)
        if not segments and rnn.stateful:
            rnn.reset_states()
        carried = None if not segments or rnn.stateful else list(segments[-1]["states"])
        segments.append(call_rnn(rnn, x, probe, spiking, carried))
    arrays = dict(segments[0]["arrays"], **initial)
    arrays.update({f"second/{k}": v for k, v in segments[1]["arrays"].items()})
    arrays.update({f"weight/{short_name(w.name)}": w.numpy() for w in rnn.trainable_weights})
    if spiking:
        note += (f"Segment 1 {spike_note(name, segments[0]['arrays'])}; segment 2 "
                 f"{spike_note(name, segments[1]['arrays'])} (no spike flips under float32 rounding). ")
    return arrays, note


def build_network(net: str, task: str, stack: str):
    """The reference's whole network (its own build_model), embedding as a PTB run has it."""
    from pyaromatics.keras_tools.esoteric_tasks.time_task_redirection import language_tasks
    from sg_design_lif.neural_models.full_model import build_model

    language = task in language_tasks
    return build_model(
        task_name=task, net_name=net, n_neurons=WIDTH, lr=1e-3, stack=stack,
        loss_name="sparse_categorical_crossentropy",
        embedding=f"learned:None:None:{WIDTH}" if language else False,
        optimizer_name="SWAAdaBeliefLA", lr_schedule="", weight_decay=0.0, clipnorm=None,
        initializer="glorot_uniform", comments=FIG3_COMMENTS + f"_batchsize:{BATCH}_maxlen:{STEPS}",
        in_len=STEPS, n_in=1 if language else N_IN, out_len=STEPS, n_out=N_OUT, final_epochs=1,
        timesteps=STEPS), language


def run_network(name: str) -> tuple[dict, str]:
    import tensorflow as tf
    from pyaromatics.stay_organized.utils import setReproducible

    from crosscheck.weightmap.rnn import keras_model_weights

    net, task, stack = NETWORKS[name]
    setReproducible(SEED, prove_seed=False)
    tf.random.set_seed(SEED)
    rng = np.random.default_rng(SEED)
    model, language = build_network(net, task, stack)
    if language:
        x = tf.constant(rng.integers(0, N_OUT, (BATCH, STEPS, 1)).astype(np.float32))
    else:
        x = tf.constant(rng.standard_normal((BATCH, STEPS, N_IN)).astype(np.float32))
    targets = tf.constant(rng.integers(0, N_OUT, (BATCH, STEPS)).astype(np.float32))
    probe = rng.standard_normal((BATCH, STEPS, N_OUT)).astype(np.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = model([x, targets], training=False)  # training=False: the Dropout layers pass
        loss = tf.reduce_sum(logits * probe)
    named = keras_model_weights(model)
    variables = [w for layer in model.layers for w in layer.weights]
    grads = tape.gradient(loss, [x] + variables, unconnected_gradients="zero")
    arrays = {"input": x.numpy(), "probe": probe, "output": logits.numpy(), "loss": loss.numpy()}
    if not language:
        arrays["grad/input"] = grads[0].numpy()
    for key, grad in zip(named, grads[1:]):
        arrays[f"weight/{key}"], arrays[f"grad/{key}"] = named[key], grad.numpy()
    readout = "tied h @ E^T (embproj)" if language else "Dense decoder (simplereadout)"
    return arrays, f"Layers {[l.name for l in model.layers]}; readout {readout}. "


def main() -> None:
    from crosscheck import golden

    for name in CELLS:
        arrays, note = run_cell(name)
        net, task, extra = CELLS[name]
        golden.save(
            f"cell_{name}", arrays, reference=REFERENCE,
            inputs=(f"one {net} layer (task_name {task!r}, n_in {N_IN}, width {WIDTH}, stack 1, "
                    f"embedding False), setReproducible({SEED}) and tf.random.set_seed({SEED}) before the "
                    f"build; from numpy default_rng({SEED}): bias draws (LSTM/GRU), then per segment an "
                    f"input ~ N(0, 1) ({BATCH}, {STEPS}, {N_IN}) and a probe R ~ N(0, 1); loss = sum(output * R)"),
            notes=(f"Comments {FIG3_COMMENTS + extra!r} + batchsize/maxlen tags. The first segment starts from "
                   "zero states (reset_states of the stateful PTB layer), the second from the states "
                   "the first left. " + note
                   + "Glue: only the RNN calls, the loss and the tape (reference calls otherwise)."))
        print(f"cell_{name}: {sorted(arrays)}", flush=True)
    for name, (net, task, stack) in NETWORKS.items():
        arrays, note = run_network(name)
        golden.save(
            f"cell_{name}", arrays, reference=dict(REFERENCE, function="build_model (ModelBuilder.input2output)"),
            inputs=(f"{net} network, task_name {task!r}, stack {stack!r}, n_out {N_OUT}, seeded as the cells; "
                    f"input ({BATCH}, {STEPS}) token ids or N(0, 1) floats, targets (unused by the logits) and "
                    f"probe R from numpy default_rng({SEED}); loss = sum(logits * R); weights keyed "
                    "'<Keras layer>/<variable>'"),
            notes=note + "Glue: only the model call with training=False, the loss and the tape.")
        print(f"cell_{name}: {sorted(arrays)}", flush=True)


if __name__ == "__main__":
    main()
