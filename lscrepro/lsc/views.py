"""The recurrent LSC's view of one recurrent layer (``layer.lsc_view()``), as an LSC site
(sites.py, ``DenseStack.lsc_sites()``) is the feed-forward LSC's view of a dense net: the
interface a model implements and the LSC drives (recurrent.py), so it lives here, below models.

A view flattens the layer's state into one tensor s (the LSC's state: LSTM (h, c), ALIF
(v, a), others h) and gives, for one sample or a batch:

    step(x, s) -> s'          the layer's step on the flat state
    output(s) -> h            what the next layer (or the readout) reads
    jacobians(x, s)           (ds'/ds, ds'/dx) per sample: (B, S, S), (B, S, n_in)
    through_output(jx, s)     d f(output(s)) / ds from df/dh = jx: the depth Jacobian
    compact_through_output    (d output / ds) @ jx: the same nonzero eigenvalues, n wide
    c_path_scale(x, s, s')    dh/dc where h is computed from a state block c (LSTM), else None
    rescale_groups(biases)    the parameters ``wmultiplier`` scales by the input-side radius
                              and by the recurrent radius
    joint_shuffles()          parameter groups ``wshuff`` permutes together (beyond every
                              weight of >= 2 dims, which all cells shuffle alone)

This base class differentiates ``step`` and ``output`` with torch.func, so a new cell
needs only ``step`` and its parameter groups; a cell whose Jacobians have a cheap closed
form (gated cells: diagonally scaled weight blocks) overrides ``jacobians``.
"""

from __future__ import annotations

import torch
from torch.func import jacrev, vmap


class RecurrentLSCView:
    """The view of ``layer``, whose flat LSC state is ``state_blocks`` x n wide."""

    state_blocks = 1

    def __init__(self, layer: torch.nn.Module):
        self.layer, self.n = layer, layer.n

    def size(self) -> int:
        return self.state_blocks * self.n

    def zeros(self, batch: int, device, dtype=torch.float32) -> torch.Tensor:
        return torch.zeros(batch, self.size(), device=device, dtype=dtype)

    def output(self, s: torch.Tensor) -> torch.Tensor:
        return s[..., :self.n]

    def step(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def jacobians(self, x: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample (ds'/ds, ds'/dx) at the rows of (x, s); the weights keep their graph."""
        rec, inp = vmap(jacrev(lambda s1, x1: self.step(x1, s1), argnums=(0, 1)))(s, x)
        return rec, inp

    def _output_is_h(self) -> bool:
        """The output is the state's first n entries (this base class's ``output``)."""
        return type(self).output is RecurrentLSCView.output

    def through_output(self, outer: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """(B, m, S): d g(output(s)) / ds from outer = dg/dh (B, m, n) at the rows of s."""
        if self._output_is_h():
            pad = outer.new_zeros(*outer.shape[:-1], self.size() - self.n)
            return torch.cat([outer, pad], dim=-1)
        return outer @ vmap(jacrev(self.output))(s)

    def compact_through_output(self, outer: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """(B, n, n): O @ outer, O = d output / ds, where outer @ O is square (the recurrent
        LSC takes the depth radius from this smaller matrix: same nonzero eigenvalues)."""
        if self._output_is_h():
            return outer[..., :self.n, :]
        return vmap(jacrev(self.output))(s) @ outer

    def c_path_scale(self, x: torch.Tensor, s: torch.Tensor, s_next: torch.Tensor) -> torch.Tensor | None:
        """dh/dc (B, n) where the output h is computed from a second state block c whose
        path the reference's tape counted (the LSTM's); None for other cells."""
        return None

    def rescale_groups(self, biases: bool = True) -> tuple[list, list]:
        raise NotImplementedError

    def joint_shuffles(self) -> list[list[torch.Tensor]]:
        return []


def diagonal_rows(scale: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """diag(scale_b) @ weight for every row scale_b of (B, n): (B, n, m)."""
    return scale.unsqueeze(-1) * weight
