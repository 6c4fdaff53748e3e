"""StereoSync entry point: ``python train.py fit|validate|test|predict --config configs/tiny.yaml``."""

from stereosync.cli import cli_main

if __name__ == "__main__":
    cli_main()
