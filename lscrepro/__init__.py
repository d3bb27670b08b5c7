"""PyTorch reproduction of "Stabilizing RNN Gradients through Pre-training" (LSC).

Modules, one concern each:
    io          atomic file writes (temp file + rename)
    data        dataset files: registry with pinned hashes, canonical readers, demo writers, splits
    models      the networks (dense stacks for Figure 2)
    optim       AdaBelief + Lookahead, as the reference configures them
    jacobians   batched per-sample Jacobians (torch.func) and spectral radii
    lsc         LSC pre-training loop and its heuristics
    training    supervised training with early stopping and checkpoints
    grid        config grids -> one row per job
    ffn_jobs    the Figure 2 jobs (pre-train, train) as functions
    analytic    Figure 1: gradient path counts and the PascalRNN
    aggregate   per-run results -> tidy summary tables
    plotting    one module per figure
"""
