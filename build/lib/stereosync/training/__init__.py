"""Training mechanics the LightningModule delegates to: the non-finite guard, clipping, checkpoint contents."""
