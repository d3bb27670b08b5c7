"""The project's own lines where Snakemake's would mislead (rules/common.smk).

- A pre-trained weights file deleted after Snakemake planned the run (a cleanup, a
  colleague, a full-disk script): Snakemake waits for it, then blames "filesystem
  latency". The job that makes it and the command that rebuilds it are what help.
- ``--cores 0``: Snakemake plans, then waits forever for a core.
No torch, no Snakemake here: the Snakefile imports this at parse time.
"""

from __future__ import annotations

import logging
import re

ZERO_CORES = ("--cores 0 gives Snakemake no core to run a job on: it would plan the jobs and then "
              "wait forever. Use --cores N with N >= 1 (or --cores all), or a profile "
              "(snakemake --profile slurm) on a cluster.")


def weights_patterns(results: str, layouts: dict[str, str]) -> dict[str, re.Pattern]:
    """{family: a regex of its pre-trained weights paths, one group per wildcard};
    ``layouts``: {family: its pretrain_dir pattern (lscrepro.workflow.spec.Family)}."""
    patterns = {}
    for family, layout in layouts.items():
        parts = re.split(r"\{(\w+)\}", f"{results}/{family}/{layout}/weights.pt")
        regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/\\s]+)" for i, part in enumerate(parts))
        patterns[family] = re.compile(regex)
    return patterns


def missing_weights_hint(message: str, patterns: dict[str, re.Pattern]) -> str | None:
    """The project's explanation of Snakemake's "Missing files after N seconds" when the
    missing input is pre-trained weights; None for any other message."""
    if "Missing files after" not in message:
        return None
    lines = []
    for family, pattern in patterns.items():
        for match in pattern.finditer(message):
            point = " ".join(f"{key}={value}" for key, value in match.groupdict().items())
            lines.append(
                f"lscrepro: the pre-trained weights {match.group(0)} are gone: deleted after Snakemake "
                "planned this run, or after the job that made them ended (its outputs are checked "
                f"then), not held up by filesystem latency. The job pretrain_{family} ({point}) "
                "makes them. Rerun the same snakemake command: it plans that pre-training again, "
                f"then the trainings that load it (to rebuild the weights alone: snakemake "
                f"{match.group(0)} --cores 1, with the same --configfile).")
    return "\n".join(dict.fromkeys(lines)) or None


class MissingWeightsHint(logging.Filter):
    """Appends missing_weights_hint to the Snakemake error it explains (a filter on
    Snakemake's logger; it lets every record through)."""

    def __init__(self, patterns: dict[str, re.Pattern]):
        super().__init__()
        self.patterns = patterns

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and isinstance(record.msg, str):
            hint = missing_weights_hint(record.msg, self.patterns)
            if hint:
                record.msg = f"{record.msg}\n{hint}"
        return True
