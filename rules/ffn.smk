# Figure 2: deep feed-forward nets. pretrain_ffn -> train_ffn (variants with lsc: true).


rule pretrain_ffn:
    input:
        data=dataset_stamp,
        code=["workflow_scripts/pretrain_ffn.py", *LSC_CODE],
    output:
        weights="results/ffn/pretrained/{dataset}/{activation}/{variant}/seed{seed}/weights.pt",
        report="results/ffn/pretrained/{dataset}/{activation}/{variant}/seed{seed}/pretrain.json",
    log:
        "logs/ffn/pretrain/{dataset}_{activation}_{variant}_seed{seed}.log",
    benchmark:
        "results/benchmarks/pretrain_ffn/{dataset}_{activation}_{variant}_seed{seed}.tsv"
    conda:
        "../envs/lscrepro.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        settings=ffn_pretrain_settings,
    shell:
        "python workflow_scripts/pretrain_ffn.py --dataset {wildcards.dataset}"
        " --activation {wildcards.activation} --variant {wildcards.variant}"
        " --seed {wildcards.seed} --settings '{params.settings}' --threads {threads}"
        " --weights {output.weights} --report {output.report} 2> {log}"


rule train_ffn:
    input:
        data=dataset_stamp,
        weights=ffn_pretrained_weights,
        code=["workflow_scripts/train_ffn.py", *TRAIN_CODE],
    output:
        metrics="results/ffn/{dataset}/{activation}/{variant}/lr{lr}/seed{seed}/metrics.json",
        history="results/ffn/{dataset}/{activation}/{variant}/lr{lr}/seed{seed}/history.csv",
    log:
        "logs/ffn/train/{dataset}_{activation}_{variant}_lr{lr}_seed{seed}.log",
    benchmark:
        "results/benchmarks/train_ffn/{dataset}_{activation}_{variant}_lr{lr}_seed{seed}.tsv"
    conda:
        "../envs/lscrepro.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        settings=ffn_train_settings,
        weights=ffn_weights_argument,
    shell:
        "python workflow_scripts/train_ffn.py --dataset {wildcards.dataset}"
        " --activation {wildcards.activation} --variant {wildcards.variant}"
        " --lr {wildcards.lr} --seed {wildcards.seed} --settings '{params.settings}'"
        " --threads {threads} {params.weights}"
        " --metrics {output.metrics} --history {output.history} 2> {log}"
