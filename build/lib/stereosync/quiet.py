"""A quiet start-up: the known-harmless notices of third-party packages are dropped, by their message only.

Every other warning still shows. What is dropped, and why it is harmless here:

- setuptools' ``pkg_resources is deprecated`` (torchmetrics 0.11 imports it; ``setuptools<81`` keeps it working);
- torchsde's ``Should have ta>=t0`` (the Brownian tree is queried a float32 rounding below its start sigma);
- stable-audio-tools' ``flash_attn not installed`` print and the ``No module named 'flash_attn'`` before it
  (the DiT falls back to PyTorch attention);
- Lightning's ``Found N module(s) in eval mode`` (the frozen backbone is in eval mode on purpose), its
  ``isinstance(treespec, LeafSpec)`` deprecation (Lightning's own use of torch's pytree), and its
  ``💡 Tip`` advertising a cloud logger.

:func:`install` must run before ``lightning`` (which imports torchmetrics) and before stable-audio-tools'
transformer module are imported: the CLI and the demo call it first.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import warnings

WARNING_MESSAGES = (
    r"pkg_resources is deprecated as an API",
    r"Should have ta>=t0",
    r"Found \d+ module\(s\) in eval mode",
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
)
"""Regular expressions matched against the start of a warning's message (``warnings.filterwarnings``)."""

PRINTED_LINES = ("No module named 'flash_attn'", "flash_attn not installed, disabling Flash Attention")
"""Lines stable-audio-tools prints (not warns) when its transformer module is imported."""

LOG_PREFIXES = ("💡 Tip: For seamless cloud logging",)
"""Starts of Lightning info messages dropped from its ``rank_zero`` logger."""


class _DropMessages(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(LOG_PREFIXES)


def install() -> None:
    """Drop the notices listed above (idempotent)."""
    for message in WARNING_MESSAGES:
        warnings.filterwarnings("ignore", message=message)
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _DropMessages) for f in rank_zero.filters):
        rank_zero.addFilter(_DropMessages())
    if "stable_audio_tools.models.transformer" not in sys.modules:
        _import_without_lines("stable_audio_tools.models.transformer", PRINTED_LINES)


def _import_without_lines(module: str, lines: tuple[str, ...]) -> None:
    """Import ``module`` with its printed output captured; lines other than ``lines`` are printed again."""
    import importlib

    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            importlib.import_module(module)
    except ImportError:  # not installed: whoever needs it reports that, with its own message
        pass
    finally:
        kept = [line for line in buffer.getvalue().splitlines() if line.strip() not in lines]
        if kept:
            print("\n".join(kept))
