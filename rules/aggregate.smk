# Per-family summary CSVs and figures; cheap, so they run where snakemake runs.

FFN_METRICS = expand(
    "results/ffn/{dataset}/{activation}/{variant}/lr{lr_tag}/seed{seed}/metrics.json",
    zip,
    **FFN_RUNS[["dataset", "activation", "variant", "lr_tag", "seed"]].to_dict("list"),
)
FFN_PRETRAIN_REPORTS = expand(
    "results/ffn/pretrained/{dataset}/{activation}/{variant}/seed{seed}/pretrain.json",
    zip,
    **FFN_PRETRAIN[["dataset", "activation", "variant", "seed"]].to_dict("list"),
)
FFN_OUTPUTS = [
    "results/ffn/summary.csv",
    "results/ffn/fig2_data.csv",
    "results/figures/fig2.pdf",
    "results/figures/fig2.png",
]


rule aggregate_ffn:
    input:
        metrics=FFN_METRICS,
        pretrain=FFN_PRETRAIN_REPORTS,
        code=[
            "workflow_scripts/aggregate_ffn.py",
            "lscrepro/aggregate.py",
            "lscrepro/io.py",
        ],
    output:
        summary="results/ffn/summary.csv",
        figure_table="results/ffn/fig2_data.csv",
    log:
        "logs/aggregate/aggregate_ffn.log",
    localrule: True
    conda:
        "../envs/lscrepro.yaml"
    shell:
        "python workflow_scripts/aggregate_ffn.py --metrics {input.metrics}"
        " --pretrain {input.pretrain} --out {output.summary}"
        " --figure-table {output.figure_table} 2> {log}"


rule plot_fig2:
    input:
        summary="results/ffn/summary.csv",
        code=[
            "workflow_scripts/plot_fig2.py",
            "lscrepro/plotting/fig2.py",
            "lscrepro/aggregate.py",
            "lscrepro/io.py",
        ],
    output:
        pdf="results/figures/fig2.pdf",
        png="results/figures/fig2.png",
    log:
        "logs/aggregate/plot_fig2.log",
    localrule: True
    conda:
        "../envs/lscrepro.yaml"
    shell:
        "python workflow_scripts/plot_fig2.py --summary {input.summary}"
        " --out {output.pdf} {output.png} 2> {log}"
