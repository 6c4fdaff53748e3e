"""``resolve_weights``: ``pkg://<package>/<path>`` names a file shipped in an installed package."""

from __future__ import annotations

from importlib import resources

import pytest

from stereosync.models.backbone import resolve_weights


def test_pkg_reference_resolves_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = resolve_weights("pkg://stereosync/model_configs/tiny.json")  # any shipped file will do
    assert path.is_file() and path.samefile(str(resources.files("stereosync") / "model_configs" / "tiny.json"))


def test_shipped_tiny_backbone_is_small_and_resolves():
    path = resolve_weights("pkg://stereosync/weights/tiny_ps_backbone.safetensors")
    assert path.stat().st_size <= 10 * 2**20


def test_missing_pkg_file_names_it():
    with pytest.raises(FileNotFoundError, match="nothing.safetensors"):
        resolve_weights("pkg://stereosync/weights/nothing.safetensors")
