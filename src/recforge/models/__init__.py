"""Recommenders, one file each, and the one explicit registry."""

from recforge.models.base import FittedRecommender, NeuralRecommender, Recommender, recommend
from recforge.models.bpr import BPRMF
from recforge.models.ease import EASE
from recforge.models.gmf import GMF
from recforge.models.ials import IALS
from recforge.models.item2vec import Item2VecRecommender
from recforge.models.itemknn import ItemKNN
from recforge.models.mlp import MLP
from recforge.models.neumf import NeuMF
from recforge.models.popularity import Popularity

MODELS: dict[str, type[NeuralRecommender] | type[FittedRecommender]] = {
    "popularity": Popularity,
    "itemknn": ItemKNN,
    "ease": EASE,
    "ials": IALS,
    "item2vec": Item2VecRecommender,
    "bprmf": BPRMF,
    "gmf": GMF,
    "mlp": MLP,
    "neumf": NeuMF,
}

__all__ = ["MODELS", "FittedRecommender", "NeuralRecommender", "Recommender", "recommend"]
