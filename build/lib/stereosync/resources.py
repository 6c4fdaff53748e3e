"""Files shipped inside installed packages, addressed as ``pkg://<package>/<path>`` from any working directory."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

PKG_SCHEME = "pkg://"


def resolve_path(spec: str | os.PathLike) -> Path:
    """``pkg://stereosync/weights/x.safetensors`` → the installed file; any other path → itself (``~`` expanded).

    Raises:
        FileNotFoundError: naming the spec and where it was looked for, when the file does not exist.
    """
    text = os.fspath(spec)
    if text.startswith(PKG_SCHEME):
        package, _, inner = text[len(PKG_SCHEME) :].partition("/")
        try:
            path = Path(str(resources.files(package).joinpath(inner)))
        except ModuleNotFoundError as err:
            raise FileNotFoundError(f"{text}: package {package!r} is not installed") from err
    else:
        path = Path(text).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{text}: no such file ({path})")
    return path
