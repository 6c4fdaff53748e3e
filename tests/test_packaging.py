"""Packaging: every package folder is installed, including the top-level datamodules/ and callbacks/."""

from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_in_setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    found = {".".join(p.parent.relative_to(ROOT / "src").parts) for p in (ROOT / "src").rglob("__init__.py")}
    found |= {p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name != "tests"}
    assert found == listed, f"setup.cfg packages differ: missing {found - listed}, stale {listed - found}"
