"""experiments/goal_ratios.py: ratios against the reference row, the pooled cell, rows kept only in their own
folder, and an unknown label named."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _row(f1, off, el):
    return {"event_f1_33ms": f1, "event_offset_ms": off, "e_l1": el}


def test_cells_pool_and_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(ROOT / "experiments"))
    from goal_ratios import main

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    rows = {"ground-truth envelope": _row(0.6, 17.0, 0.02), "predicted envelope, x": _row(0.57, 19.0, 0.023)}
    (a / "results.json").write_text(json.dumps({"rows": rows}))
    (b / "ground-truth_envelope").mkdir(parents=True)
    (b / "ground-truth_envelope" / "result.json").write_text(json.dumps(_row(0.5, 18.0, 0.03)))
    (b / "predicted_envelope_x").mkdir()
    (b / "predicted_envelope_x" / "result.json").write_text(json.dumps(_row(0.4, 21.0, 0.03)))
    assert main([str(a), str(b), "--row", "predicted envelope, x"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("0.950 / 19.0 / 1.150  (meets all three)")
    assert out[1].endswith("0.800 / 21.0 / 1.000")
    assert out[2] == "together: 0.882 / 20.0 / 1.0600"  # (0.57+0.4)/(0.6+0.5), (0.023+0.03)/(0.02+0.03)
    assert main([str(a), "--row", "predicted envelope, y"]) == 2
    assert "no row 'predicted envelope, y'" in capsys.readouterr().err
