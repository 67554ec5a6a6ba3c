"""Deployment: SavedModel exports of the optimiser and of a trained network
(with TFLite), and batch painting over Apache Beam."""
