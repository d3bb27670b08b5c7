"""PyTorch reproduction of "Stabilizing RNN Gradients through Pre-training" (LSC).

Modules and packages, one concern each:
    io          atomic file writes (temp file + rename)
    catalog     one torch-free entry per plug-in (cells, tasks, datasets, models, LSC procedures,
                families) and "module:attribute" entry points: load them, name their files
    data        dataset files: registry with pinned hashes, canonical readers/writers, demo, splits, prepared caches
    tasks       build_task: what a network learns from (batches, loss, metrics); images
    models      build_model: the networks and their LSC sites; dense
    lsc         LSC pre-training: sites, Jacobians and spectral radii, the loop, the reference's mode
    training    one supervised training loop for every family
    checkpoint  fingerprinted per-epoch checkpoints
    device      device choice, determinism, RNG states
    optim       AdaBelief + Lookahead, as the reference configures them
    progress    progress lines with an ETA for long jobs
    provenance  git commit, package versions, host, device of a result
    jobs        the pre-training and training jobs, from a spec
    settings    a settings dataclass from a config section
    workflow    what Snakemake and status.py run at plan time, without torch:
      spec        job families, run tables and run specs
      outputs     the final outputs per paper item (rule all, status)
      codedeps    the code a job runs, from the import graph; digests that ignore comments and docstrings
      configcheck config checks before schema validation
      gridcheck   grid values and overrides that name nothing on the grid
      speccheck   every resolved job spec against the jobs' settings
      sizecheck   batch sizes against the data they batch
      snakehints  the project's own lines where Snakemake's mislead
      status      where the grid stands, from the files jobs leave
      verify      the data finished jobs read, rehashed against pins, stamps and cache hashes
    analytic    Figure 1: gradient path counts and the PascalRNN
    results     one module per output: summaries, Figures 1-4's data, the tables, the claims;
                the one deterministic figure saver
    plotting    one drawing module per figure
    cost        what the paper grid costs, measured per job shape
"""
