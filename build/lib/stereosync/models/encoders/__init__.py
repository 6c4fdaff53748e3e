"""Trainable projections that turn each conditioning stream into cross-attention tokens (docs/design.md#streams)."""

from stereosync.models.encoders.boxes import BoxEncoder
from stereosync.models.encoders.clap_token import ClapEncoder
from stereosync.models.encoders.depth import DepthEncoder

__all__ = ["BoxEncoder", "ClapEncoder", "DepthEncoder"]
