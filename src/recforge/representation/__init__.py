"""recforge.representation."""
