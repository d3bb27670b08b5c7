# Figures and tables from the per-family summaries: each output has its own module in
# lscrepro/results/ (its reducer) and, for a figure, in lscrepro/plotting/ (its drawing).


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
        tail_log_on_failure(
            "python workflow_scripts/fig2_data.py --summary {input.summary} --out {output} 2> {log}"
        )


rule plot_fig2:
    input:
        data=f"{RESULTS}/ffn/fig2_data.csv",
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
        tail_log_on_failure(
            "python workflow_scripts/plot_fig2.py --data {input.data}"
            " --out {output.pdf} {output.png} 2> {log}"
        )


# Figure 3's numbers: per-run metric at its own best validation epoch (from each run's
# history), matched-pairs win percentages, and the appendix-style table.
rule fig3_data:
    input:
        summary=f"{RESULTS}/rnn/summary.csv",
        metrics=lambda wildcards: run_paths("rnn", "train", "metrics.json"),
        histories=lambda wildcards: run_paths("rnn", "train", "history.csv"),
        code=code_inputs("workflow_scripts/fig3_data.py"),
    output:
        runs=f"{RESULTS}/rnn/fig3_runs.csv",
        wins=report(
            f"{RESULTS}/rnn/fig3_wins.csv",
            caption="../report/fig3_wins.rst",
            category="Figure 3",
        ),
        table=report(
            f"{RESULTS}/rnn/table.csv",
            caption="../report/rnn_table.rst",
            category="Figure 3",
        ),
        markdown=f"{RESULTS}/rnn/table.md",
        latex=f"{RESULTS}/rnn/table.tex",
    log:
        f"{LOGS}/figures/fig3_data.log",
    localrule: True
    conda:
        "../envs/lscrepro.yaml"
    shell:
        tail_log_on_failure(
            "python workflow_scripts/fig3_data.py --summary {input.summary} --metrics {input.metrics}"
            " --out {output.runs} --wins-out {output.wins} --table-out {output.table}"
            " --markdown-out {output.markdown} --latex-out {output.latex} 2> {log}"
        )


rule plot_fig3:
    input:
        runs=f"{RESULTS}/rnn/fig3_runs.csv",
        wins=f"{RESULTS}/rnn/fig3_wins.csv",
        code=code_inputs("workflow_scripts/plot_fig3.py"),
    output:
        pdf=f"{RESULTS}/figures/fig3.pdf",
        png=report(
            f"{RESULTS}/figures/fig3.png",
            caption="../report/fig3.rst",
            category="Figure 3",
        ),
    log:
        f"{LOGS}/figures/plot_fig3.log",
    localrule: True
    conda:
        "../envs/lscrepro.yaml"
    shell:
        tail_log_on_failure(
            "python workflow_scripts/plot_fig3.py --runs {input.runs} --wins {input.wins}"
            " --out {output.pdf} {output.png} 2> {log}"
        )


# Figure 4 and Table 1 (the lru family): one setup each (config lru.setups).


rule fig4_data:
    input:
        metrics=lambda wildcards: run_paths("lru", "train", "metrics.json"),
        histories=lambda wildcards: run_paths("lru", "train", "history.csv"),
        code=code_inputs("workflow_scripts/fig4_data.py"),
    output:
        report(
            f"{RESULTS}/lru/fig4_curves.csv",
            caption="../report/fig4_curves.rst",
            category="Figure 4",
        ),
    log:
        f"{LOGS}/figures/fig4_data.log",
    localrule: True
    conda:
        "../envs/lscrepro.yaml"
    shell:
        tail_log_on_failure(
            "python workflow_scripts/fig4_data.py --setup fig4 --metrics {input.metrics}"
            " --out {output} 2> {log}"
        )


