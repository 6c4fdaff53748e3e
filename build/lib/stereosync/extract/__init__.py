"""Feature extraction: real videos -> StereoSync shards (docs/extraction.md).

Pipeline per video: PyAV decoding (:mod:`.decode`, frames picked by timestamp at 4 and 30 fps, audio at
44.1 kHz stereo) -> 2-s chunks -> depth maps + depth-frame embeddings (:mod:`.depth`, :mod:`.image_encoder`,
:mod:`.rollingdepth`), tracked boxes (:mod:`.detector` + ByteTrack in :mod:`.tracking`, or :mod:`.masa`),
CLAP embedding and RMS envelope (:mod:`.features`) -> validated shards, resumable (:mod:`.progress`,
:mod:`.sink`) and partitioned (:mod:`.inputs`) by :mod:`.pipeline`; command line in :mod:`.cli`.
Heavy dependencies are imported only by the wrapper that needs them.
"""
