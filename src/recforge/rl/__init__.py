"""recforge.rl."""