rule plot_fig4:
    input:
        curves=f"{RESULTS}/lru/fig4_curves.csv",
        code=code_inputs("workflow_scripts/plot_fig4.py"),
    output:
        pdf=f"{RESULTS}/figures/fig4.pdf",
        png=report(
            f"{RESULTS}/figures/fig4.png",
            caption="../report/fig4.rst",
            category="Figure 4",
        ),
    log:
        f"{LOGS}/figures/plot_fig4.log",
    localrule: True
    conda:
        "../envs/lscrepro.yaml"
    params:
        # as the jobs: the settings as one JSON spec (absent key: the dataclass default)
        spec=json.dumps(
            {"ylim": config["lru"]["fig4_ylim"]}
            if "fig4_ylim" in config.get("lru", {})
            else {}
        ),
    shell:
        tail_log_on_failure(
            "python workflow_scripts/plot_fig4.py --curves {input.curves} --spec '{params.spec}'"
            " --out {output.pdf} {output.png} 2> {log}"
        )


rule table1:
    input:
        summary=f"{RESULTS}/lru/summary.csv",
        code=code_inputs("workflow_scripts/table1.py"),
    output:
        csv=report(
            f"{RESULTS}/tables/table1.csv",
            caption="../report/table1.rst",
            category="Table 1",
        ),
        markdown=f"{RESULTS}/tables/table1.md",
        latex=f"{RESULTS}/tables/table1.tex",
    log:
        f"{LOGS}/figures/table1.log",
    localrule: True
    conda:
        "../envs/lscrepro.yaml"
    params:
        # absent key: the script's default (the reference's bold marks)
        bold=(
            f"--bold {config['lru']['table1_bold']}"
            if "table1_bold" in config.get("lru", {})
            else ""
        ),
    shell:
        tail_log_on_failure(
            "python workflow_scripts/table1.py --setup table1 --summary {input.summary}"
            " --out {output.csv} --markdown-out {output.markdown}"
            " --latex-out {output.latex} {params.bold} 2> {log}"
        )


# The paper's claims, each checked on the runs of this grid (lscrepro/results/claims.py), from the
# families' summaries and Figure 3's per-run metric. A family not in the config has its claims
# listed as not run. The report opens with this table (report/workflow.rst reads claims.md).
CLAIMS_OUTPUTS = [f"{RESULTS}/claims.csv", f"{RESULTS}/claims.md"]
CLAIMS_INPUTS = {
    name: path
    for name, path in {
        "ffn_summary": f"{RESULTS}/ffn/summary.csv",
        "rnn_summary": f"{RESULTS}/rnn/summary.csv",
        "rnn_runs": f"{RESULTS}/rnn/fig3_runs.csv",
        "lru_summary": f"{RESULTS}/lru/summary.csv",
    }.items()
    if name.split("_")[0] in FAMILY_NAMES
}


rule claims:
    input:
        **CLAIMS_INPUTS,
        code=code_inputs("workflow_scripts/claims.py"),
    output:
        csv=report(
            f"{RESULTS}/claims.csv", caption="../report/claims.rst", category="Claims"
        ),
        markdown=f"{RESULTS}/claims.md",
    log:
        f"{LOGS}/figures/claims.log",
    localrule: True
    conda:
        "../envs/lscrepro.yaml"
    params:
        files=" ".join(
            f"--{name.replace('_', '-')} {path}"
            for name, path in CLAIMS_INPUTS.items()
        ),
        demo="--demo" if config["data"].get("demo", False) else "",
    shell:
        tail_log_on_failure(
            "python workflow_scripts/claims.py {params.files}"
            " {params.demo} --out {output.csv} --markdown-out {output.markdown} 2> {log}"
        )


# Where the grid stands (also a CLI: python workflow_scripts/status.py); last, for the report.
rule status:
    input:
        summaries=[f"{RESULTS}/{family}/summary.csv" for family in FAMILY_NAMES],
        figures=[path for paths in FINAL_OUTPUTS.values() for path in paths],
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
        tail_log_on_failure(
            "python workflow_scripts/status.py --config-json '{params.config}' --out {output} > {log} 2>&1"
        )
