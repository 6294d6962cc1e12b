"""Cold-start items on MovieLens-1M: which of the new items to show whom.

Data: `$RECFORGE_DATA/ml-1m` (1,000,209 ratings of 3,706 movies by 6,040 users, every
rating an interaction; `movies.dat` titles and genres as item text). 10% of the items are
held out *entirely* (`recforge.data.split.cold_item_split`, seeded): no model sees any of
their interactions; a further 10% are held out the same way for model selection
(validation), then put back into training for the test runs. A test user is a user with
a training interaction and at least one interaction with a held-out item; their relevant
items are the held-out items they interacted with.

Two rankings per user, recall@20 and NDCG@20 (recforge.evaluation, ties broken against
the relevant items):
* among the held-out items only: the cold-start question proper;
* among all items the user has not interacted with in training (held-out and warm).

Selection: each model's grid is scored on the validation items of seed 0 (recall@20 among
held-out items); the chosen setting is then run on the test items of 3 seeds of the
item hold-out. Encode throughput: each encoder's `transform` of all item texts, one
thread, median of 3.

    python benchmarks/cold_start.py                      # ~10 min on one core
    python benchmarks/cold_start.py --models content-tfidf,random   # rerun some, keep others
    python benchmarks/cold_start.py --render             # rewrite the .md from the raw JSON

Adding a model: one entry in ENTRIES (a fit function and a grid).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from torch import Tensor

from recforge.core.vocab import IdVocab
from recforge.data.catalog import load_dataset
from recforge.data.matrix import frame_to_csr, index_interactions
from recforge.data.preprocess import deduplicate
from recforge.data.split import cold_item_split
from recforge.evaluation.protocols import evaluate_full
from recforge.features.profiles import item_text
from recforge.models import FittedRecommender, Recommender
from recforge.models.content import ContentConfig, ContentRecommender
from recforge.models.popularity import Popularity, PopularityConfig
from recforge.models.textcnn import TextCNN, TextCNNConfig
from recforge.representation.text import text_encoder
from recforge.training.loop import TrainConfig
from recforge.training.loop import fit as train_neural

from _common import (
    RESULTS,
    command,
    environment,
    environment_markdown,
    load_raw,
    median_text,
    save_raw,
)

log = logging.getLogger("bench")
NAME = "cold_start"
DATASET = "ml-1m"
HOLD_OUT = 0.1
SEEDS = (0, 1, 2)
K = 20
COLUMNS = (f"recall@{K}", f"ndcg@{K}")


# ------------------------------------------------------------------------------ data


@dataclass
class ColdData:
    """One item hold-out: training interactions, the held-out (target) items and their
    interactions, and every item's metadata (row i = item index i)."""

    seed: int
    which: str  # "valid" (selection) or "test"
    train: sp.csr_matrix  # (U, I) binary, no interaction with a held-out item
    target: sp.csr_matrix  # (U, I) binary, interactions with the target items only
    target_items: np.ndarray  # (T,) item indices held out and evaluated
    items: pd.DataFrame  # (I rows) metadata
    item_vocab: IdVocab

    @property
    def n_users(self) -> int:
        return int(self.train.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.train.shape[1])

    @property
    def texts(self) -> list[str]:
        return item_text(self.items).tolist()


_TABLES: dict[str, Any] = {}


def _indexed() -> tuple[Any, pd.DataFrame]:
    if "indexed" not in _TABLES:
        tables = load_dataset(DATASET)
        indexed = index_interactions(deduplicate(tables.interactions))
        items = tables.items.drop_duplicates("item_id").set_index("item_id")
        items = items.reindex(pd.Index(indexed.item_vocab.ids_)).reset_index(names="item_id")
        _TABLES["indexed"], _TABLES["items"] = indexed, items
    return _TABLES["indexed"], _TABLES["items"]


def cold_data(seed: int, which: str) -> ColdData:
    """The hold-out of ``seed``: ``which = "valid"`` trains on 80% of the items and targets
    the validation items; ``"test"`` trains on 90% and targets the test items."""
    indexed, items = _indexed()
    split = cold_item_split(
        indexed.frame, HOLD_OUT, rng=np.random.default_rng(seed), valid_fraction=HOLD_OUT
    )
    n_users, n_items = indexed.n_users, indexed.n_items
    if which == "valid":
        train_frame, target_frame = split.train, split.valid
    else:
        train_frame, target_frame = pd.concat([split.train, split.valid]), split.test
    return ColdData(
        seed=seed,
        which=which,
        train=frame_to_csr(train_frame, n_users, n_items),
        target=frame_to_csr(target_frame, n_users, n_items),
        target_items=np.unique(target_frame["item_idx"].to_numpy()),
        items=items,
        item_vocab=indexed.item_vocab,
    )


