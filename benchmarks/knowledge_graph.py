"""Knowledge graphs: KGCN, KGIN and KG-LightGCN against collaborative baselines on two public
KG datasets, TransE and RotatE link prediction, and LightGCN's epoch time.

1. **Last.FM, KGCN's protocol** (Wang et al., WWW 2019): HetRec 2011 listening data restricted
   to the 3,846 artists linked to KGCN's Freebase graph (1,872 users, 21,173 positives); each
   user gets as many random unobserved artists as negatives (seed 0), 42,346 labelled pairs
   as in the paper's Table 1; the pairs are split 6:2:2 at random (seed 0); AUC and F1
   (σ(logit) ≥ 0.5) on the test pairs. Models see the training positives only and draw one
   fresh negative per positive and epoch (the paper's code reuses the fixed training
   negatives). `kgcn-nokg` and `kgin-nokg` are the ablations: the KG model's chosen setting
   without the graph (every item its own entity, no triples); KG-LightGCN's is LightGCN,
   searched over the same grid.
2. **MovieLens-100K with RecBole's Freebase graph**, full ranking: all ratings are implicit
   positives, each user's interactions shuffled (seed 2020) and cut 80/10/10 (RecBole's
   rule, as `ml100k_full.py`); Recall@10 and NDCG@10 over every item not seen in training or
   validation.
3. **Link prediction on the Last.FM KG**: triples split 8:1:1 (held-out triples whose entities
   are not in training move to training); filtered MRR and Hits@k over head and tail queries.
4. **LightGCN seconds per epoch** on ML-100K, one thread, median of 3 epochs (RecBole's
   defaults: 64 factors, 2 layers, batch 2048).

Every choice (hyper-parameters, early stopping) is made on validation only; the chosen
configurations are rerun with 3 seeds (model initialisation and sampling; the data splits
stay fixed); on ML-100K BPR-MF, LightGCN and KG-LightGCN, which are close and cheap, with 5.

    python benchmarks/knowledge_graph.py              # ~30 min on one thread
    python benchmarks/knowledge_graph.py --only lastfm --seeds 1
    python benchmarks/knowledge_graph.py --only ml100k --models kgin kgin-nokg  # keeps the rest
    python benchmarks/knowledge_graph.py --render     # rewrite the markdown from the raw JSON
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from _knowledge_report import ORDER, render
from recforge.core.graph import KnowledgeGraph
from recforge.core.paths import data_root
from recforge.data.catalog import dataset_folder, load_dataset
from recforge.data.dataset import DataConfig, Prepared, prepare
from recforge.data.sampling import labelled_pairs
from recforge.data.sources.knowledge import (
    KnowledgeFiles,
    build_knowledge_graph,
    read_recbole_kg,
)
from recforge.evaluation.ctr import best_threshold, ctr_metrics, f1_at, score_pairs
from recforge.models import MODELS, NeuralRecommender, Recommender
from recforge.models.base import KnowledgeGraphModel
from recforge.representation.kg import (
    RotatE,
    RotatEConfig,
    TransE,
    TransEConfig,
    link_prediction,
    split_triples,
)
from recforge.training.experiment import evaluate_on
from recforge.training.loop import TrainConfig, fit

from _common import RESULTS, environment, load_raw, ran_stamp, save_raw

log = logging.getLogger("bench")
NAME = "knowledge_graph"

Candidate = tuple[dict[str, Any], dict[str, Any]]  # (model params, training overrides)

# --- 1. Last.FM CTR ---------------------------------------------------------------------------

LASTFM_TRAINING = TrainConfig(
    epochs=60, batch_size=512, patience=5, valid_metric="auc", n_negatives=1, progress=False
)
LASTFM_SEARCH: dict[str, list[Candidate]] = {
    "popularity": [({}, {})],
    "bprmf": [
        ({"factors": 64}, {"loss": "bpr", "lr": lr, "weight_decay": wd})
        for lr, wd in ((0.005, 0.0), (0.005, 1e-5), (0.002, 0.0))
    ],
    "lightgcn": [
        ({"factors": 64, "layers": layers}, {"loss": "bpr", "lr": lr, "weight_decay": wd})
        for layers, lr, wd in ((2, 0.005, 0.0), (3, 0.005, 0.0), (3, 0.01, 1e-6))
    ],
    # the paper's Last.FM setting first (D 16, K 8, H 1, sum, λ 1e-4, lr 5e-4, batch 128)
    "kgcn": [
        (
            {"dim": 16, "n_neighbours": 8, "n_iter": 1, "aggregator": "sum"},
            {"lr": 5e-4, "weight_decay": 1e-4, "batch_size": 128},
        ),
        (
            {"dim": 16, "n_neighbours": 8, "n_iter": 1, "aggregator": "sum"},
            {"lr": 2e-3, "weight_decay": 1e-5, "batch_size": 512},
        ),
        (
            {"dim": 32, "n_neighbours": 8, "n_iter": 1, "aggregator": "concat"},
            {"lr": 2e-3, "weight_decay": 1e-5, "batch_size": 512},
        ),
        (
            {"dim": 16, "n_neighbours": 8, "n_iter": 2, "aggregator": "sum"},
            {"lr": 2e-3, "weight_decay": 1e-5, "batch_size": 512},
        ),
    ],
    "kgin": [
        (
            {"dim": 64, "layers": layers, "n_intents": 4, "node_dropout": 0.5},
            {"loss": "bpr", "lr": lr, "weight_decay": 0.0, "epochs": 150},
        )
        for layers, lr in ((2, 0.001), (2, 0.005), (1, 0.005))
    ],
}


@dataclasses.dataclass
class CTRData:
    """Last.FM under KGCN's protocol: index arrays of the labelled pairs per split."""

    n_users: int
    n_items: int
    graph: KnowledgeGraph
    pairs: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # split -> users, items, labels
    train: sp.csr_matrix  # training positives


