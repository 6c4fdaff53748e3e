"""Lightning callbacks of StereoSync (installed as a top-level package beside ``stereosync``)."""
