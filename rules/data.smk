# Datasets: canonical files in config["data"]["dir"], verified against pinned hashes.
from lscrepro.data import DATASETS


rule demo_data:
    output:
        files=[f"{DATA_DIR}/{spec.filename}" for specs in DATASETS.values() for spec in specs],
        registry=f"{DATA_DIR}/registry.txt",
    input:
        code=["workflow_scripts/make_demo_data.py", "lscrepro/data/demo.py", *DATA_CODE],
    log:
        "logs/data/demo_data.log",
    conda:
        "../envs/lscrepro.yaml"
    localrule: True
    shell:
        "python workflow_scripts/make_demo_data.py --data-dir {DATA_DIR} 2> {log}"


def demo_registry(wildcards):
    return [f"{DATA_DIR}/registry.txt"] if config["data"].get("demo", False) else []


# Download (where allowed) and verify one dataset; login nodes have the network, so local.
rule fetch_dataset:
    output:
        "results/data/{dataset}.json",
    input:
        demo=demo_registry,
        code=["workflow_scripts/fetch_dataset.py", *DATA_CODE],
    params:
        offline="--offline" if config["data"].get("offline", False) else "",
    log:
        "logs/data/fetch_{dataset}.log",
    conda:
        "../envs/lscrepro.yaml"
    localrule: True
    shell:
        "python workflow_scripts/fetch_dataset.py --dataset {wildcards.dataset}"
        " --data-dir {DATA_DIR} {params.offline} --stamp {output} 2> {log}"
