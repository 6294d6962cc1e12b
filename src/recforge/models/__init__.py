"""Recommenders, one file each, and the one explicit registry."""

from recforge.models.base import FittedRecommender, NeuralRecommender, Recommender, recommend
from recforge.models.bpr import BPRMF
from recforge.models.content import ContentRecommender
from recforge.models.dcn import DCN
from recforge.models.dcnv2 import DCNV2
from recforge.models.deepfm import DeepFM
from recforge.models.dien import DIEN
from recforge.models.din import DIN
from recforge.models.dnn import DNN
from recforge.models.ease import EASE
from recforge.models.gmf import GMF
from recforge.models.gru4rec import GRU4Rec
from recforge.models.ials import IALS
from recforge.models.item2vec import Item2VecRecommender
from recforge.models.itemknn import ItemKNN
from recforge.models.kgcn import KGCN
from recforge.models.kgin import KGIN
from recforge.models.kglightgcn import KGLightGCN
from recforge.models.lightgcn import LightGCN
from recforge.models.mlp import MLP
from recforge.models.neumf import NeuMF
from recforge.models.popularity import Popularity
from recforge.models.ranker import Ranker
from recforge.models.sasrec import SASRec
from recforge.models.textcnn import TextCNN
from recforge.models.twotower import TwoTower
from recforge.models.widedeep import WideDeep

MODELS: dict[str, type[NeuralRecommender] | type[FittedRecommender]] = {
    "popularity": Popularity,
    "itemknn": ItemKNN,
    "ease": EASE,
    "ials": IALS,
    "item2vec": Item2VecRecommender,
    "content": ContentRecommender,
    "bprmf": BPRMF,
    "gmf": GMF,
    "mlp": MLP,
    "neumf": NeuMF,
    "lightgcn": LightGCN,
    "kgcn": KGCN,
    "kgin": KGIN,
    "kglightgcn": KGLightGCN,
    "textcnn": TextCNN,
    "gru4rec": GRU4Rec,
    "sasrec": SASRec,
    "twotower": TwoTower,
}

#: ranking (CTR) models: ``forward(FeatureBatch) -> (B,)`` logits, built as
#: ``Ranker(config, schema)``
RANKERS: dict[str, type[Ranker]] = {
    "dnn": DNN,
    "widedeep": WideDeep,
    "deepfm": DeepFM,
    "dcn": DCN,
    "dcnv2": DCNV2,
    "din": DIN,
    "dien": DIEN,
}

__all__ = [
    "MODELS",
    "RANKERS",
    "FittedRecommender",
    "NeuralRecommender",
    "Ranker",
    "Recommender",
    "recommend",
]
