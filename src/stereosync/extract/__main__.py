"""``python -m stereosync.extract``: see :mod:`stereosync.extract.cli`."""

from stereosync.extract.cli import main

main()
