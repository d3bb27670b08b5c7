"""The recurrent networks of Figure 3: shapes, seeding, Keras inits, step/fused agreement,
torch.func Jacobians, the ALIF surrogate and its reset stop-gradient, state carry."""

from __future__ import annotations

import pytest
import torch
from torch.func import jacrev, vmap

from lscrepro.models import MODELS, build_model
from lscrepro.catalog.cells import CELLS
from lscrepro.models.rnn import DeepRNN, build, make_layer
from lscrepro.models.spiking import ALIFLayer, spike

LANGUAGE_DIMS = {"vocab_size": 11, "num_classes": 11, "steps": 6}
FLOAT_DIMS = {"in_features": 5, "num_classes": 3, "steps": 6}
WIDTH = 7


def make(cell: str, depth: int = 2, dims: dict = FLOAT_DIMS, seed: int = 0, **extra) -> DeepRNN:
    config = {"name": "rnn", "cell": cell, "depth": depth, "width": WIDTH, **extra}
    return build_model(config, dims, seed)


def sample_input(dims: dict, batch: int = 3, steps: int = 6, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    if "vocab_size" in dims:
        return torch.randint(dims["vocab_size"], (batch, steps), generator=generator)
    return torch.randn(batch, steps, dims["in_features"], generator=generator)


def flat_step(layer):
    """layer.step as a function of one concatenated state vector (for Jacobians)."""
    sizes = [part.shape[-1] for part in layer.initial_state(1)]

    def step(x_sample: torch.Tensor, flat_state: torch.Tensor) -> torch.Tensor:
        _, new_state = layer.step(x_sample, tuple(torch.split(flat_state, sizes)))
        return torch.cat(new_state)
    return step, sum(sizes)


def test_registered():
    from lscrepro.catalog.entrypoints import load

    assert load(MODELS["rnn"].builder) is build


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("depth", [2, 5])
@pytest.mark.parametrize("dims", [LANGUAGE_DIMS, FLOAT_DIMS], ids=["language", "float"])
def test_output_shapes_and_seeding(cell, depth, dims):
    model = make(cell, depth, dims, seed=3)
    logits, state = model(sample_input(dims))
    assert logits.shape == (3, 6, dims["num_classes"])
    assert len(state) == depth and len(model.cells()) == depth
    same = make(cell, depth, dims, seed=3).state_dict()
    other = make(cell, depth, dims, seed=4).state_dict()
    for name, value in model.state_dict().items():
        assert torch.equal(value, same[name]), name
    assert any(not torch.equal(value, other[name]) for name, value in model.state_dict().items())


def test_tied_readout_and_dense_readout():
    language = make("GRU", dims=LANGUAGE_DIMS)
    h = torch.randn(2, 4, WIDTH)
    assert torch.allclose(language.readout(h), h @ language.embedding.T)
    assert not [name for name, _ in language.named_parameters() if "readout" in name]
    dense = make("GRU")
    assert torch.equal(dense.dense_readout.bias, torch.zeros(3))


@pytest.mark.parametrize("config, message", [
    ({"cell": "LSTMX", "depth": 1, "width": 4}, "valid cells"),
    ({"cell": "LSTM", "depth": 1, "width": 4, "widht": 3}, "widht"),
    ({"cell": "LSTM", "depth": 0, "width": 4}, "positive"),
    ({"cell": "rsimplernn", "depth": 1, "width": 4, "activation": "tanh"}, "swish"),
])
def test_bad_configs(config, message):
    with pytest.raises(ValueError, match=message):
        build(config, FLOAT_DIMS, 0)


@pytest.mark.parametrize("cell", CELLS)
def test_vmap_jacobian_matches_autograd(cell):
    model = make(cell, depth=1)
    layer = model.cells()[0]
    step, size = flat_step(layer)
    generator = torch.Generator().manual_seed(5)
    x = torch.randn(3, FLOAT_DIMS["in_features"], generator=generator)
    states = torch.randn(3, size, generator=generator)
    batched = vmap(jacrev(step, argnums=1))(x, states)
    for b in range(3):
        state = states[b].clone().requires_grad_(True)
        out = step(x[b], state)
        rows = [torch.autograd.grad(out[i], state, retain_graph=True)[0] for i in range(out.numel())]
        assert torch.allclose(batched[b], torch.stack(rows), atol=1e-5), cell
    if cell.startswith("maLSNN"):  # the surrogate must actually contribute
        assert batched.abs().sum() > 0


@pytest.mark.parametrize("cell", CELLS)
def test_jacobian_is_differentiable_in_the_weights(cell):
    """LSC back-propagates a loss on the batched Jacobian into the layer's weights."""
    layer = make(cell, depth=1).cells()[0]
    step, size = flat_step(layer)
    x = torch.randn(3, FLOAT_DIMS["in_features"])
    jacobians = vmap(jacrev(step, argnums=1))(x, torch.rand(3, size))
    jacobians.square().sum().backward()
    grads = [p.grad for p in layer.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)


def test_surrogate_shape_and_vmap():
    v = torch.tensor([0.0, 0.3, -0.3, 2.0, -5.0], requires_grad=True)
    z = spike(v)
    assert torch.equal(z, torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0]))  # strictly > 0 spikes
    (grad,) = torch.autograd.grad(z.sum(), v)
    assert torch.allclose(grad, 0.5 / (1 + 2 * v.detach().abs()) ** 2)
    assert grad[0] == 0.5
    batched = vmap(jacrev(spike))(v.detach().reshape(5, 1))
    assert torch.allclose(batched.reshape(5), grad)


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_fused_matches_step(cell):
    layer = make(cell, depth=1).cells()[0]
    x = sample_input(FLOAT_DIMS, batch=4, steps=9)
    initial = tuple(torch.randn_like(s) for s in layer.initial_state(4))
    fused_out, fused_state = layer(x, initial)
    state, outputs = initial, []
    for t in range(x.shape[1]):
        h, state = layer.step(x[:, t], state)
        outputs.append(h)
    assert torch.allclose(fused_out, torch.stack(outputs, 1), atol=1e-5)
    for fused, stepped in zip(fused_state, state):
        assert torch.allclose(fused, stepped, atol=1e-5)


