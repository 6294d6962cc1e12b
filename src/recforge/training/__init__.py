"""Losses, the training loop and experiment runs."""
