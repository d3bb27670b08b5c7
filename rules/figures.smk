# Figures from the per-family summaries: each figure keeps only its own reducer.

FIG2_OUTPUTS = [
    f"{RESULTS}/ffn/fig2_data.csv",
    f"{RESULTS}/figures/fig2.pdf",
    f"{RESULTS}/figures/fig2.png",
]


rule fig2_data:
    input:
        summary=f"{RESULTS}/ffn/summary.csv",
        code=code_inputs("workflow_scripts/fig2_data.py"),
    output:
        report(
            f"{RESULTS}/ffn/fig2_data.csv",
            caption="../report/fig2_data.rst",
            category="Figure 2",
        ),
    log:
        f"{LOGS}/figures/fig2_data.log",
    localrule: True
    conda:
        "../envs/lscrepro.yaml"
    shell:
        "python workflow_scripts/fig2_data.py --summary {input.summary} --out {output} 2> {log}"


rule plot_fig2:
    input:
        summary=f"{RESULTS}/ffn/summary.csv",
        code=code_inputs("workflow_scripts/plot_fig2.py"),
    output:
        pdf=f"{RESULTS}/figures/fig2.pdf",
        png=report(
            f"{RESULTS}/figures/fig2.png",
            caption="../report/fig2.rst",
            category="Figure 2",
        ),
    log:
        f"{LOGS}/figures/plot_fig2.log",
    localrule: True
    conda:
        "../envs/lscrepro.yaml"
    shell:
        "python workflow_scripts/plot_fig2.py --summary {input.summary}"
        " --out {output.pdf} {output.png} 2> {log}"


# Where the grid stands (also a CLI: python workflow_scripts/status.py); last, for the report.
rule status:
    input:
        summaries=[f"{RESULTS}/{family}/summary.csv" for family in FAMILY_NAMES],
        figures=FIG1_OUTPUTS + (FIG2_OUTPUTS if "ffn" in FAMILY_NAMES else []),
        code=code_inputs("workflow_scripts/status.py"),
    output:
        report(
            f"{RESULTS}/status.csv", caption="../report/status.rst", category="Status"
        ),
    log:
        f"{LOGS}/status.log",
    localrule: True
    conda:
        "../envs/lscrepro.yaml"
    params:
        config=json.dumps(config),
    shell:
        "python workflow_scripts/status.py --config-json '{params.config}' --out {output} > {log} 2>&1"
