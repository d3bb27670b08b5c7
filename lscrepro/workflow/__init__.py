"""What Snakemake and status.py run at plan time, without torch: the run specs (spec), the
config and plan checks (configcheck, gridcheck, speccheck, sizecheck, snakehints), the code a
job depends on (codedeps), the final outputs (outputs) and where the grid
stands (status, verify)."""
