"""What the paper grid costs, measured per job shape (grid.py), with each LSC procedure's
step (lsc.py) on batches of the real sizes (sizes.py); benchmarks/grid_cost.py prints it."""
