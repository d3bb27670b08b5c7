"""Seconds per LSC step of the reference's TensorFlow algorithm (stable_drnn
nonrecLSC.apply_LSC_no_time, radius mode), written from its description, so that
benchmarks/lsc_step.py can put it next to ours on the same machine in the same minutes.

It needs TensorFlow, which this project does not depend on; run it with a Python that has
it (a separate virtual environment keeps TensorFlow's pins out of the project's):

    python -m venv /tmp/tf && /tmp/tf/bin/pip install tensorflow-cpu
    /tmp/tf/bin/python benchmarks/reference_tf_step.py --batches 512 64
    python benchmarks/lsc_step.py --tf-python /tmp/tf/bin/python

One step, as the reference does it (Figure 2's net: 784 -> 30 x [Dense(128), sin] -> 10):
- rebuild the Keras model and set its weights (it clears the session every step);
- split it at a random Dense+activation pair: a model up to the pair's input and one for
  the pair;
- under a GradientTape: forward, the per-sample Jacobians (batch_jacobian with pfor),
  tf.linalg.eig, max |eigenvalue|, loss mean((rho - 1)^2);
- the gradient with respect to the pair's weights and an optimiser step.
The reference's optimiser is tensorflow-addons' AdaBelief inside Lookahead; that package
no longer installs with current TensorFlow, so AdamW takes its place (an optimiser step
on 128 x 128 weights is a negligible part of a step). Prints one line per batch size:
"<batch> <median seconds>".
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ logs; Python warnings below

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.get_logger().setLevel("ERROR")  # the eig gradient's complex-to-real casts warn per step

DEPTH, WIDTH, INPUTS, CLASSES = 30, 128, 784, 10


def build_model() -> tf.keras.Model:
    layers = [tf.keras.Input((INPUTS,))]
    for _ in range(DEPTH):
        layers += [tf.keras.layers.Dense(WIDTH), tf.keras.layers.Activation(tf.sin)]
    layers.append(tf.keras.layers.Dense(CLASSES))
    return tf.keras.Sequential(layers)


def split(model: tf.keras.Model, first: int, last: int):
    """The layers before hidden layer ``first`` and the layers ``first`` .. ``last``."""
    before = tf.keras.Sequential([tf.keras.Input((INPUTS,)), *model.layers[:first]])
    block = tf.keras.Sequential([tf.keras.Input((WIDTH,)), *model.layers[first:last + 1]])
    return before, block


def step(weights, batch, rng) -> None:
    tf.keras.backend.clear_session()
    model = build_model()
    # new variables every step, so a new optimiser state too (as in the reference, whose
    # optimiser met fresh variables at every step)
    optimizer = tf.keras.optimizers.AdamW(learning_rate=1e-4, weight_decay=1e-4)
    model.set_weights(weights)
    dense = [i for i, layer in enumerate(model.layers) if isinstance(layer, tf.keras.layers.Dense)]
    first = int(rng.choice(dense[1:-1]))  # a hidden Dense layer; its activation follows
    before, block = split(model, first, first + 1)
    with tf.GradientTape(persistent=True) as tape:
        inputs = before(batch)
        tape.watch(inputs)
        outputs = block(inputs)
        jacobians = tape.batch_jacobian(outputs, inputs, experimental_use_pfor=True)
        eigenvalues, _ = tf.linalg.eig(jacobians)
        radii = tf.reduce_max(tf.abs(eigenvalues), axis=-1)
        loss = tf.reduce_mean((radii - 1.0) ** 2)
    grads = tape.gradient(loss, block.trainable_weights)
    optimizer.apply_gradients(zip(grads, block.trainable_weights))
    weights[:] = model.get_weights()


def seconds_per_step(batch_size: int, repeats: int) -> float:
    rng = np.random.default_rng(0)
    tf.random.set_seed(0)
    weights = build_model().get_weights()
    batch = tf.constant(rng.standard_normal((batch_size, INPUTS)), dtype=tf.float32)
    step(weights, batch, rng)  # warm-up: tracing and first allocations
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step(weights, batch, rng)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, nargs="+", default=[512, 64])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    for batch_size in args.batches:
        print(batch_size, f"{seconds_per_step(batch_size, args.repeats):.4f}", flush=True)


if __name__ == "__main__":
    main()