def lastfm_ctr_data(seed: int = 0) -> CTRData:
    tables = load_dataset("kgcn-lastfm-music")
    knowledge: KnowledgeFiles = tables.extras["knowledge"]
    item_ids = knowledge.links["item_id"].astype(np.int64).to_numpy()  # KGCN's item set
    frame = tables.interactions
    frame = frame[frame["item_id"].isin(item_ids)]
    user_ids = np.unique(frame["user_id"].to_numpy())
    users = np.searchsorted(user_ids, frame["user_id"].to_numpy())
    order = np.argsort(item_ids)
    items = order[np.searchsorted(item_ids, frame["item_id"].to_numpy(), sorter=order)]
    n_users, n_items = len(user_ids), len(item_ids)
    graph = build_knowledge_graph(knowledge, item_ids)
    positives = sp.csr_matrix((np.ones(len(users)), (users, items)), shape=(n_users, n_items))
    positives.sum_duplicates()
    pairs, train = labelled_pairs(positives, np.random.default_rng(seed), (0.6, 0.2, 0.2))
    n_labels = sum(len(labels) for _, _, labels in pairs.values())
    log.info(
        "Last.FM: %d users, %d items, %d positives, %d labelled pairs; KG %d entities, "
        "%d relations, %d triples",
        n_users,
        n_items,
        positives.nnz,
        n_labels,
        graph.n_entities,
        graph.n_relations,
        graph.n_triples,
    )
    return CTRData(n_users, n_items, graph, pairs, train)


def ctr_report(model: Recommender, data: CTRData) -> dict[str, Any]:
    """Validation AUC/F1, test AUC/F1@0.5 and test F1 at the validation-chosen cut."""
    out: dict[str, Any] = {}
    for which in ("valid", "test"):
        users, items, labels = data.pairs[which]
        logits = score_pairs(model, users, items)
        out[which] = ctr_metrics(labels, logits)
        if which == "valid":
            cut = best_threshold(labels, logits)
        else:
            out["test"]["f1_tuned"] = f1_at(labels, logits, threshold=cut)
    return out


# --- 2. ML-100K full ranking ----------------------------------------------------------------

