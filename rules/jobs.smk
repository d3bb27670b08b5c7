# The code a family's jobs of one kind run, as one stamp: each job depends on it, not on
# its 25 files. It is rewritten when what that code does changes, not when a file is
# touched: a comment or docstring edit reruns nothing (rules/common.smk, code_inputs).
rule code_stamp:
    input:
        code=job_code,
        version=job_code_version,
    output:
        f"{RESULTS}/code/{{family}}_{{kind}}.json",
    log:
        f"{LOGS}/code/{{family}}_{{kind}}.log",
    wildcard_constraints:
        family="|".join(FAMILY_NAMES),
        kind="|".join(JOB_KINDS),
    localrule: True
    conda:
        "../envs/lscrepro.yaml"
    shell:
        tail_log_on_failure(
            "python workflow_scripts/code_stamp.py --out {output} {input.code} 2> {log}"
        )


# The two jobs of every family, from one template: pretrain_<family> -> train_<family>.
# A family is an entry of lscrepro.catalog.families plus its config section; nothing here
# is copied per family. Per-rule resources for clusters live in the profiles. Each job
# kind's files and log are its lscrepro.catalog.families.JOB_KINDS entry's (status.py reads them).

for family in FAMILY_NAMES:
    layout = FAMILIES[family]
    pretrain_dir = f"{RESULTS}/{family}/{layout.pretrain_dir}"
    train_dir = f"{RESULTS}/{family}/{layout.train_dir}"

    rule:
        name:
            f"pretrain_{family}"
        input:
            unpack(job_data(family, "pretrain")),
            code=f"{RESULTS}/code/{family}_pretrain.json",
        output:
            **job_outputs("pretrain", pretrain_dir),
        log:
            f"{LOGS}/{family}/{layout.pretrain_dir}/{JOB_KINDS['pretrain'].log}",
        benchmark:
            f"{RESULTS}/benchmarks/{family}/{layout.pretrain_dir}/pretrain.tsv"
        wildcard_constraints:
            **family_constraints(family),
        conda:
            "../envs/lscrepro.yaml"
        threads: 1
        params:
            spec=job_spec(family, "pretrain"),
        shell:
            tail_log_on_failure(
                "python workflow_scripts/job.py pretrain --spec '{params.spec}' --threads {threads}"
                " --weights {output.weights} --report {output.report} 2> {log}"
            )

    rule:
        name:
            f"train_{family}"
        input:
            unpack(job_data(family, "train")),
            weights=pretrained_weights(family),
            code=f"{RESULTS}/code/{family}_train.json",
        output:
            **job_outputs("train", train_dir),
        log:
            f"{LOGS}/{family}/{layout.train_dir}/{JOB_KINDS['train'].log}",
        benchmark:
            f"{RESULTS}/benchmarks/{family}/{layout.train_dir}/train.tsv"
        wildcard_constraints:
            **family_constraints(family),
        conda:
            "../envs/lscrepro.yaml"
        threads: 1
        params:
            spec=job_spec(family, "train"),
        shell:
            tail_log_on_failure(
                "python workflow_scripts/job.py train --spec '{params.spec}' --threads {threads}"
                " --weights '{input.weights}' --metrics {output.metrics} --history {output.history} 2> {log}"
            )

    # One tidy row per training run, joined with its pre-training: any family.
    rule:
        name:
            f"summarize_{family}"
        input:
            metrics=run_paths(family, "train", "metrics.json"),
            pretrain=run_paths(family, "pretrain", "pretrain.json"),
            code=code_inputs("workflow_scripts/summarize.py", for_jobs=True),
        output:
            report(
                f"{RESULTS}/{family}/summary.csv",
                caption="../report/summary.rst",
                category="Summaries",
            ),
        log:
            f"{LOGS}/{family}/summarize.log",
        localrule: True
        conda:
            "../envs/lscrepro.yaml"
        params:
            family=family,
        shell:
            tail_log_on_failure(
                "python workflow_scripts/summarize.py --family {params.family}"
                " --metrics {input.metrics} --pretrain {input.pretrain} --out {output} 2> {log}"
            )
