"""``python -m stereosync.extract``: see :mod:`stereosync.extract.cli`."""

import sys

from stereosync.extract.cli import main

sys.exit(main())
