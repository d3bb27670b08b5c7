"""What the workflow makes of the runs: one module per output (summary.csv, fig2_data.csv,
Figure 3's tables, fig4_curves.csv, Table 1, the claims), their shared table helpers
(``tables``) and the one figure saver (``saving``); lscrepro.plotting draws the figures.

Nothing is imported here: a job's code stamp holds the modules its script imports, and an
import in this file would make every output depend on every module.
"""
