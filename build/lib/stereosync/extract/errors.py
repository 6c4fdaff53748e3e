"""Why a video could not be (fully) turned into samples.

Each class name is the ``error`` field of a failure-manifest line, so the names are part of the output
format. ``fatal`` errors mean the video yields no samples; a non-fatal one (``CorruptStreamError``) means
some chunks were dropped and the rest were kept.
"""

from __future__ import annotations


class ExtractError(Exception):
    """Base class: an input the extraction cannot (fully) use. The message says what and where."""

    fatal = True


class NotAVideoError(ExtractError):
    """The file is not a media container at all (e.g. a text file named ``.mp4``)."""


class UnreadableContainerError(ExtractError):
    """The file looks like a media container but cannot be opened (truncated or damaged header/index)."""


class NoVideoStreamError(ExtractError):
    """The container has no video stream (an audio-only file)."""


class NoAudioStreamError(ExtractError):
    """The container has no audio stream; training samples need the clip's own audio."""


class ZeroFramesError(ExtractError):
    """The video stream decodes to no frame at all."""


class TooShortError(ExtractError):
    """The usable duration (shorter of audio and video) is below one chunk."""


class CorruptStreamError(ExtractError):
    """Packets failed to decode mid-stream; chunks overlapping them are dropped, the others are kept."""

    fatal = False
