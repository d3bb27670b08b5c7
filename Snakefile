# Reproduction of "Stabilizing RNN Gradients through Pre-training" (arXiv 2308.12075).
#   snakemake --cores N all                                   the paper's grid
#   snakemake all --cores N --configfile config/smoke.yaml    the offline demo grid (targets before --configfile)
#   snakemake --profile slurm all                             on a SLURM cluster
import shlex
import sys

from snakemake.utils import min_version, validate

# This checkout's lscrepro, whatever pip installed (another clone's editable install, say):
# first on this file's path, and on the path of every rule's command (a SLURM job re-reads
# this file, so its commands get the same). The prefix keeps Snakemake's strict mode.
sys.path.insert(0, workflow.basedir)
shell.prefix(
    f"set -euo pipefail; export PYTHONPATH={shlex.quote(workflow.basedir)}"
    '"${{PYTHONPATH:+:$PYTHONPATH}}"; '  # braces doubled: Snakemake formats the prefix
)

from lscrepro.workflow.configcheck import check_yaml_syntax

min_version("9.0")
# Snakemake's message for a YAML error in this file names neither the file nor the line
check_yaml_syntax("config/config.yaml")


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/jobs.smk"
include: "rules/products.smk"


rule all:
    default_target: True
    input:
        PRODUCT_OUTPUTS,
        [f"{RESULTS}/{family}/summary.csv" for family in FAMILY_NAMES],
        f"{RESULTS}/status.csv",
