"""3-D audio formats beyond the stereo image: binaural (HRTF) and first-order ambisonics (docs/spatial_audio.md)."""
