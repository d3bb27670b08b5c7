# Config -> run tables (one row per job), wildcard constraints, input functions.
import functools
import json
import os
import re

from snakemake.logging import logger as snakemake_logger

from lscrepro.workflow.codedeps import code_digest, use_source_cache
from lscrepro.workflow.codedeps import code_inputs as imported_files
from lscrepro.catalog.cells import cell_files
from lscrepro.catalog.entrypoints import entry_file
from lscrepro.catalog.families import JOB_KINDS
from lscrepro.workflow.gridcheck import check_grid
from lscrepro.catalog.procedures import PROCEDURES
from lscrepro.models import model_files
from lscrepro.workflow.outputs import final_outputs
from lscrepro.workflow.snakehints import (
    ZERO_CORES,
    MissingWeightsHint,
    weights_patterns,
)
from lscrepro.workflow.spec import (
    FAMILIES,
    output_roots,
    pretrain_runs,
    registered_names,
    resolve_spec,
    train_runs,
)
from lscrepro.workflow.speccheck import check_specs
from lscrepro.tasks import task_files

# before validate(): 1e-3 (a string in YAML 1.1) becomes a number, a misspelled key is named
from lscrepro.workflow.configcheck import load_schema, prepare_config, schema_file

if workflow.resource_settings.cores == 0:
    raise ValueError(ZERO_CORES)

# the schema with its plug-in enums filled from lscrepro.catalog: validate() reads a file
SCHEMA = load_schema(workflow.source_path("../schemas/config.schema.yaml"))
prepare_config(config, SCHEMA)
validate(config, schema=schema_file(SCHEMA, ".snakemake/lscrepro"))

DATA_DIR = config["data"]["dir"]
# parse results of the code files by content, so that a dry run parses only edited ones
use_source_cache(".snakemake/lscrepro")


def tail_log_on_failure(command):
    """A shell command that, if it fails, prints the end of its job's log on the console:
    the workflow profile's `quiet: rules` (progress only, no block per job) also hides
    Snakemake's own `show-failed-logs` output."""
    on_failure = (
        '{{ echo "--- the job failed; the end of its log {log}:" >&2;'
        " tail -n 40 {log} >&2; exit 1; }}"
    )
    return " || ".join([command, on_failure])


RESULTS, LOGS = output_roots(config)
# the families the config grids (ffn; rnn and lru plug in the same way)
FAMILY_NAMES = [name for name in FAMILIES if name in config]
# the paper items this config makes: rule all and the status rule (and status.py) read them
FINAL_OUTPUTS = final_outputs(config)
# a setup or `when` value valid nowhere fails here; an override for values this run's grid
# leaves out (an overlay running part of the paper's grid) is skipped, and named once
SKIPPED_OVERRIDES = [
    line for name in FAMILY_NAMES for line in check_grid(name, config[name], SCHEMA)
]
if SKIPPED_OVERRIDES and workflow.is_main_process:  # not again in each cluster job
    snakemake_logger.info("\n".join(f"lscrepro: {line}" for line in SKIPPED_OVERRIDES))
TRAIN_RUNS = {name: train_runs(name, config[name]) for name in FAMILY_NAMES}
PRETRAIN_RUNS = {name: pretrain_runs(name, config[name]) for name in FAMILY_NAMES}
# Snakemake blames "filesystem latency" for weights deleted after planning; say what they are
snakemake_logger.addFilter(
    MissingWeightsHint(
        weights_patterns(RESULTS, {n: FAMILIES[n].pretrain_dir for n in FAMILY_NAMES})
    )
)


# Code each job runs, from the import graph of its job module and of the modules it
# imports by registry name (its family's tasks, model and LSC procedure; an import graph
# cannot see those), so that editing a module reruns exactly the jobs that run it, family
# by family.
def family_code(name, kind):
    modules = task_files(registered_names(name, config[name], "task"))
    modules += model_files(registered_names(name, config[name], "model"))
    modules += cell_files(registered_names(name, config[name], "model", "cell"))
    if kind == "pretrain":
        for entry in PROCEDURES[FAMILIES[name].lsc_procedure]:
            modules += entry_file(entry)
    return ["workflow_scripts/job.py"] + imported_files(
        f"lscrepro/jobs/{kind}.py", *sorted(set(modules))
    )


# A rule's code enters as `ancient` inputs: a file's mtime, which a comment edit changes
# too, is no reason to rerun. What is: the digest of the code's syntax trees without
# docstrings (lscrepro.workflow.codedeps), as the name of one more (empty) input. Snakemake reruns
# a job whose set of input files changed, so an edit that changes what the code does
# reruns exactly the jobs that run it, and a comment or docstring edit reruns nothing.
CODE_VERSIONS = ".snakemake/lscrepro/code"


def code_version_file(files, for_jobs=False):
    """The input that names the digest of ``files``; made here, empty, if it is new.
    ``for_jobs``: a catalog entry's title is not the jobs' code (codedeps)."""
    path = f"{CODE_VERSIONS}/{code_digest(files, for_jobs=for_jobs)}"
    if not os.path.exists(path):
        os.makedirs(CODE_VERSIONS, exist_ok=True)
        open(path, "a").close()
    return path