ML_DATA = DataConfig(
    dataset="ml-100k", split="ratio_random", ratios=(0.8, 0.1, 0.1), eval_negatives=0, seed=2020
)
ML_TRAINING = TrainConfig(
    epochs=150, batch_size=2048, patience=8, valid_metric="ndcg@10", progress=False
)
ML_SEARCH: dict[str, list[Candidate]] = {
    "popularity": [({}, {})],
    # the two best BPR-MF settings of ml100k_full.py's search
    "bprmf": [
        ({"factors": 64}, {"loss": "bpr", "n_negatives": 4, "lr": 0.002, "weight_decay": wd})
        for wd in (0.0, 1e-5)
    ],
    "lightgcn": [
        (
            {"factors": 64, "layers": layers},
            {"loss": "bpr", "n_negatives": 1, "lr": 0.01, "weight_decay": 1e-6},
        )
        for layers in (2, 3)
    ],
    # KGCN costs ~K·D per pair and its full-ranking validation ~U·I·K·D: a short search
    "kgcn": [
        (
            {"dim": dim, "n_neighbours": 8, "n_iter": 1, "aggregator": "sum"},
            {
                "loss": "bce",
                "n_negatives": n,
                "lr": 0.002,
                "weight_decay": wd,
                "epochs": 40,
                "patience": 3,
            },
        )
        for dim, n, wd in ((32, 4, 1e-6), (64, 4, 1e-6), (64, 1, 1e-5))
    ],
    # the paper's D 64 and 4 intents; 2 hops (1 and 3 were lower on validation in a first
    # exploration, as were 4 negatives per positive and edge dropout 0.3 or 0.7)
    "kgin": [
        (
            {"dim": 64, "layers": 2, "n_intents": 4, "node_dropout": node, "message_dropout": 0.1},
            {"loss": "bpr", "n_negatives": 1, "lr": lr, "weight_decay": wd, "patience": 10},
        )
        for node, lr, wd in ((0.5, 0.001, 0.0), (0.5, 0.001, 1e-5), (0.5, 0.0005, 0.0))
    ],
}

# KG-LightGCN searches LightGCN's grid: the two differ only by the items' graph layer 0
for _search in (LASTFM_SEARCH, ML_SEARCH):
    _search["kglightgcn"] = _search["lightgcn"]


def ml100k_data() -> tuple[Prepared, KnowledgeGraph]:
    data = prepare(ML_DATA)
    knowledge = read_recbole_kg(dataset_folder("ml-100k-kg"))
    graph = build_knowledge_graph(knowledge, data.item_vocab.ids_)
    return data, graph


# --- shared search --------------------------------------------------------------------------


def build_model(
    name: str, params: dict[str, Any], n_users: int, graph: KnowledgeGraph
) -> Recommender:
    """``<model>-nokg`` is the ablation: the KG model without the graph (every item its own
    entity, no triples)."""
    cls: Any = MODELS[name.removesuffix("-nokg")]
    config = cls.config_class(**params)
    if issubclass(cls, KnowledgeGraphModel) and not name.endswith("-nokg"):
        return cls.for_graph(config, n_users, graph)
    return cls(config, n_users=n_users, n_items=graph.n_items)


