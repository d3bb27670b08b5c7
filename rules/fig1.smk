# Figure 1: analytic path counts and toy-RNN gradients (no experiment results needed).
# Numbers and plotting live in separate library files, so a plotting-only edit reruns plot_fig1 alone.

FIG1_OUTPUTS = FINAL_OUTPUTS[
    "Figure 1"
]  # the PDF, then the PNG (lscrepro/workflow/outputs.py)


rule fig1_numbers:
    input:
        code=code_inputs("workflow_scripts/fig1_numbers.py"),
    output:
        paths=f"{RESULTS}/fig1/paths.csv",
        pascal=f"{RESULTS}/fig1/pascal.csv",
    log:
        f"{LOGS}/fig1/fig1_numbers.log",
    localrule: True
    conda:
        "../envs/lscrepro.yaml"
    params:
        spec=json.dumps(config["fig1"], sort_keys=True),  # as the jobs: one JSON spec
    shell:
        tail_log_on_failure(
            "python workflow_scripts/fig1_numbers.py --spec '{params.spec}'"
            " --out {output.paths} --pascal-out {output.pascal} 2> {log}"
        )


rule plot_fig1:
    input:
        paths=f"{RESULTS}/fig1/paths.csv",
        pascal=f"{RESULTS}/fig1/pascal.csv",
        code=code_inputs("workflow_scripts/plot_fig1.py"),
    output:
        pdf=FIG1_OUTPUTS[0],
        png=report(FIG1_OUTPUTS[1], caption="../report/fig1.rst", category="Figure 1"),
    log:
        f"{LOGS}/fig1/plot_fig1.log",
    localrule: True
    conda:
        "../envs/lscrepro.yaml"
    shell:
        tail_log_on_failure(
            "python workflow_scripts/plot_fig1.py --paths {input.paths} --pascal {input.pascal}"
            " --out {output} 2> {log}"
        )
