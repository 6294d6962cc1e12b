"""The ``recforge`` command."""
