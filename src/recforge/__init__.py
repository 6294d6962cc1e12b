"""recforge: a deep-learning recommender system.

Layers (imports go downward only, checked by import-linter): ``core`` <- ``data``,
``features`` <- ``representation`` <- ``models`` <- ``evaluation`` <- ``training`` <- ``cli``.
"""

__version__ = "0.1.0"
