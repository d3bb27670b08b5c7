# Config -> run tables (one row per job), wildcard constraints, input functions.
import json

from lscrepro.grid import ffn_pretrain_runs, ffn_train_runs


validate(config, schema="../schemas/config.schema.yaml")

DATA_DIR = config["data"]["dir"]
FFN = config["ffn"]
FFN_RUNS = ffn_train_runs(FFN)
FFN_PRETRAIN = ffn_pretrain_runs(FFN)

# Library files each job family runs: inputs of its rules, so that editing them
# reruns exactly the jobs that depend on them (Snakemake does not track imports).
DATA_CODE = [
    "lscrepro/io.py",
    "lscrepro/data/registry.py",
    "lscrepro/data/formats.py",
    "lscrepro/data/splits.py",
]
FFN_CODE = DATA_CODE + [
    "lscrepro/ffn_jobs.py",
    "lscrepro/models.py",
    "lscrepro/optim.py",
]
LSC_CODE = FFN_CODE + ["lscrepro/jacobians.py", "lscrepro/lsc.py"]
TRAIN_CODE = FFN_CODE + ["lscrepro/training.py"]


wildcard_constraints:
    dataset="|".join(FFN["datasets"]),
    activation="|".join(FFN["activations"]),
    variant="|".join(FFN["variants"]),
    lr=r"[0-9.e+-]+",
    seed=r"\d+",


def dataset_stamp(wildcards):
    return f"results/data/{wildcards.dataset}.json"


def ffn_job_settings(wildcards, kind):
    """JSON settings of one FFN job; only what the job uses, so a config edit reruns
    the jobs it concerns (Snakemake compares params)."""
    settings = {
        "data_dir": DATA_DIR,
        "offline": bool(config["data"].get("offline", False) or config["data"].get("demo", False)),
        "model": FFN["model"],
        "variant": FFN["variants"][wildcards.variant],
        kind: FFN[kind],
    }
    return json.dumps(settings, sort_keys=True)


def ffn_pretrain_settings(wildcards):
    return ffn_job_settings(wildcards, "lsc")


def ffn_train_settings(wildcards):
    return ffn_job_settings(wildcards, "train")


def ffn_pretrained_weights(wildcards):
    """The weights a training job loads: only variants with lsc: true have any."""
    if not FFN["variants"][wildcards.variant]["lsc"]:
        return []
    return (
        f"results/ffn/pretrained/{wildcards.dataset}/{wildcards.activation}/"
        f"{wildcards.variant}/seed{wildcards.seed}/weights.pt"
    )


def ffn_weights_argument(wildcards, input):
    return f"--weights {input.weights}" if input.weights else ""