@pytest.mark.parametrize("cell", ["rsimplernn", "ssimplernn", "maLSNN", "maLSNNb"])
def test_sequence_forward_matches_step(cell):
    layer = make(cell, depth=1).cells()[0]
    x = sample_input(FLOAT_DIMS, batch=4, steps=9)
    out, final = layer(x)
    state, outputs = layer.initial_state(4), []
    for t in range(x.shape[1]):
        h, state = layer.step(x[:, t], state)
        outputs.append(h)
    assert torch.allclose(out, torch.stack(outputs, 1), atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(final, state))


@pytest.mark.parametrize("cell, activation", [
    ("rsimplernn", "relu"), ("rsimplernn", "swish"), ("ssimplernn", "relu"), ("maLSNN", "relu"),
    ("maLSNNb", "relu")])
def test_backward_through_time_matches_autograd(cell, activation):
    """The hand-written BPTT of the sequence forward against autograd through the step loop."""
    layer = make_layer(cell, 6, 9, torch.Generator().manual_seed(2), activation=activation, steps=10).double()
    generator = torch.Generator().manual_seed(3)
    x = (3 * torch.rand(4, 12, 6, generator=generator, dtype=torch.float64) - 1).requires_grad_()
    initial = tuple(torch.rand(4, 9, generator=generator, dtype=torch.float64).requires_grad_()
                    for _ in layer.initial_state(1))
    weights = torch.randn(4, 12, 9, generator=generator, dtype=torch.float64)
    results = []
    for forward in (layer.forward, layer.forward_stepwise):
        out, final = forward(x, initial)
        loss = (out * weights).sum() + sum((k + 1) * part.square().sum() for k, part in enumerate(final))
        results.append((out, torch.autograd.grad(loss, [x, *initial, *layer.parameters()])))
    (fused, fused_grads), (stepped, stepped_grads) = results
    assert torch.equal(fused, stepped)
    if cell.startswith("maLSNN"):
        assert 0 < fused.mean() < 1  # some spikes, not all
    for got, expected in zip(fused_grads, stepped_grads):
        assert expected.abs().max() > 0
        assert torch.allclose(got, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("gauss_beta", [False, True], ids=["maLSNN", "maLSNNb"])
def test_alif_sequence_rounds_as_the_step_loop_in_float32(gauss_beta):
    """float32, a wider and longer run, an initial z that is not 0/1: the sequence's spikes
    and final (v, a) equal the step loop's bit for bit (each fused multiply-add rounds once,
    so one would show in v), its gradients to float32 rounding."""
    layer = ALIFLayer(20, 64, 20.0, torch.Generator().manual_seed(1), gauss_beta=gauss_beta)
    generator = torch.Generator().manual_seed(5)
    x = 3 * (torch.rand(16, 60, 20, generator=generator) < 0.3).float()
    initial = tuple(torch.rand(16, 64, generator=generator).requires_grad_() for _ in range(3))
    weights = torch.randn(16, 60, 64, generator=generator)
    results = []
    for forward in (layer.forward, layer.forward_stepwise):
        out, final = forward(x, initial)
        loss = (out * weights).sum() + sum((k + 1) * part.square().sum() for k, part in enumerate(final))
        results.append((out, final, torch.autograd.grad(loss, [*initial, *layer.parameters()])))
    (fused, fused_final, fused_grads), (stepped, stepped_final, stepped_grads) = results
    assert 0.1 < fused.mean() < 0.9
    assert torch.equal(fused, stepped)
    assert all(torch.equal(got, expected) for got, expected in zip(fused_final, stepped_final))
    for got, expected in zip(fused_grads, stepped_grads):
        assert expected.abs().max() > 0
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5 * expected.abs().max().item())


