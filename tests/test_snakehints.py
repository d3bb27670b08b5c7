"""The project's own lines where Snakemake's mislead: weights deleted after planning."""

from __future__ import annotations

import logging

from lscrepro.workflow.snakehints import MissingWeightsHint, missing_weights_hint, weights_patterns
from lscrepro.workflow.spec import FAMILIES

# what Snakemake 9 logs when a planned job's input is gone when the job starts
MESSAGE = """WorkflowError in rule train_ffn in file "/w/rules/jobs.smk", line 60:
OSError: Missing files after 5 seconds. This might be due to filesystem latency. If that is the case, consider to increase the wait time with --latency-wait:
results/demo/ffn/pretrained/mnist/relu/lsc/seed1/weights.pt (missing locally, parent dir contents: pretrain.json)"""
PATTERNS = weights_patterns("results/demo", {name: family.pretrain_dir for name, family in FAMILIES.items()})


def test_missing_weights_name_the_job_that_makes_them_and_the_fix():
    hint = missing_weights_hint(MESSAGE, PATTERNS)
    assert "the pre-trained weights results/demo/ffn/pretrained/mnist/relu/lsc/seed1/weights.pt are gone" in hint
    assert "The job pretrain_ffn (dataset=mnist activation=relu variant=lsc seed=1) makes them" in hint
    assert "Rerun the same snakemake command" in hint
    assert "snakemake results/demo/ffn/pretrained/mnist/relu/lsc/seed1/weights.pt --cores 1" in hint


def test_other_messages_are_left_alone():
    assert missing_weights_hint(MESSAGE.replace("weights.pt", "metrics.json"), PATTERNS) is None
    assert missing_weights_hint("MissingOutputException: weights.pt", PATTERNS) is None
    lru = MESSAGE.replace("ffn/pretrained/mnist/relu/lsc/seed1", "lru/pretrained/table1/depth6/lsc_half/seed3")
    assert "pretrain_lru (setup=table1 depth=6 variant=lsc_half seed=3)" in missing_weights_hint(lru, PATTERNS)


def test_the_filter_appends_the_hint_to_the_error_it_explains():
    record = logging.LogRecord("snakemake.logging", logging.ERROR, __file__, 1, MESSAGE, None, None)
    assert MissingWeightsHint(PATTERNS).filter(record)
    assert record.getMessage().startswith(MESSAGE) and "pretrain_ffn" in record.getMessage()
    info = logging.LogRecord("snakemake.logging", logging.INFO, __file__, 1, MESSAGE, None, None)
    assert MissingWeightsHint(PATTERNS).filter(info) and info.getMessage() == MESSAGE
