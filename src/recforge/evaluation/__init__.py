"""recforge.evaluation: pure metrics, evaluation protocols, and reports.

* :mod:`~recforge.evaluation.metrics`: per-user ranking metrics and CTR metrics of arrays.
* :mod:`~recforge.evaluation.protocols`: sampled and full-ranking drivers over any
  recommender, and CTR evaluation.
* :mod:`~recforge.evaluation.report`: comparison tables and training-curve plots.
"""

from recforge.evaluation.metrics import (
    auc,
    average_precision,
    catalog_coverage,
    gauc,
    hit_rate,
    log_loss,
    mrr,
    ndcg,
    precision,
    recall,
)
from recforge.evaluation.protocols import (
    RANKING_METRICS,
    EvaluationResult,
    evaluate_ctr,
    evaluate_full,
    evaluate_sampled,
)
from recforge.evaluation.report import plot_training_curves, read_training_log, results_table

__all__ = [
    "RANKING_METRICS",
    "EvaluationResult",
    "auc",
    "average_precision",
    "catalog_coverage",
    "evaluate_ctr",
    "evaluate_full",
    "evaluate_sampled",
    "gauc",
    "hit_rate",
    "log_loss",
    "mrr",
    "ndcg",
    "plot_training_curves",
    "precision",
    "read_training_log",
    "recall",
    "results_table",
]
