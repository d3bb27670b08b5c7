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
        'python workflow_scripts/make_demo_data.py --data-dir "$(dirname {output.registry})" 2> {log}'


# Download (where allowed) and verify one dataset; login nodes have the network, so local.
rule fetch_dataset:
    output:
        "results/data/{dataset}.json",
    input:
        demo=demo_registry,
        code=["workflow_scripts/fetch_dataset.py", *DATA_CODE],
    params:
        data_dir=DATA_DIR,
        offline="--offline" if config["data"].get("offline", False) else "",
    log:
        "logs/data/fetch_{dataset}.log",
    conda:
        "../envs/lscrepro.yaml"
    localrule: True
    shell:
        "python workflow_scripts/fetch_dataset.py --dataset {wildcards.dataset}"
        " --data-dir {params.data_dir} {params.offline} --stamp {output} 2> {log}"
