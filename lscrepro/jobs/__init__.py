"""The two jobs of every family, run from a spec (lscrepro.workflow.spec): ``pretrain`` (LSC
pre-training) and ``train``. One module each, so that each job's code inputs are only
what it imports; outputs are written atomically and store the spec they ran from."""
