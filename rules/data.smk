# Datasets: canonical files in config["data"]["dir"], verified against pinned hashes.
from lscrepro.data import DATASETS


rule demo_data:
    input:
        code=["workflow_scripts/make_demo_data.py", "lscrepro/data/demo.py", *DATA_CODE],
    output:
        files=[
            f"{DATA_DIR}/{spec.filename}"
            for specs in DATASETS.values()
            for spec in specs
        ],
        registry=f"{DATA_DIR}/registry.txt",
    log:
        "logs/data/demo_data.log",
    localrule: True
    conda:
        "../envs/lscrepro.yaml"
    shell:
        'python workflow_scripts/make_demo_data.py --data-dir "$(dirname {output.registry})" 2> {log}'


# Download (where allowed) and verify one dataset; login nodes have the network, so local.
rule fetch_dataset:
    input:
        demo=demo_registry,
        code=["workflow_scripts/fetch_dataset.py", *DATA_CODE],
    output:
        "results/data/{dataset}.json",
    log:
        "logs/data/fetch_{dataset}.log",
    localrule: True
    conda:
        "../envs/lscrepro.yaml"
    params:
        data_dir=DATA_DIR,
        offline="--offline" if config["data"].get("offline", False) else "",
    shell:
        "python workflow_scripts/fetch_dataset.py --dataset {wildcards.dataset}"
        " --data-dir {params.data_dir} {params.offline} --stamp {output} 2> {log}"
