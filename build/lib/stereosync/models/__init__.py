"""StereoSync model parts: frozen backbone, ControlNet, conditioning encoders, objective, sampler."""
