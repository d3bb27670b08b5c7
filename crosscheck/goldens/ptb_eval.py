"""Golden ``ptb_perplexity``: the PTB loss and perplexity Keras reported for the reference's
language models, on fixed logits and targets.

The reference's model (stable_spike@67f1ce7 ``neural_models/full_model.py``) ends in
``AddLossLayer(loss=get_loss('sparse_categorical_crossentropy'))`` (stable_drnn@4b667ae
``training.py``'s loss_name; ``esoteric_losses/loss_redirection.get_loss``, as full_model imports
it: SparseCategoricalCrossentropy(from_logits=True)) and ``AddMetricsLayer(metrics=full_model.metrics)``, whose
``perplexity`` (py-aromatics@347b2c8 ``keras_tools/esoteric_losses/advanced_losses.py``) is
exp of the batch's mean cross-entropy, added with ``aggregation='mean'``: Keras averages it
over the batches of an ``evaluate``. Here those two layers sit on a model whose "network" is the
identity on fixed logits, compiled as full_model compiles (``loss=None``, eager), and
``model.evaluate`` runs over equal batches, as the PTB generator gives them.
"""

ERA = "fig3"

import numpy as np  # noqa: E402

from crosscheck import golden  # noqa: E402

BATCHES, BATCH, STEPS, VOCAB = 4, 3, 5, 7


def fixed_logits_and_targets(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Batches of different confidence, so the mean of the batch perplexities differs from
    the perplexity of the mean cross-entropy."""
    scale = np.repeat(np.array([0.5, 1.0, 2.0, 4.0], np.float32), BATCH)[:, None, None]
    logits = (scale * rng.standard_normal((BATCHES * BATCH, STEPS, VOCAB))).astype(np.float32)
    targets = rng.integers(0, VOCAB, (BATCHES * BATCH, STEPS)).astype(np.int64)
    return logits, targets


def main() -> None:
    import tensorflow as tf

    from pyaromatics.keras_tools.esoteric_layers import AddLossLayer, AddMetricsLayer
    from pyaromatics.keras_tools.esoteric_losses.loss_redirection import get_loss
    from pyaromatics.keras_tools.esoteric_losses.advanced_losses import perplexity
    from sg_design_lif.neural_models import full_model

    logits, targets = fixed_logits_and_targets(np.random.default_rng(24))
    output_words = tf.keras.layers.Input((STEPS,))
    output_net = tf.keras.layers.Input((STEPS, VOCAB))
    out = AddLossLayer(loss=get_loss("sparse_categorical_crossentropy"))([output_words, output_net])
    out = AddMetricsLayer(metrics=full_model.metrics)([output_words, out])
    model = tf.keras.models.Model([output_words, output_net], out)
    model.compile(optimizer="sgd", loss=None, run_eagerly=True)
    results = model.evaluate([targets.astype(np.float32), logits], batch_size=BATCH, return_dict=True, verbose=0)
    per_batch = [float(perplexity(targets[b * BATCH:(b + 1) * BATCH], logits[b * BATCH:(b + 1) * BATCH]))
                 for b in range(BATCHES)]
    arrays = {"logits": logits, "targets": targets, "perplexity": np.float64(results["perplexity"]),
              "loss": np.float64(results["loss"]),
              "batch_perplexities": np.array(per_batch)}
    golden.save(
        "ptb_perplexity", arrays,
        reference={"repo": "LuCeHe/py-aromatics", "commit": "347b2c862fccc32096c84053bece1505a459d784",
                   "file": "keras_tools/esoteric_losses/advanced_losses.py",
                   "function": "perplexity, through esoteric_layers AddMetricsLayer (aggregation 'mean') and "
                               "stable_spike@67f1ce7 full_model.metrics, averaged by Keras' model.evaluate"},
        inputs=f"logits ({BATCHES * BATCH}, {STEPS}, {VOCAB}) float32: standard normals times 0.5, 1, 2, 4 per "
               f"batch of {BATCH}; targets int in 0..{VOCAB - 1}; numpy default_rng(24)",
        notes=f"perplexity, loss: model.evaluate(batch_size={BATCH}) over "
              f"{BATCHES} batches (Keras 2.12 means over batches); batch_perplexities: perplexity() per batch. "
              "Glue: the two reference layers on Input tensors (the network's logits replaced by fixed ones).")


if __name__ == "__main__":
    main()
