"""``stereosync-demo``: a Gradio page (and API) that voices a video with stereo audio.

- :mod:`stereosync.demo.engine`: the generation, through the predict seams (``ShardDataModule`` predict inputs,
  ``PredictionWriter``, ``Trainer.predict``);
- :mod:`stereosync.demo.app`: the page and the ``/generate`` endpoint, and the command line;
- :mod:`stereosync.demo.examples`: the bundled example reference sounds.
"""
