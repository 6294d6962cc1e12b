"""recforge.features."""
