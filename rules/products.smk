# Every figure and table from one template: the products of lscrepro/workflow/outputs.py, each a
# reducer (tables from the runs' files) and, for a figure, a drawer (the figure from those tables).
# workflow_scripts/product.py calls the step's function with the files and settings of its
# request, a JSON file written when planning (step_request in rules/common.smk) and named by its
# digest: a changed setting reruns the step (the params trigger), and no JSON goes through the shell.
for product_name, product in products_made(config).items():
    for step in steps(product):

        rule:
            name:
                step.rule
            input:
                **step_inputs({**step.inputs, **step.needs}),
                code=code_inputs(
                    "workflow_scripts/product.py", module_file(step.function)
                ),
            output:
                **step_outputs(step, product.captions, product_name),
            log:
                f"{LOGS}/{product.logs}/{step.rule}.log",
            localrule: True
            conda:
                "../envs/lscrepro.yaml"
            params:
                request=step_request(step),
            shell:
                tail_log_on_failure(
                    "python workflow_scripts/product.py {params.request} 2> {log}"
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
        config=request_file(config, REQUESTS),  # the merged config, as a JSON file
    shell:
        tail_log_on_failure(
            "python workflow_scripts/status.py --merged-config {params.config} --out {output} > {log} 2>&1"
        )
