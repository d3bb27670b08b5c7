# Figure 1: analytic path counts and toy-RNN gradients (no experiment results needed).
# Numbers and plotting live in separate library files, so a plotting-only edit reruns plot_fig1 alone.

FIG1_OUTPUTS = FINAL_OUTPUTS["Figure 1"]  # the PDF, then the PNG (lscrepro/outputs.py)


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
        depth=config["fig1"]["depth"],
        steps=config["fig1"]["steps"],
        batch=config["fig1"]["batch"],
        rhos=" ".join(str(rho) for rho in config["fig1"]["rhos"]),
        hernn_width=config["fig1"]["hernn_width"],
        seed=config["fig1"]["seed"],
        max_time=config["fig1"]["max_time"],
        depth_gap=config["fig1"]["depth_gap"],
    shell:
        tail_log_on_failure(
            "python workflow_scripts/fig1_numbers.py"
            " --depth {params.depth} --steps {params.steps} --batch {params.batch}"
            " --rhos {params.rhos} --hernn-width {params.hernn_width} --seed {params.seed}"
            " --max-time {params.max_time} --depth-gap {params.depth_gap}"
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