def run_search(
    name: str,
    grid: list[Candidate],
    seeds: int,
    training: TrainConfig,
    train: sp.csr_matrix,
    graph: KnowledgeGraph,
    validate: Callable[[Recommender], dict[str, float]],
    report: Callable[[Recommender], dict[str, Any]],
    select_on: str,
) -> dict[str, Any]:
    """Every candidate with seed 0, the best by validation rerun with further seeds."""

    def one(params: dict[str, Any], overrides: dict[str, Any], seed: int) -> dict[str, Any]:
        torch.manual_seed(seed)
        model_params = {**params, "seed": seed} if name.startswith("kgcn") else params
        model = build_model(name, model_params, train.shape[0], graph)
        started = time.perf_counter()
        best_epoch = None
        if isinstance(model, NeuralRecommender):
            config = dataclasses.replace(training, seed=seed, **overrides)
            result = fit(model, train, config, validate=validate)
            best_epoch, epoch_seconds = result.best_epoch, result.seconds / len(result.history)
        else:
            model.fit(train)
            epoch_seconds = None
        fit_seconds = time.perf_counter() - started
        outcome = report(model)
        outcome.update(
            params=params,
            training=overrides,
            seed=seed,
            best_epoch=best_epoch,
            fit_seconds=round(fit_seconds, 1),
            epoch_seconds=None if epoch_seconds is None else round(epoch_seconds, 3),
        )
        log.info(
            "%s %s %s seed %d: valid %s test %s (%.0f s)",
            name,
            params,
            overrides,
            seed,
            fmt(outcome["valid"]),
            fmt(outcome["test"]),
            fit_seconds,
        )
        return outcome

    candidates = [one(params, overrides, 0) for params, overrides in grid]
    best = max(range(len(candidates)), key=lambda i: candidates[i]["valid"][select_on])
    runs = [candidates[best]]
    if name != "popularity":
        runs += [one(*grid[best], seed) for seed in range(1, seeds)]
    return {"candidates": candidates, "best": best, "runs": runs, "ran": ran_stamp()}


def fmt(metrics: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))


def bench_lastfm(seeds: int, models: list[str] | None, previous: dict) -> dict[str, Any]:
    data = lastfm_ctr_data()

    def validate(model: Recommender) -> dict[str, float]:
        users, items, labels = data.pairs["valid"]
        return ctr_metrics(labels, score_pairs(model, users, items))

    out = dict(previous)
    for name in chosen_models(models):
        out[name] = run_search(
            name, grid_of(name, LASTFM_SEARCH, out), seeds, LASTFM_TRAINING, data.train,
            data.graph, validate, lambda model: ctr_report(model, data), "auc",
        )  # fmt: skip
    return out


def chosen_models(models: list[str] | None) -> list[str]:
    """The models to (re)run, in report order; their entries replace the stored ones."""
    return [name for name in ORDER if models is None or name in models]


def grid_of(name: str, search: dict[str, list[Candidate]], out: dict[str, Any]) -> list[Candidate]:
    """A model's candidates; an ablation (``-nokg``) reruns its KG model's choice."""
    if name.endswith("-nokg"):
        best = out[name.removesuffix("-nokg")]
        chosen = best["candidates"][best["best"]]
        return [(chosen["params"], chosen["training"])]
    return search[name]


def bench_ml100k(seeds: int, models: list[str] | None, previous: dict) -> dict[str, Any]:
    data, graph = ml100k_data()
    ks = (10,)

    def validate(model: Recommender) -> dict[str, float]:
        return evaluate_on(model, data, "valid", "full", ks).metrics

    def report(model: Recommender) -> dict[str, Any]:
        return {
            "valid": evaluate_on(model, data, "valid", "full", ks).metrics,
            "test": evaluate_on(model, data, "test", "full", ks).metrics,
        }

    out = dict(previous)
    for name in chosen_models(models):
        out[name] = run_search(
            name, grid_of(name, ML_SEARCH, out), seeds, ML_TRAINING, data.train, graph,
            validate, report, "ndcg@10",
        )  # fmt: skip
    return out


# --- 3. link prediction ---------------------------------------------------------------------

LINK_SEARCH: dict[str, list[Any]] = {
    "transe": [
        TransEConfig(dim=64, margin=margin, norm=norm, epochs=30, batch_size=512, lr=0.01)
        for norm, margin in ((1, 4.0), (2, 1.0), (2, 2.0))
    ],
    "rotate": [
        RotatEConfig(dim=64, gamma=gamma, n_negatives=32, epochs=20, batch_size=512, lr=0.005)
        for gamma in (6.0, 12.0)
    ],
}


