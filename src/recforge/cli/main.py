"""The ``recforge`` command line. Only this layer prints; errors become one line on stderr."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from recforge.core.errors import RecforgeError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="recforge: train, evaluate and serve recommenders.",
    pretty_exceptions_enable=False,
)
datasets_app = typer.Typer(no_args_is_help=True, help="Known public datasets.")
app.add_typer(datasets_app, name="datasets")
console = Console()


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@datasets_app.command("list")
def datasets_list() -> None:
    """List the datasets recforge can read, and whether they are present locally."""
    from recforge.core.errors import DatasetNotFoundError
    from recforge.data.catalog import dataset_folder, dataset_info, list_datasets

    table = Table("name", "description", "local")
    for name in list_datasets():
        try:
            present = "yes" if dataset_folder(name) else "-"
        except DatasetNotFoundError:
            present = "-"
        table.add_row(name, dataset_info(name).description, present)
    console.print(table)


@datasets_app.command("info")
def datasets_info(name: str) -> None:
    """Show where a dataset comes from, its license and its local folder."""
    from recforge.core.paths import data_root
    from recforge.data.catalog import dataset_info

    entry = dataset_info(name)
    rows = {
        "name": entry.name,
        "description": entry.description,
        "license": entry.license,
        "homepage": entry.homepage,
        "reader": entry.reader,
        "local folder": str(data_root() / entry.folder),
        "download": ", ".join(f.url for f in entry.files) or entry.manual_download or "-",
    }
    for key, value in rows.items():
        console.print(f"[bold]{key}[/bold]: {value}", highlight=False)


@datasets_app.command("download")
def datasets_download(
    name: str,
    root: Annotated[
        Path | None, typer.Option(help="Target folder (default: $RECFORGE_DATA).")
    ] = None,
    allow_unverified: Annotated[
        bool, typer.Option(help="Accept a file whose sha256 is not recorded in the catalogue.")
    ] = False,
) -> None:
    """Fetch a dataset from its publisher and check its sha256."""
    from recforge.core.paths import data_root
    from recforge.data.download import download

    path = download(name, root or data_root(), allow_unverified=allow_unverified)
    console.print(f"downloaded {name} to {path}")


def print_metrics(model_name: str, metrics: dict[str, float]) -> None:
    table = Table("metric", "value", title=f"{model_name}: test")
    for name, value in metrics.items():
        table.add_row(name, f"{value:.4f}")
    console.print(table)


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="Experiment TOML file (see configs/).")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a key: --set training.lr=0.01")
    ] = None,
    run_dir: Annotated[
        Path | None, typer.Option(help="Run directory (default output_dir/name).")
    ] = None,
) -> None:
    """Train and evaluate a model from a config; writes a run directory."""
    from recforge.training.experiment import load_experiment, run_experiment

    experiment = load_experiment(config, set_ or [])
    result = run_experiment(experiment, run_dir=run_dir)
    print_metrics(experiment.model.name, result.test.metrics)
    console.print(f"run directory: {result.run_dir}")


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by 'recforge train'.")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a config key.")] = None,
) -> None:
    """Re-evaluate a trained run on its test split (data rebuilt from its saved config)."""
    from recforge.data.dataset import prepare
    from recforge.models import MODELS
    from recforge.models.artifact import load_artifact
    from recforge.training.experiment import evaluate_on, load_experiment

    experiment = load_experiment(run_dir / "config.toml", set_ or [])
    artifact = load_artifact(run_dir, MODELS)
    data = prepare(experiment.data)
    result = evaluate_on(
        artifact.model, data, "test", experiment.evaluation.protocol, experiment.evaluation.ks
    )
    print_metrics(experiment.model.name, result.metrics)


@app.command()
def recommend(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by 'recforge train'.")],
    user: Annotated[str, typer.Option("--user", help="Raw user id as in the source data.")],
    k: Annotated[int, typer.Option("-k", help="Number of recommendations.")] = 10,
    include_seen: Annotated[
        bool, typer.Option(help="Also recommend items the user has seen.")
    ] = False,
) -> None:
    """Print a user's top-k items with titles."""
    from recforge.models import MODELS
    from recforge.models import recommend as top_k
    from recforge.models.artifact import load_artifact

    artifact = load_artifact(run_dir, MODELS)
    user_idx = artifact.user_vocab.lookup(user)
    items, scores = top_k(
        artifact.model, np.array([user_idx]), k=k, exclude=None if include_seen else artifact.seen
    )
    table = Table("rank", "item_id", "title", "score", title=f"top {k} for user {user}")
    raw = artifact.item_vocab.inverse_transform(items[0])
    for rank, (raw_id, title, score) in enumerate(
        zip(raw, artifact.item_titles(items[0]), scores[0], strict=True), start=1
    ):
        table.add_row(str(rank), str(raw_id), title, f"{score:.3f}")
    console.print(table)


