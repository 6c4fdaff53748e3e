"""The silent-video goals as ratios: a predicted-envelope row against the ground-truth-envelope row of the same
scenes and sampling, per ``silent_video.py`` run folder and over the folders together.

Each cell is event F1 at ±33 ms as a share of the reference row's / mean |offset| in ms / E-L1 as a multiple of
the reference row's; "together" sums each folder's figures, then divides (offsets averaged). Rows are read from
``<folder>/results.json``, or from their own ``result.json`` where a later run of the folder did not name them::

    python experiments/goal_ratios.py runs/silent_video_sw runs/silent_video_sw_fresh --row "LABEL"

where LABEL is the whole label of a row, as its table shows it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path


def load_row(folder: Path, label: str) -> dict:
    """One row of a ``silent_video.py`` folder by its table label."""
    results = folder / "results.json"
    if results.is_file():
        rows = json.loads(results.read_text())["rows"]
        if label in rows:
            return rows[label]
    own = folder / re.sub(r"[^\w.-]+", "_", label.replace("**", "").replace(" (video only)", "")).strip("_")
    if (own / "result.json").is_file():
        return json.loads((own / "result.json").read_text())
    raise KeyError(f"{folder}: no row {label!r}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python experiments/goal_ratios.py", description=__doc__.split("\n")[0])
    p.add_argument("folders", nargs="+", type=Path, help="silent_video.py --out folders")
    p.add_argument("--row", required=True, help="label of the predicted-envelope row")
    p.add_argument("--reference", default="ground-truth envelope", help="label of the reference row")
    a = p.parse_args(argv)
    try:
        pairs = [(load_row(f, a.reference), load_row(f, a.row)) for f in a.folders]
    except KeyError as err:
        print(f"error: {err.args[0]}", file=sys.stderr)
        return 2
    for folder, (g, r) in zip(a.folders, pairs):
        f1, off, el = r["event_f1_33ms"] / g["event_f1_33ms"], r["event_offset_ms"], r["e_l1"] / g["e_l1"]
        meets = f1 >= 0.9 and off <= 20 and el <= 1.2
        print(f"{folder}: {f1:.3f} / {off:.1f} / {el:.3f}{'  (meets all three)' if meets else ''}")
    if len(pairs) > 1:
        f1 = sum(r["event_f1_33ms"] for _, r in pairs) / sum(g["event_f1_33ms"] for g, _ in pairs)
        off = sum(r["event_offset_ms"] for _, r in pairs) / len(pairs)
        el = sum(r["e_l1"] for _, r in pairs) / sum(g["e_l1"] for g, _ in pairs)
        print(f"together: {f1:.3f} / {off:.1f} / {el:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
