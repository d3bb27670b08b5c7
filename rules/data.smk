# Datasets: canonical files in config["data"]["dir"], verified against pinned hashes,
# then prepared once per dataset into a cache that training jobs memory-map.
from lscrepro.data.registry import DATASETS
from lscrepro.data.preparations import prepared_entries, preparation_files


rule demo_data:
    input:
        code=code_inputs("workflow_scripts/make_demo_data.py", for_jobs=True),
    output:
        files=[
            f"{DATA_DIR}/{spec.filename}"
            for specs in DATASETS.values()
            for spec in specs
        ],
        registry=f"{DATA_DIR}/registry.txt",
    log:
        f"{LOGS}/data/demo_data.log",
    localrule: True
    conda:
        "../envs/lscrepro.yaml"
    shell:
        tail_log_on_failure(
            'python workflow_scripts/make_demo_data.py --data-dir "$(dirname {output.registry})" 2> {log}'
        )


# Download (where allowed) and verify one dataset; login nodes have the network, so local.
rule fetch_dataset:
    input:
        demo=demo_registry,
        code=code_inputs("workflow_scripts/fetch_dataset.py", for_jobs=True),
    output:
        f"{RESULTS}/data/{{dataset}}.json",
    log:
        f"{LOGS}/data/fetch_{{dataset}}.log",
    localrule: True
    conda:
        "../envs/lscrepro.yaml"
    params:
        data_dir=DATA_DIR,
        offline="--offline" if config["data"].get("offline", False) else "",
    shell:
        tail_log_on_failure(
            "python workflow_scripts/fetch_dataset.py --dataset {wildcards.dataset}"
            " --data-dir {params.data_dir} {params.offline} --stamp {output} 2> {log}"
        )


# Decode, split and standardise once per preparation (sl_mnist reads the mnist files);
# the stamp's hashes make a new source file rebuild it.
rule prepare_dataset:
    input:
        stamp=lambda wildcards: f"{RESULTS}/data/{prepared_entries()[wildcards.prepared].dataset}.json",
        code=code_inputs(
            "workflow_scripts/prepare_dataset.py", *preparation_files(), for_jobs=True
        ),
    output:
        directory(f"{RESULTS}/prepared/{{prepared}}"),
    log:
        f"{LOGS}/data/prepare_{{prepared}}.log",
    wildcard_constraints:
        prepared="|".join(prepared_entries()),
    conda:
        "../envs/lscrepro.yaml"
    params:
        data_dir=DATA_DIR,
    shell:
        tail_log_on_failure(
            "python workflow_scripts/prepare_dataset.py --prepared {wildcards.prepared}"
            " --data-dir {params.data_dir} --offline --out {output} 2> {log}"
        )
