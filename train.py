"""StereoSync entry point: ``python train.py fit|validate|test|predict --config configs/tiny.yaml``.

The same command line as the installed ``stereosync`` console script (:func:`stereosync.cli.main`): input errors
end with their message and exit status 2, ``predict`` with status 1 when some videos failed.
"""

from stereosync.cli import main

if __name__ == "__main__":
    main()
