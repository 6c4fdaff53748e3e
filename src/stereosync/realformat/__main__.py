"""``python -m stereosync.realformat --root DIR [--parts ...]``: make the real-format model files (see the package)."""

from __future__ import annotations

import argparse
import logging

from stereosync.realformat import PARTS, make_all


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, make the parts, log where each one is."""
    parser = argparse.ArgumentParser(prog="python -m stereosync.realformat", description=__doc__)
    parser.add_argument("--root", required=True, help="output folder (outside any git tree: about 7 GB in all)")
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS, help="which parts (default all)")
    parser.add_argument("--seed", type=int, default=0, help="torch seed of the random values")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for part, path in make_all(args.root, tuple(args.parts), args.seed).items():
        logging.getLogger(__name__).info("%s: %s", part, path)


if __name__ == "__main__":
    main()
