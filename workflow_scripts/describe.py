"""A job's exact set-up, without running it: the resolved spec, each parameter's shape and
the parameter count of the job whose output folder is RUN_DIR.

    python workflow_scripts/describe.py results/rnn/wordptb/LSTM/depth2/default/seed0
    python workflow_scripts/describe.py results/demo/lru/fig4/depth2/lsc/clip0/seed0 \
        --configfile config/smoke.yaml --json

--json prints one object with a top-level integer "parameters".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lscrepro.workflow.configcheck import prepare_config
from lscrepro.describe import as_text, describe
from lscrepro.workflow.status import load_config


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="a job's output folder, e.g. results/rnn/wordptb/LSTM/depth2/default/seed0")
    parser.add_argument("--configfile", nargs="+", action="extend", default=[], metavar="FILE",
                        help="merged over config/config.yaml in order, as snakemake --configfile does")
    parser.add_argument("--directory", "-d", default=".", help="the workflow directory (default: .)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = parser.parse_args(argv)
    root = Path(args.directory)
    try:
        config = load_config(args.configfile, base=root / "config/config.yaml")
        prepare_config(config, root / "schemas/config.schema.yaml")
        description = describe(config, args.run_dir, root)
    except (ValueError, OSError) as error:
        sys.exit(f"describe: {error}")
    print(json.dumps(description, indent=2, sort_keys=True) if args.json else as_text(description))
    return 0


if __name__ == "__main__":
    sys.exit(main())