def test_alif_no_self_connections_after_optimiser_step():
    model = make("maLSNN", depth=1)
    layer = model.cells()[0]
    # weight decay moves the stored diagonal; the mask must still remove it
    optimiser = torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.5)
    logits, _ = model(sample_input(FLOAT_DIMS) * 5)
    logits.square().sum().backward()
    before = layer.recurrent_weights.detach().diagonal().clone()
    optimiser.step()
    assert not torch.equal(before, layer.recurrent_weights.detach().diagonal())
    assert torch.equal(layer.recurrent_matrix().diagonal(), torch.zeros(WIDTH))
    state = tuple(torch.rand(2, WIDTH) for _ in range(3))
    x_t = torch.randn(2, FLOAT_DIMS["in_features"])
    reference, _ = layer.step(x_t, state)
    with torch.no_grad():
        layer.recurrent_weights.diagonal().add_(100.0)
    assert torch.equal(layer.step(x_t, state)[0], reference)


def test_alif_reset_has_no_gradient():
    layer = make("maLSNN", depth=1).cells()[0]
    z = torch.rand(WIDTH, requires_grad=True)
    v = torch.rand(WIDTH)
    a = torch.rand(WIDTH, requires_grad=True)
    x_t = torch.randn(FLOAT_DIMS["in_features"])
    _, (_, v_new, _) = layer.step(x_t, (z, v, a))
    # v_t = alpha v + x W_in + z W_rec~ - sg(A_t z): only the recurrent current depends on z
    grad_z, grad_a, grad_thr, grad_beta = torch.autograd.grad(
        v_new.sum(), (z, a, layer.thr, layer.beta), allow_unused=True, materialize_grads=True)
    assert torch.allclose(grad_z, layer.recurrent_matrix().sum(dim=1))
    for grad in (grad_a, grad_thr, grad_beta):
        assert torch.equal(grad, torch.zeros(WIDTH))


def test_alif_parameter_draws():
    n_in, n = 400, 300
    plain = ALIFLayer(n_in, n, 50.0, torch.Generator().manual_seed(0))
    gauss = ALIFLayer(n_in, n, 50.0, torch.Generator().manual_seed(0), gauss_beta=True)
    for value, mean in [(plain.tau, 0.1), (plain.tau_adaptation, 50.0), (plain.thr, 0.01), (plain.beta, 1.8)]:
        std = 3 * mean / 7
        assert abs(value.mean().item() - mean) < 0.1 * mean
        assert value.min() >= mean - 2 * std and value.max() <= mean + 2 * std
    assert (gauss.beta < 0).any()
    assert abs(gauss.beta.std().item() - 1.8 / n_in ** 0.5) < 0.02
    # mean int(steps / 2), as the reference's int(in_len / 2)
    odd_steps = make_layer("maLSNN", 3, 4000, torch.Generator().manual_seed(0), activation="relu", steps=9)
    assert abs(odd_steps.tau_adaptation.mean().item() - 4.0) < 0.1


