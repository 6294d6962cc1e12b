"""Training speed and memory of the representation models on these 2 cores, against the
same-machine RecBole 1.2.1 peers of issue 4 (MovieLens-100K, one thread).

Each measurement runs in a fresh subprocess (clean peak RSS, its own thread count): the
model trains ``--epochs`` epochs on MovieLens-100K's training part (leave-one-out by time)
without validation, with the configuration the accuracy benchmark uses
(`benchmarks/representation.py --dataset ml-100k`); the median epoch of each run is taken,
and the table gives the median (min–max) over ``--repeats`` runs. An epoch covers every
training interaction once as a target (GRU4Rec, SASRec: every next item of every history
window; BPR-MF, LightGCN: every positive pair). Item2Vec is timed on MovieLens-1M's
994k training interactions (the NCF file). Run it on a quiet machine.

    python benchmarks/representation_speed.py          # ~15 min on 2 cores
    python benchmarks/representation_speed.py --render
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import RESULTS, environment, environment_markdown, load_raw, median_text, save_raw

NAME = "representation_speed"
HERE = Path(__file__).resolve()
#: RecBole 1.2.1 on these machines, one thread, MovieLens-100K (issue 4)
PEERS = {"gru4rec": (74.0, None), "sasrec": (176.0, 4.3 * 1024), "lightgcn": (0.95, None)}
MODELS = ["gru4rec", "sasrec", "lightgcn", "bprmf"]


def worker_epochs(model_name: str, epochs: int) -> dict[str, Any]:
    """Seconds per epoch and peak RSS of one model on ML-100K (no validation)."""
    from dataclasses import replace

    from recforge.data.dataset import prepare
    from recforge.models import MODELS as REGISTRY
    from recforge.training.loop import fit

    sys.path.insert(0, str(HERE.parent))
    from representation import ML100K

    data = prepare(ML100K.data)
    if model_name == "lightgcn":
        params: dict[str, Any] = {"factors": 64, "layers": 2}  # RecBole's defaults
        overrides: dict[str, Any] = {"loss": "bpr", "n_negatives": 1, "batch_size": 2048}
    else:
        params, overrides = ML100K.search[model_name][0]
    cls = REGISTRY[model_name]
    model = cls(cls.config_class(**params), n_users=data.n_users, n_items=data.n_items)
    config = replace(ML100K.training, **{**overrides, "epochs": epochs, "patience": 0})
    result = fit(model, data.train, config, sequences=data.train_sequences)
    seconds = [record["seconds"] for record in result.history]
    return {
        "epoch_seconds": statistics.median(seconds),
        "samples_per_second": result.samples_per_second,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def worker_item2vec() -> dict[str, Any]:
    """Item2Vec training seconds on ML-1M's NCF training file (histories in file order)."""
    from recforge.core.sequences import Sequences
    from recforge.data.dataset import DataConfig, prepare
    from recforge.representation.item2vec import Item2Vec, Item2VecConfig

    data = prepare(DataConfig(dataset="ncf-ml-1m", split="ncf", eval_negatives=0))
    sequences = Sequences.from_csr(data.train)
    start = time.perf_counter()
    Item2Vec(Item2VecConfig(factors=64, window=5)).fit(sequences, n_items=data.n_items)
    return {
        "seconds": time.perf_counter() - start,
        "interactions": sequences.n_interactions,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def spawn(kind: str, threads: int, **options: Any) -> dict[str, Any]:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "OMP_WAIT_POLICY": "PASSIVE",
    }
    args = [sys.executable, str(HERE), "--worker", kind, "--threads", str(threads)]
    for key, value in options.items():
        args += [f"--{key}", str(value)]
    load = os.getloadavg()[0]
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"worker {kind} failed:\n{out.stderr[-3000:]}")
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "load_before": load}


def render(payload: dict[str, Any]) -> str:
    lines = [
        "# Representation models: training speed and memory",
        "",
        " ".join(__doc__.split("\n\n")[1].split()),
        "",
        "Written by `python benchmarks/representation_speed.py`; raw: "
        f"`docs/results/raw/{NAME}.json`. Accuracy of the same configurations: "
        "[representation_ml100k.md](representation_ml100k.md).",
        "",
        "| model | threads | s / epoch | targets or pairs / s | peak RSS MiB "
        "| RecBole 1.2.1 s / epoch (1 thread) | faster by |",
        "|---|---|---|---|---|---|---|",
    ]
    for model in MODELS:
        for threads in (1, 2):
            runs = payload["epochs"].get(f"{model}-{threads}")
            if not runs:
                continue
            seconds = [r["epoch_seconds"] for r in runs]
            peer = PEERS.get(model)
            ratio = f"{peer[0] / statistics.median(seconds):.0f}x" if peer else ""
            peer_text = "" if not peer else f"{peer[0]:g}"
            if peer and peer[1]:
                peer_text += f" ({peer[1] / 1024:.1f} GiB)"
            lines.append(
                f"| {model} | {threads} | {median_text(seconds, 2)} "
                f"| {median_text([r['samples_per_second'] for r in runs], 0)} "
                f"| {median_text([r['peak_rss_mb'] for r in runs], 0)} | {peer_text} | {ratio} |"
            )
    item2vec = payload.get("item2vec", {})
    if item2vec:
        lines += [
            "",
            "## Item2Vec on MovieLens-1M",
            "",
            "| threads | training s (20 epochs, 64 factors, window 5) | interactions | peak RSS MiB |",
            "|---|---|---|---|",
        ]
        for threads, runs in sorted(item2vec.items()):
            lines.append(
                f"| {threads} | {median_text([r['seconds'] for r in runs], 1)} "
                f"| {runs[0]['interactions']:,} | {median_text([r['peak_rss_mb'] for r in runs], 0)} |"
            )
    loads = [r["load_before"] for runs in payload["epochs"].values() for r in runs]
    lines += [
        "",
        "Item2Vec trains with gensim on one worker thread whatever the torch thread count "
        "(runs repeat across processes only that way).",
        "",
        f"1-minute load average before each run: median {statistics.median(loads):.1f}, "
        f"max {max(loads):.1f} on 2 cores; it includes the previous measurement's own "
        "process (about 1), so values near 1 mean no other job ran.",
        "",
        "## Environment",
        "",
        environment_markdown(payload["environment"]),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--worker", choices=["epochs", "item2vec"])
    parser.add_argument("--model", default="sasrec")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=None, help="models to (re)measure")
    parser.add_argument("--render", action="store_true")
    args = parser.parse_args()
    if args.worker:
        import torch

        torch.set_num_threads(args.threads)
        if args.worker == "epochs":
            result = worker_epochs(args.model, args.epochs)
        else:
            result = worker_item2vec()
        print(json.dumps(result))
        return
    payload = load_raw(NAME) or {"epochs": {}, "item2vec": {}}
    if not args.render:
        for model in [*MODELS, "item2vec"]:
            if args.only and model not in args.only:
                continue
            for threads in (1, 2):
                runs = []
                for _ in range(args.repeats):
                    if model == "item2vec":
                        runs.append(spawn("item2vec", threads))
                    else:
                        runs.append(spawn("epochs", threads, model=model, epochs=args.epochs))
                    print(model, threads, runs[-1], flush=True)
                if model == "item2vec":
                    payload["item2vec"][str(threads)] = runs
                else:
                    payload["epochs"][f"{model}-{threads}"] = runs
                payload["environment"] = environment()
                save_raw(NAME, payload)
    (RESULTS / f"{NAME}.md").write_text(render(payload))
    print(render(payload))


if __name__ == "__main__":
    main()