def code_inputs(*entries, for_jobs=False):
    """A rule's code inputs: the entry files, every package file they import, and the
    file naming their digest, all ancient. ``for_jobs``: what the rule makes (data, runs)
    does not show a catalog entry's title, so a title edit does not rerun it."""
    files = imported_files(*entries)
    return ancient([*files, code_version_file(files, for_jobs=for_jobs)])


JOB_CODE = {
    f"{name}_{kind}": family_code(name, kind)
    for name in FAMILY_NAMES
    for kind in JOB_KINDS
}
JOB_CODE_VERSION = {
    key: code_version_file(files, for_jobs=True) for key, files in JOB_CODE.items()
}


def family_constraints(name):
    """Wildcard constraints of one family's rules: its axes' tags and variant names."""
    runs = TRAIN_RUNS[name]
    return {
        column: "|".join(re.escape(str(value)) for value in runs[column].unique())
        for column in [*FAMILIES[name].axes, "variant"]
    }


def job_outputs(kind, folder):
    """The outputs of a job of ``kind`` in ``folder``, named as its JOB_KINDS entry names them."""
    return {name: f"{folder}/{file}" for name, file in JOB_KINDS[kind].outputs.items()}


def run_paths(name, kind, filename):
    """Every job's output ``filename`` of one family and kind ("train" or "pretrain")."""
    family = FAMILIES[name]
    runs, folder = (
        (TRAIN_RUNS[name], family.train_dir)
        if kind == "train"
        else (PRETRAIN_RUNS[name], family.pretrain_dir)
    )
    columns = runs.drop(columns="pretrained", errors="ignore")
    return expand(
        f"{RESULTS}/{name}/{folder}/{filename}", zip, **columns.to_dict("list")
    )


def spec_of(name, kind, wildcards):
    return _spec(name, kind, tuple(sorted(wildcards.items())))


@functools.lru_cache(maxsize=None)
def _spec(name, kind, wildcards):
    # input functions and params of one job all need its spec: resolve it once
    return resolve_spec(config, name, kind, dict(wildcards))


# Every job's spec, resolved here once (the input functions reuse them): a setting its job
# would refuse, or a batch its data cannot fill, fails the dry run naming the config entry.
check_specs(
    config,
    SCHEMA,
    {n: {"pretrain": PRETRAIN_RUNS[n], "train": TRAIN_RUNS[n]} for n in FAMILY_NAMES},
    lambda name, kind, wildcards: _spec(name, kind, tuple(sorted(wildcards.items()))),
)


def job_spec(name, kind):
    """params: the job's spec as JSON; a config edit reruns only the jobs it changes."""

    def spec(wildcards):
        return json.dumps(spec_of(name, kind, wildcards), sort_keys=True)

    return spec


def job_data(name, kind):
    """The prepared cache of the dataset the job's task reads, and its source stamp."""

    def data(wildcards):
        files = spec_of(name, kind, wildcards)["data"]
        return {"cache": files["cache"], "stamp": files["stamp"]}

    return data


def pretrained_weights(name):
    """The weights a training job loads: only variants with lsc: true have any."""

    def weights(wildcards):
        if not spec_of(name, "train", wildcards)["pretrained"]:
            return []
        return f"{RESULTS}/{name}/{FAMILIES[name].pretrain_dir}/weights.pt".format(
            **dict(wildcards.items())
        )

    return weights


def job_code(wildcards):
    return ancient(JOB_CODE[f"{wildcards.family}_{wildcards.kind}"])


def job_code_version(wildcards):
    return ancient(JOB_CODE_VERSION[f"{wildcards.family}_{wildcards.kind}"])


def demo_registry(wildcards):
    """Demo data are generated by a rule; canonical files are placed or downloaded."""
    return [f"{DATA_DIR}/registry.txt"] if config["data"].get("demo", False) else []


# The figures and tables (rules/products.smk): each step's inputs, outputs and request, from
# its entry in lscrepro/workflow/outputs.py.
from lscrepro.workflow.outputs import (
    FamilyFile,
    Runs,
    module_file,
    product_outputs,
    products_made,
    request_file,
    steps,
)

REQUESTS = ".snakemake/lscrepro/requests"
# every file of every product this config makes: rule all asks for them
PRODUCT_OUTPUTS = product_outputs(config)


def source_paths(source):
    """A step's input as paths: a file under the results root, or every run's file."""
    if isinstance(source, Runs):
        return run_paths(source.family, source.kind, source.filename)
    return f"{RESULTS}/{source.path if isinstance(source, FamilyFile) else source}"


def step_inputs(sources):
    """A step's inputs; a family's file only where that family is on the grid."""
    return {
        name: source_paths(source)
        for name, source in sources.items()
        if not isinstance(source, FamilyFile) or source.family in FAMILY_NAMES
    }


def step_outputs(step, captions, category):
    """A step's outputs; those with a caption go into the report under ``category``."""
    outputs = {}
    for name, path in step.outputs.items():
        outputs[name] = f"{RESULTS}/{path}"
        if name in captions:
            caption = f"../report/{captions[name]}"
            outputs[name] = report(outputs[name], caption=caption, category=category)
    return outputs


def step_request(step):
    """params: the path of the step's request (function, files, settings as JSON)."""
    request = {
        "function": step.function,
        "inputs": step_inputs(step.inputs),
        "outputs": {name: f"{RESULTS}/{path}" for name, path in step.outputs.items()},
        "settings": step.settings(config),
    }
    return request_file(request, REQUESTS)