def test_lstm_forget_bias_and_orthogonal_recurrent_kernels():
    width = WIDTH
    lstm = make("LSTM", depth=1).cells()[0].fused
    expected = torch.zeros(4 * width)
    expected[width:2 * width] = 1.0
    assert torch.equal(lstm.bias_ih_l0 + lstm.bias_hh_l0, expected)
    gru = make("GRU", depth=1).cells()[0].fused
    simple = make("rsimplernn", depth=1).cells()[0]
    # Keras' (n, k n) recurrent kernel U has orthonormal rows: U U^T = I; PyTorch stores U^T
    for weight in (lstm.weight_hh_l0.T, gru.weight_hh_l0.T, simple.recurrent_kernel):
        assert torch.allclose(weight @ weight.T, torch.eye(width), atol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dims", [LANGUAGE_DIMS, FLOAT_DIMS], ids=["language", "float"])
def test_state_carry_equals_one_run(cell, dims):
    model = make(cell, dims=dims, activation="swish" if cell == "rsimplernn" else "relu").eval()
    x = sample_input(dims, steps=8)
    with torch.no_grad():
        whole, whole_state = model(x)
        first, carried = model(x[:, :4])
        second, final_state = model(x[:, 4:], carried)
    assert torch.allclose(torch.cat([first, second], 1), whole, atol=1e-5)
    for layer_a, layer_b in zip(whole_state, final_state):
        assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(layer_a, layer_b))


def test_uniform_dropout_draws_its_mask_from_16_bit_lanes_of_64_bit_draws():
    from lscrepro.models.stack import UniformDropout
    dropout = UniformDropout(0.1)
    assert dropout.threshold() == 6554 - 2 ** 15  # p 2^16 = 6553.6, rounded up: p is at most 2^-16 higher
    torch.manual_seed(5)
    words = torch.empty(3, dtype=torch.int64).random_(-2 ** 63, None)
    torch.manual_seed(5)
    mask = dropout.keep_mask(torch.empty(11))  # 11 elements: three draws, one lane left over
    assert torch.equal(mask, (words.view(torch.int16)[:11] >= dropout.threshold()).float())
    assert torch.equal(UniformDropout(0.0).keep_mask(torch.empty(1000)), torch.ones(1000))
    # every lane is uniform: the top lane of each word too (its sign bit is drawn)
    lanes = torch.empty(2 ** 18, dtype=torch.int64).random_(-2 ** 63, None).view(torch.int16).view(-1, 4)
    assert ((lanes < 0).float().mean(0) - 0.5).abs().max() < 0.005  # 2^18 draws a lane: sd 0.001
    big = UniformDropout(0.3).keep_mask(torch.empty(2 ** 22, dtype=torch.float64))
    assert big.dtype == torch.float64 and abs(1 - big.mean().item() - 19661 / 2 ** 16) < 0.0012  # 5 sd


def test_uniform_dropout_keeps_each_element_with_probability_1_minus_p_reproducibly():
    from lscrepro.models.stack import UniformDropout
    dropout = UniformDropout(0.3)
    x = torch.ones(400, 500)
    torch.manual_seed(0)
    first = dropout(x)
    torch.manual_seed(0)
    assert torch.equal(first, dropout(x))  # the global seed fixes the mask, as for nn.Dropout
    assert first.unique().tolist() == pytest.approx([0.0, 1 / 0.7])
    assert abs((first > 0).float().mean().item() - 0.7) < 0.005  # 200,000 draws: sd 0.001
    assert torch.equal(dropout.eval()(x), x)
    model = build({"cell": "GRU", "depth": 1, "width": 4, "dropout": 0.3}, {"in_features": 3, "num_classes": 2,
                                                                           "steps": 5}, seed=0)
    assert isinstance(model.dropout, UniformDropout) and model.dropout.p == 0.3