# ---------------------------------------------------------------------------- models


class RandomScores(FittedRecommender):
    """Uniform random scores, fixed per (user, item) by the seed: the floor."""

    config_class = dict
    state_names = ("scores_",)

    def fit(self, train: sp.csr_matrix, seed: int = 0) -> RandomScores:
        generator = torch.Generator().manual_seed(seed)
        self.scores_ = torch.rand(self.n_users, self.n_items, generator=generator)
        return self

    def score_all(self, user_idx: Tensor) -> Tensor:
        return self.scores_[user_idx]


class Restricted(FittedRecommender):
    """A model's scores over a subset of the items (the held-out ones): ``(B, T)``."""

    def __init__(self, model: Recommender, columns: np.ndarray) -> None:
        super().__init__(getattr(model, "config", None), model.n_users, len(columns))
        self.model = model.eval()
        self.columns = torch.as_tensor(columns, dtype=torch.int64)

    def score_all(self, user_idx: Tensor) -> Tensor:
        with torch.no_grad():
            return self.model.score_all(user_idx)[:, self.columns]


def fit_random(data: ColdData, params: dict[str, Any], seed: int) -> Recommender:
    return RandomScores({}, data.n_users, data.n_items).fit(data.train, seed=seed)


def fit_popularity(data: ColdData, params: dict[str, Any], seed: int) -> Recommender:
    return Popularity(PopularityConfig(), data.n_users, data.n_items).fit(data.train)


def fit_content(encoder: str) -> Callable[[ColdData, dict[str, Any], int], Recommender]:
    def fit(data: ColdData, params: dict[str, Any], seed: int) -> Recommender:
        config = ContentConfig(encoder=encoder, seed=seed, **params)
        model = ContentRecommender(config, data.n_users, data.n_items)
        return model.fit(data.train, items=data.items)

    return fit


#: grid keys that go to the training loop; the rest go to ``TextCNNConfig``
TEXTCNN_TRAINING = ("epochs", "lr")


def fit_textcnn(data: ColdData, params: dict[str, Any], seed: int) -> Recommender:
    """Text-CNN item tower (BPR) trained on the catalogue of the items with a training
    interaction, so held-out items are never drawn as negatives, then given the whole
    catalogue (``TextCNN.with_catalogue``): held-out items are scored by their text alone.
    A fixed number of epochs from the grid (no early stopping on the target items)."""
    training = {k: v for k, v in params.items() if k in TEXTCNN_TRAINING}
    options = {k: v for k, v in params.items() if k not in TEXTCNN_TRAINING}
    config = TextCNNConfig(factors=32, word_dim=32, filters=32, max_tokens=16, **options)
    warm = np.flatnonzero(np.diff(data.train.tocsc().indptr) > 0)
    train = data.train[:, warm].tocsr()
    texts = data.texts
    torch.manual_seed(seed)
    model = TextCNN.from_texts(config, data.n_users, [texts[i] for i in warm], train=train)
    result = train_neural(
        model,
        train,
        TrainConfig(
            loss="bpr", n_negatives=1, batch_size=4096, seed=seed, progress=False, **training
        ),
    )
    seconds = [row["seconds"] for row in result.history]
    log.info(
        "textcnn %s seed %d: %.1f s/epoch (median of %d), %.0f samples/s",
        params,
        seed,
        statistics.median(seconds),
        len(seconds),
        result.samples_per_second,
    )
    source = np.full(data.n_items, -1)
    source[warm] = np.arange(len(warm))
    return model.with_catalogue(model.vocabulary_.transform(texts), source)


@dataclass(frozen=True)
class Entry:
    """A benchmark row: how to fit the model on a hold-out, and the settings tried on the
    validation items (the first is used alone when ``grid`` has one element)."""

    fit: Callable[[ColdData, dict[str, Any], int], Recommender]
    grid: list[dict[str, Any]] = field(default_factory=lambda: [{}])
    #: the model's scores do not depend on the seed beyond the hold-out
    deterministic: bool = False


#: every row of the table; a new model is one more entry
ENTRIES: dict[str, Entry] = {
    "random": Entry(fit_random),
    "popularity": Entry(fit_popularity, deterministic=True),
    "content-tfidf": Entry(fit_content("tfidf"), [{"dim": 64}, {"dim": 256}]),
    "content-doc2vec": Entry(
        fit_content("doc2vec"),
        [
            {"encoder_options": {"mode": mode, "epochs": epochs}}
            for mode in ("dbow", "dm")
            for epochs in (20, 40)
        ],
    ),
    "content-minilm": Entry(fit_content("minilm"), deterministic=True),
    "textcnn": Entry(
        fit_textcnn,
        [
            {"min_count": 3, "epochs": 10, "lr": 0.003},
            {"min_count": 5, "epochs": 10, "lr": 0.003},
            {"min_count": 3, "id_embedding": True, "id_dropout": 0.8, "epochs": 10, "lr": 0.003},
        ],
    ),
}
#: encoders whose throughput is measured
ENCODERS = {"tfidf": {"dim": 64}, "doc2vec": {"dim": 64}, "minilm": {}}