@app.command()
def similar(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by 'recforge train'.")],
    item: Annotated[str, typer.Option("--item", help="Raw item id as in the source data.")],
    k: Annotated[int, typer.Option("-k", help="Number of similar items.")] = 10,
) -> None:
    """Print the items most similar to one item, by the model's own item-to-item measure."""
    from recforge.models import MODELS
    from recforge.models.artifact import load_artifact
    from recforge.models.online import online_model

    artifact = load_artifact(run_dir, MODELS)
    item_idx = artifact.item_vocab.lookup(item)
    items, scores = online_model(artifact.model).most_similar(item_idx, k)
    if not len(items):
        raise RecforgeError(
            f"{run_dir}: model {type(artifact.model).__name__} has no item-to-item similarity"
        )
    table = Table("rank", "item_id", "title", "similarity", title=f"{k} items like {item}")
    raw = artifact.item_vocab.inverse_transform(items)
    for rank, (raw_id, title, score) in enumerate(
        zip(raw, artifact.item_titles(items), scores, strict=True), start=1
    ):
        table.add_row(str(rank), str(raw_id), title, f"{score:.3f}")
    console.print(table)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Where the demo writes runs and its report.")] = Path(
        "runs/demo"
    ),
    epochs: Annotated[int, typer.Option(help="NeuMF epochs (early stopping may end sooner).")] = 20,
    seed: Annotated[int, typer.Option(help="Seed of the shop and the models.")] = 0,
    serve_: Annotated[
        bool,
        typer.Option(
            "--serve", help="Instead: load the shop into a store, train, and serve it on :8000."
        ),
    ] = False,
    port: Annotated[int, typer.Option(help="Port for --serve.")] = 8000,
) -> None:
    """The main job: generate the synthetic shop, train NeuMF and baselines, evaluate,
    print a results table and a few users' recommendations, write a report. With --serve,
    bring the shop up as a live service with its dashboard."""
    if serve_:
        from recforge.cli.serve import serve_demo

        serve_demo(console, out=out, seed=seed, port=port)
        return
    from recforge.cli.demo import run_demo

    run_demo(console, out=out, epochs=epochs, seed=seed)


@app.command()
def serve(
    db: Annotated[str, typer.Option(help="Event store: SQLite path/URL or postgresql://...")] = (
        "recforge.db"
    ),
    models: Annotated[
        Path | None, typer.Option(help="Models folder (run dirs + active.json pointer).")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="Serving settings TOML.")] = None,
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Server processes.")] = 1,
) -> None:
    """Serve events, profiles, recommendations and the dashboard over HTTP.

    API keys come from RECFORGE_READ_KEYS, RECFORGE_WRITE_KEYS, RECFORGE_ADMIN_KEYS."""
    from recforge.cli.serve import run_server

    run_server(db=db, models=models, config=config, host=host, port=port, workers=workers)


@app.command()
def retrain(
    db: Annotated[str, typer.Option(help="Event store to train from.")] = "recforge.db",
    models: Annotated[Path, typer.Option(help="Models folder to write the run into.")] = Path(
        "models"
    ),
    config: Annotated[
        Path | None, typer.Option(help="Experiment TOML (default: iALS, 64 factors).")
    ] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a config key.")] = None,
    activate: Annotated[bool, typer.Option(help="Make the new run the active one.")] = True,
) -> None:
    """Train a model on the stored events into a new run; serving processes watching the
    models folder switch to it (the previous run stays for rollback)."""
    from recforge.cli.online import load_retrain_config
    from recforge.cli.online import retrain as run_retrain
    from recforge.serving.store import EventStore

    experiment = load_retrain_config(config, set_ or [])
    store = EventStore(db)
    try:
        result = run_retrain(store, models, config=experiment, activate=activate)
    finally:
        store.close()
    print_metrics(experiment.model.name, result.test.metrics)
    console.print(f"run written to {result.run_dir}" + (" (active)" if activate else ""))


@app.command("rank-stage")
def rank_stage(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (recforge train / retrain).")],
    model: Annotated[
        str, typer.Option(help="Ranker: din, dien, dcn, dcnv2, deepfm, widedeep, dnn, lightgbm.")
    ] = "din",
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="ranker.<field>=, training.<field>=, history_length=, seed="),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Most training epochs.")] = None,
    db: Annotated[
        str | None, typer.Option(help="Event store the run was retrained from (store runs).")
    ] = None,
) -> None:
    """Train a ranker on the run's data (next-behaviour rows) and save it as RUN_DIR/rank_stage:
    a server loading the run then orders the recalled candidates with it."""
    from recforge.cli.rank_stage import train_rank_stage

    done = train_rank_stage(run_dir, model, set_ or [], epochs=epochs, db=db)
    console.print(done.description, highlight=False)
    metrics = ", ".join(f"{name} {value:.4f}" for name, value in done.valid.items())
    console.print(f"{done.model}: validation {metrics or '(none)'}")
    console.print(f"rank stage written to {done.path}")


def main() -> None:
    """Entry point: run the app; a :class:`RecforgeError` prints one line and exits 2."""
    try:
        app(standalone_mode=False)
    except RecforgeError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except (typer.Exit, typer.Abort) as done:
        raise SystemExit(getattr(done, "exit_code", 1)) from None
    except Exception as error:  # click usage errors
        import click

        if isinstance(error, click.ClickException):
            error.show()
            raise SystemExit(error.exit_code) from None
        raise


if __name__ == "__main__":
    main()
