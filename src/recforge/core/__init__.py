"""Typed batches, strict config loading, seeding, errors and paths."""