def test_uniform_dropout_of_the_data_is_the_product_with_its_mask_bit_for_bit():
    """The data's dropout (no gradient: scaled and multiplied in one addcmul into the mask's
    buffer) gives the same numbers as the path with a gradient (x times the scaled mask),
    leaves x alone, and a tensor that needs a gradient gets the mask's gradient."""
    from lscrepro.models.stack import UniformDropout
    dropout = UniformDropout(0.3)
    generator = torch.Generator().manual_seed(4)
    for x in (torch.randn(64, 30, 17, generator=generator, dtype=torch.float64),
              (torch.rand(64, 30, 17, generator=generator) < 0.2).float()):
        before = x.clone()
        torch.manual_seed(1)
        data = dropout(x)
        torch.manual_seed(1)
        with_grad = dropout(x.clone().requires_grad_())
        torch.manual_seed(1)
        scaled_mask = dropout.keep_mask(x) / 0.7
        assert torch.equal(x, before) and data.data_ptr() != x.data_ptr()
        assert torch.equal(data, with_grad) and torch.equal(data, x * scaled_mask)
        assert 0.6 < (scaled_mask > 0).double().mean() < 0.8
    leaf = torch.randn(8, 5, requires_grad=True)
    torch.manual_seed(2)
    dropout(leaf).sum().backward()
    torch.manual_seed(2)
    assert torch.equal(leaf.grad, dropout.keep_mask(leaf.detach()) * (1 / 0.7))


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("weight_layout", ["contiguous", "transposed-view"])
@pytest.mark.parametrize("input_layout", ["batch-major", "time-major-view"])
def test_input_projection_matches_autograd(bias, weight_layout, input_layout):
    """InputProjection's GEMM layouts give autograd's x @ W + b and its gradients (float64),
    for a contiguous (n_in, width) weight and an nn.Linear-style one's transposed view, and for
    batch-major inputs and the batch-major view of a time-major buffer."""
    from lscrepro.models.stack import input_projection
    generator = torch.Generator().manual_seed(6)
    draw = lambda *shape: torch.randn(*shape, generator=generator, dtype=torch.float64)  # noqa: E731
    stored = draw(11, 7) if weight_layout == "contiguous" else draw(7, 11)
    stored.requires_grad_()
    b = draw(7).requires_grad_() if bias else None
    x = (draw(4, 9, 11) if input_layout == "batch-major" else draw(9, 4, 11).transpose(0, 1)).requires_grad_()
    weight = stored if weight_layout == "contiguous" else stored.T
    leaves = [x, stored] + ([b] if bias else [])
    outputs = [input_projection(x, weight, b), x @ weight + (0 if b is None else b)]
    upstream = draw(4, 9, 7)
    grads = [torch.autograd.grad((out * upstream).sum(), leaves) for out in outputs]
    assert outputs[0].shape == (4, 9, 7)
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-12, atol=1e-12)
    for got, expected in zip(*grads):
        assert got.shape == expected.shape and expected.abs().max() > 0
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda *t: input_projection(t[0], t[1] if weight_layout == "contiguous"
                                                                else t[1].T, *t[2:]), tuple(leaves))


@pytest.mark.parametrize("width, columns", [(159, 160), (53, 64), (1300, 1312), (168, 168), (128, 128)])
def test_aligned_matmul_pads_unaligned_widths_and_keeps_the_product(width, columns):
    """A projection whose width is not a multiple of 8 computes the next multiple of 16
    columns (zero weights) and hands back the first ``width``: the product and the bias as
    the plain GEMM's (float32, to a few roundings: MKL may block the K sum by the width)."""
    from lscrepro.models.stack import aligned_matmul, aligned_width
    generator = torch.Generator().manual_seed(8)
    a, b = torch.randn(300, 70, generator=generator), torch.randn(70, width, generator=generator)
    bias = torch.randn(width, generator=generator)
    assert aligned_width(width) == columns
    for operands in ((a, b), (a, b, bias), (a, b.T.contiguous().T)):
        out = aligned_matmul(*operands)
        expected = a @ b + (operands[2] if len(operands) == 3 else 0)
        assert out.shape == (300, width) and out.stride() == (columns, 1)
        torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("cell", ["rsimplernn", "GRU", "maLSNN"])
def test_dense_readout_of_a_time_major_output_is_the_batch_major_one(cell):
    """The readout of a recurrent output (the view of a time-major buffer) runs time-major;
    its logits and the parameters' gradients are those of the batch-major readout."""
    model = make(cell, depth=2).double()
    x = sample_input(FLOAT_DIMS, batch=5, steps=8).double()
    results = []
    for readout in (model.readout, lambda h: model.dense_readout(h.contiguous())):
        torch.manual_seed(3)  # the same dropout masks
        h, _ = model.features(x)
        logits = readout(h)
        weights = torch.linspace(-1, 1, logits.numel(), dtype=torch.float64).view(logits.shape)
        results.append((logits, torch.autograd.grad((logits * weights).sum(), list(model.parameters()))))
    assert not model.features(x)[0].is_contiguous()  # the time-major case, not a copy
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-12, atol=1e-12)
    for got, expected in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