# ------------------------------------------------------------------------- evaluation


def evaluate(model: Recommender, data: ColdData) -> dict[str, Any]:
    """Both rankings for the users with a training item and a target item."""
    has_train = np.diff(data.train.indptr) > 0
    has_target = np.diff(data.target.indptr) > 0
    users = np.flatnonzero(has_train & has_target)
    cold = evaluate_full(
        Restricted(model, data.target_items),
        data.target[:, data.target_items].tocsr(),
        ks=(K,),
        users=users,
    )
    everything = evaluate_full(model, data.target, exclude=data.train, ks=(K,), users=users)
    return {
        "among_held_out": {c: cold.metrics[c] for c in COLUMNS},
        "among_all": {c: everything.metrics[c] for c in COLUMNS},
        "n_users": len(users),
        "n_target_items": len(data.target_items),
        "n_target_interactions": int(data.target[users].nnz),
    }


def run_model(name: str, seeds: tuple[int, ...] = SEEDS) -> dict[str, Any]:
    entry = ENTRIES[name]
    valid = cold_data(0, "valid")
    chosen, selection = entry.grid[0], []
    if len(entry.grid) > 1:
        for params in entry.grid:
            metrics = evaluate(entry.fit(valid, params, 0), valid)["among_held_out"]
            selection.append({"params": params, "valid": metrics})
            log.info("%s %s valid %s", name, params, metrics)
        best = max(selection, key=lambda row: row["valid"][f"recall@{K}"])
        chosen = best["params"]
    runs = []
    for seed in seeds:
        data = cold_data(seed, "test")
        start = time.perf_counter()
        model = entry.fit(data, chosen, seed)
        fit_seconds = time.perf_counter() - start
        result = evaluate(model, data)
        result.update(seed=seed, fit_seconds=round(fit_seconds, 2))
        log.info("%s seed %d: %s", name, seed, result)
        runs.append(result)
    written = {"command": command(), "created": environment()["created"]}
    return {"chosen": chosen, "selection": selection, "runs": runs, **written}


def throughput(name: str, options: dict[str, Any], repeats: int = 3) -> dict[str, Any]:
    """Texts per second of ``transform`` over every item text (the encoder fitted once on
    all of them), one thread."""
    _, items = _indexed()
    texts = item_text(items).tolist()
    torch.set_num_threads(1)
    start = time.perf_counter()
    encoder = text_encoder(name, **options).fit(texts)
    fit_seconds = time.perf_counter() - start
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        encoder.transform(texts)
        rates.append(len(texts) / (time.perf_counter() - start))
    return {"texts": len(texts), "fit_seconds": round(fit_seconds, 2), "texts_per_second": rates}


# ---------------------------------------------------------------------------- output


def _cell(runs: list[dict[str, Any]], ranking: str, column: str) -> str:
    return median_text([run[ranking][column] for run in runs], 4)


