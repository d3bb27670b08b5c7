# Figures from the per-family summaries: each figure keeps only its own reducer.

FIG2_OUTPUTS = [
    "results/ffn/fig2_data.csv",
    "results/figures/fig2.pdf",
    "results/figures/fig2.png",
]


rule fig2_data:
    input:
        summary="results/ffn/summary.csv",
        code=code_inputs("workflow_scripts/fig2_data.py"),
    output:
        "results/ffn/fig2_data.csv",
    log:
        "logs/figures/fig2_data.log",
    localrule: True
    conda:
        "../envs/lscrepro.yaml"
    shell:
        "python workflow_scripts/fig2_data.py --summary {input.summary} --out {output} 2> {log}"


rule plot_fig2:
    input:
        summary="results/ffn/summary.csv",
        code=code_inputs("workflow_scripts/plot_fig2.py"),
    output:
        pdf="results/figures/fig2.pdf",
        png="results/figures/fig2.png",
    log:
        "logs/figures/plot_fig2.log",
    localrule: True
    conda:
        "../envs/lscrepro.yaml"
    shell:
        "python workflow_scripts/plot_fig2.py --summary {input.summary}"
        " --out {output.pdf} {output.png} 2> {log}"