def bench_link_prediction(seeds: int) -> dict[str, Any]:
    tables = load_dataset("kgcn-lastfm-music")
    knowledge: KnowledgeFiles = tables.extras["knowledge"]
    graph = build_knowledge_graph(knowledge, knowledge.links["item_id"].to_numpy())
    train, valid, test = split_triples(graph, (0.8, 0.1, 0.1), rng=np.random.default_rng(0))
    known = graph.triples()
    out: dict[str, Any] = {
        "split": {"train": train.n_triples, "valid": len(valid), "test": len(test)},
        "n_entities": graph.n_entities,
        "n_relations": graph.n_relations,
    }
    classes = {"transe": TransE, "rotate": RotatE}
    for name, grid in LINK_SEARCH.items():
        candidates = []
        for config in grid:
            started = time.perf_counter()
            model = classes[name](config).fit(train)
            seconds = time.perf_counter() - started
            candidates.append({
                "config": dataclasses.asdict(config),
                "valid": link_prediction(model, valid, known),
                "test": link_prediction(model, test, known),
                "fit_seconds": round(seconds, 1),
            })  # fmt: skip
            log.info("%s %s valid %s", name, config, fmt(candidates[-1]["valid"]))
        best = max(range(len(candidates)), key=lambda i: candidates[i]["valid"]["mrr"])
        runs = [candidates[best]]
        for seed in range(1, seeds):
            config = dataclasses.replace(grid[best], seed=seed)
            model = classes[name](config).fit(train)
            runs.append({"config": dataclasses.asdict(config), "valid": link_prediction(model, valid, known),
                         "test": link_prediction(model, test, known)})  # fmt: skip
        out[name] = {"candidates": candidates, "best": best, "runs": runs}
    return out


# --- 4. LightGCN speed ----------------------------------------------------------------------


def bench_speed() -> dict[str, Any]:
    data = prepare(ML_DATA)
    model = MODELS["lightgcn"](
        MODELS["lightgcn"].config_class(factors=64, layers=2),
        n_users=data.n_users,
        n_items=data.n_items,
    )
    config = TrainConfig(
        loss="bpr", epochs=3, batch_size=2048, lr=0.001, n_negatives=1, progress=False
    )
    result = fit(model, data.train, config)
    seconds = [record["seconds"] for record in result.history]
    return {
        "epoch_seconds": seconds,
        "median": statistics.median(seconds),
        "train_interactions": int(data.train.nnz),
        "settings": "factors 64, layers 2, batch 2048, 1 negative, BPR, one thread",
    }


# --- report ---------------------------------------------------------------------------------

#: section -> run(seeds, models to rerun or None for all, the section's stored entries)
SECTIONS: dict[str, Callable[[int, list[str] | None, dict], dict[str, Any]]] = {
    "lastfm": bench_lastfm,
    "ml100k": bench_ml100k,
    "link_prediction": lambda seeds, models, previous: bench_link_prediction(seeds),
    "speed": lambda seeds, models, previous: bench_speed(),
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="*", choices=sorted(SECTIONS), default=None)
    parser.add_argument(
        "--models", nargs="*", choices=ORDER, default=None,
        help="rerun only these models of the lastfm and ml100k sections, keeping the others",
    )  # fmt: skip
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--render", action="store_true", help="only rewrite the markdown")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("recforge").setLevel(logging.WARNING)
    payload = load_raw(NAME) or {}
    if not args.render:
        torch.set_num_threads(args.threads)
        log.info("data under %s", data_root())
        for section, run in SECTIONS.items():
            if args.only and section not in args.only:
                continue
            started = time.perf_counter()
            previous = payload.get(section, {}) if args.models else {}
            result = run(args.seeds, args.models, previous)
            # reread: another run may have saved a section meanwhile; only this one changes
            payload = load_raw(NAME) or {}
            if args.models:  # the models rerun here replace theirs; the others stay as saved
                result = {
                    **payload.get(section, {}),
                    **{m: result[m] for m in args.models if m in result},
                }
            payload[section] = result
            payload.setdefault("seconds", {})[section] = round(time.perf_counter() - started)
            payload["environment"] = {**environment(), "threads": torch.get_num_threads()}
            save_raw(NAME, payload)
    (RESULTS / f"{NAME}.md").write_text(render(payload, __doc__))
    print((RESULTS / f"{NAME}.md").read_text())


if __name__ == "__main__":
    main()