def render(payload: dict[str, Any]) -> str:
    env = payload["environment"]
    runs0 = next(iter(payload["models"].values()))["runs"][0]
    lines = [
        "# Cold-start items on MovieLens-1M",
        "",
        (__doc__ or "").split("\n\n    python")[0].split("\n", 2)[2].strip(),
        "",
        f"Written by `{env['command']}`; raw: `docs/results/raw/{NAME}.json`.",
        "",
    ]
    commands = {m.get("command", env["command"]) for m in payload["models"].values()}
    if len(commands) > 1:  # rows rerun one by one with --models
        lines += [
            "Rows written by: "
            + "; ".join(
                f"{name}: `{m.get('command', env['command'])}` ({m.get('created', '?')})"
                for name, m in payload["models"].items()
            ),
            "",
        ]
    lines += [
        f"Each hold-out: {runs0['n_target_items']} held-out items, about "
        f"{runs0['n_users']:,} test users and {runs0['n_target_interactions']:,} of their "
        "interactions with held-out items (seed 0).",
        "",
        "## Accuracy (test items, median over 3 item hold-outs (min–max))",
        "",
        f"| model | chosen on validation | among held-out: recall@{K} | NDCG@{K} "
        f"| among all unseen: recall@{K} | NDCG@{K} | fit s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, result in payload["models"].items():
        runs = result["runs"]
        chosen = ", ".join(f"{k}={v}" for k, v in result["chosen"].items()) or "-"
        fit_s = statistics.median(run["fit_seconds"] for run in runs)
        lines.append(
            f"| {name} | {chosen} | {_cell(runs, 'among_held_out', COLUMNS[0])} "
            f"| {_cell(runs, 'among_held_out', COLUMNS[1])} "
            f"| {_cell(runs, 'among_all', COLUMNS[0])} | {_cell(runs, 'among_all', COLUMNS[1])} "
            f"| {fit_s:.1f} |"
        )
    lines += ["", "## Validation (seed 0, among held-out validation items)", ""]
    lines += [f"| model | setting | recall@{K} | NDCG@{K} |", "|---|---|---|---|"]
    for name, result in payload["models"].items():
        for row in result["selection"]:
            params = ", ".join(f"{k}={v}" for k, v in row["params"].items())
            valid = row["valid"]
            lines.append(
                f"| {name} | {params} | {valid[COLUMNS[0]]:.4f} | {valid[COLUMNS[1]]:.4f} |"
            )
    lines += [
        "",
        "## Encode throughput (one thread, `transform` of all item texts, median of 3 (min–max))",
        "",
        "| encoder | texts | texts/s | fit s |",
        "|---|---|---|---|",
    ]
    for name, speed in payload.get("throughput", {}).items():
        rate = median_text(speed["texts_per_second"], 0)
        lines.append(f"| {name} | {speed['texts']} | {rate} | {speed['fit_seconds']} |")
    lines += ["", "## Notes", ""]
    lines += [f"- {note}" for note in payload.get("notes", [])]
    lines += ["", "## Environment", "", environment_markdown(env), ""]
    return "\n".join(lines)


NOTES = [
    "Popularity scores every held-out item 0 (no training interaction): all tie and ties "
    "count against the relevant items, so it reaches none of them in either ranking; "
    "random is the floor a cold-start model must beat.",
    "Content models fit their encoder on the texts of training items only and encode the "
    "held-out items as new items (`ContentConfig.fit_on = 'train_items'`); a user is the "
    "plain mean of their training items' vectors (ML-1M here has no timestamps, so no "
    "recency weighting).",
    "Item text is `title (year). genres` from `movies.dat` only: a few words per item, "
    "which limits every text model; MiniLM is used as published, not fine-tuned.",
    "Why TF-IDF beats MiniLM here: the release year is an exact token that TF-IDF matches "
    "and a sentence embedding barely weighs. On the validation items (seed 0) TF-IDF "
    "(dim 256) falls from recall@20 0.264 to 0.156 with the year removed from the titles, "
    "and to 0.118 on genres alone (a one-off diagnostic, not part of the table).",
    "Doc2Vec: word down-sampling (gensim's `sample`) all but disabled learning on texts "
    "this short (validation recall@20 0.050 with `sample=1e-4`, at the random level); the "
    "encoder's defaults (PV-DBOW, `min_count=1`, no down-sampling) were set from a few "
    "validation runs of seed 0, then the grid above chose the epochs. PV-DM infers poorly "
    "on such texts (gensim's own `infer_vector` does no better).",
    "MiniLM's fit time is its encoding of all 3,706 texts (the model is loaded once per "
    "process and cached); throughput rows: `fit` of TF-IDF and Doc2Vec on all texts, then "
    "`transform` of all texts.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", help=f"comma-separated subset of {', '.join(ENTRIES)}")
    parser.add_argument("--render", action="store_true", help="rewrite the .md from the JSON")
    parser.add_argument("--no-speed", action="store_true", help="skip the throughput runs")
    parser.add_argument("--seeds", type=int, default=len(SEEDS), help="item hold-outs (3)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(1)
    payload = load_raw(NAME) or {"models": {}, "throughput": {}}
    if not args.render:
        names = args.models.split(",") if args.models else list(ENTRIES)
        unknown = [n for n in names if n not in ENTRIES]
        if unknown:
            parser.error(f"unknown model {unknown[0]!r} (known: {', '.join(ENTRIES)})")
        for name in names:
            payload["models"][name] = run_model(name, SEEDS[: args.seeds])
        if not args.no_speed:
            for encoder, options in ENCODERS.items():
                if not args.models or any(n.endswith(encoder) for n in names):
                    payload["throughput"][encoder] = throughput(encoder, options)
        payload["models"] = {n: payload["models"][n] for n in ENTRIES if n in payload["models"]}
        payload["environment"] = environment()
    payload["notes"] = NOTES
    save_raw(NAME, payload)
    (RESULTS / f"{NAME}.md").write_text(render(payload))


if __name__ == "__main__":
    main()
