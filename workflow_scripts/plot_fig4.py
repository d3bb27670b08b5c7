"""Draw Figure 4 (ResLRU on PTB learning curves) from the table written by fig4_data.py."""

from __future__ import annotations

import argparse
import json

from lscrepro.plotting.fig4 import Fig4Settings, plot_fig4
from lscrepro.results.fig4 import read_curves
from lscrepro.settings import settings_from


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--curves", required=True, help="fig4_curves.csv")
    parser.add_argument("--out", nargs="+", required=True, help="figure files; format from the suffix")
    parser.add_argument("--spec", default="{}", help='its settings as JSON: {"ylim": [LOW, HIGH] or null} '
                        "(default: the paper's 100 300)")
    args = parser.parse_args(argv)
    try:
        settings = settings_from(Fig4Settings, json.loads(args.spec), "lru.fig4")
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    plot_fig4(read_curves(args.curves), *args.out, settings=settings)


if __name__ == "__main__":
    main()
