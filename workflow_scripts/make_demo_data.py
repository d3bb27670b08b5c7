"""Write the offline demo datasets (canonical file names and formats) into a directory."""

from __future__ import annotations

import argparse

from lscrepro.data.demo import write_demo_data


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", required=True, help="directory to write the demo files into")
    args = parser.parse_args(argv)
    for _, path in sorted(write_demo_data(args.data_dir).items()):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
