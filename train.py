"""StereoSync entry point: ``python train.py fit|validate|test|predict --config configs/tiny.yaml``.

A run that cannot start or go on because of its input (a bad config value, a missing file, a video that cannot be
used) ends with the error's message and exit status 2, not a traceback; ``STEREOSYNC_TRACEBACK=1`` shows it.
"""

import os
import sys

from stereosync.cli import cli_main

if __name__ == "__main__":
    try:
        cli_main()
    except (ValueError, FileNotFoundError) as err:
        if os.environ.get("STEREOSYNC_TRACEBACK") == "1":
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
