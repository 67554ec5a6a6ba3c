"""Painting one picture by optimising its pixels against a frozen VGG16: the
runner (`runner.PixelOptimizer`), the descent it shares with the export, Adam and
L-BFGS, and checkpoints to resume a run."""
