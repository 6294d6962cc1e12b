"""Recall then rank behind the server: a run with a rank stage answers with the recalled
candidates in the ranker's order, filters still hold, live events reach the ranker's history,
a failing ranker falls back to the recall order and a broken stage is a clear load error."""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from shopdata import ShopDeployment, deploy_shop

from recforge.cli.rank_stage import train_rank_stage
from recforge.core.errors import ConfigError
from recforge.models.checkpoint import CheckpointError
from recforge.models.two_stage import RankStage
from recforge.serving.app import create_app
from recforge.serving.registry import RANK_STAGE_DIR, ModelRegistry, load_bundle
from recforge.serving.service import RecommendationService
from recforge.serving.settings import ServingSettings
from recforge.serving.store import EventRecord, EventStore

SMALL_DIN = ["ranker.embedding_dim=8", "ranker.attention_widths=[16]", "ranker.mlp_widths=[16]"]
CANDIDATES = 30


@dataclass
class Ranked:
    deployment: ShopDeployment
    store: EventStore
    registry: ModelRegistry

    def service(self, **settings: Any) -> RecommendationService:
        config = ServingSettings(
            db=self.deployment.db,
            models_dir=str(self.deployment.models),
            fresh_slots=0,  # every slot from the model: the orders below are compared whole
            **{"rank_candidates": CANDIDATES, **settings},
        )
        service = RecommendationService(self.store, config, self.registry)
        service.start()
        return service

    @property
    def stage(self) -> RankStage:
        bundle = self.registry.current()
        assert bundle is not None and bundle.rank_stage is not None
        return bundle.rank_stage


@pytest.fixture(scope="module")
def ranked(tmp_path_factory) -> Iterator[Ranked]:
    """The shop deployment (iALS recall) with a small DIN rank stage trained beside it."""
    deployment = deploy_shop(tmp_path_factory.mktemp("ranked"))
    train_rank_stage(
        deployment.models / deployment.run,
        "din",
        SMALL_DIN,
        epochs=1,
        db=deployment.db,
        progress=False,
    )
    with EventStore(deployment.db) as store:
        yield Ranked(deployment, store, ModelRegistry(deployment.models, check_every=0.0))


@pytest.fixture
def calls(ranked, monkeypatch) -> list[dict[str, Any]]:
    """Every ``score_request`` of the loaded stage: its arguments and the logits returned."""
    stage = ranked.stage
    original = stage.score_request
    recorded: list[dict[str, Any]] = []

    def spy(user_id, item_ids, recent_item_ids=(), **options):
        logits = original(user_id, item_ids, recent_item_ids, **options)
        recorded.append(
            {"user_id": user_id, "items": list(item_ids), "recent": list(recent_item_ids)}
            | options
            | {"logits": logits}
        )
        return logits

    monkeypatch.setattr(stage, "score_request", spy)
    return recorded


def ids(answer: dict[str, Any]) -> list[str]:
    return [item["item_id"] for item in answer["items"]]


def test_answer_is_the_rankers_order_of_the_recalled_candidates(ranked, calls):
    recall = ranked.service(rank_candidates=0).recommend("5", k=CANDIDATES)
    answer = ranked.service().recommend("5", k=7)
    assert answer["model"]["ranker"] == "DIN"
    assert [item["source"] for item in answer["items"]] == ["ranked"] * 7
    (call,) = calls
    assert call["items"] == ids(recall)  # what the ranker scored is the recall list
    logits = call["logits"]
    order = np.argsort(-logits, kind="stable")[:7]
    assert ids(answer) == [call["items"][i] for i in order]
    assert [item["score"] for item in answer["items"]] == pytest.approx(logits[order], abs=1e-5)
    assert ids(answer) != ids(recall)[:7]  # the ranker did reorder
    assert call["user"]["region"] is not None  # the store's user attributes reach it


def test_rank_candidates_zero_answers_in_recall_order(ranked, calls):
    recall = ranked.service(rank_candidates=0).recommend("5", k=CANDIDATES)
    answer = ranked.service(rank_candidates=0).recommend("5", k=7)
    assert not calls
    assert answer["model"]["ranker"] is None
    assert [item["source"] for item in answer["items"]] == ["model"] * 7
    assert ids(answer) == ids(recall)[:7]


def test_category_filter_and_seen_items_hold_with_the_ranker(ranked, calls):
    seen = set(ranked.store.user_events("8", limit=1000)["item_id"])
    answer = ranked.service().recommend("8", k=10, category="Books")
    assert answer["items"] and {item["source"] for item in answer["items"]} == {"ranked"}
    for item_id in [*ids(answer), *calls[0]["items"]]:
        assert ranked.store.get_item(item_id)["categories"] == ["Books"]
        assert item_id not in seen
    assert seen & set(ids(ranked.service().recommend("8", k=40, exclude_seen=False)))


def test_a_live_event_reaches_the_rankers_history(ranked, calls):
    service = ranked.service()
    service.recommend("9", k=5)
    before = calls[-1]
    new_item = next(
        item for item in ranked.store.items_frame()["item_id"] if item not in set(before["recent"])
    )
    ranked.store.add_events(
        [EventRecord("live-rank-1", "9", new_item, "purchase", 1.0, time.time())]
    )
    service.recommend("9", k=5)
    after = calls[-1]
    assert after["recent"] == [*before["recent"], new_item]
    stage = ranked.stage
    with_event = stage.score_request("9", before["items"], after["recent"])
    without = stage.score_request("9", before["items"], before["recent"])
    assert not np.allclose(with_event, without)


def test_a_failing_ranker_answers_in_recall_order(ranked, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("ranker exploded")

    monkeypatch.setattr(ranked.stage, "score_request", broken)
    recall = ranked.service(rank_candidates=0).recommend("5", k=6)
    with caplog.at_level(logging.ERROR, logger="recforge.serving.service"):
        answer = ranked.service().recommend("5", k=6)
    assert ids(answer) == ids(recall)
    assert [item["source"] for item in answer["items"]] == ["model"] * 6
    (record,) = [r for r in caplog.records if "rank stage DIN" in r.getMessage()]
    assert "answering in recall order" in record.getMessage()
    assert record.exc_info is not None and "ranker exploded" in str(record.exc_info[1])


def test_http_answers_name_the_ranker(ranked):
    settings = ServingSettings(
        db=ranked.deployment.db, models_dir=str(ranked.deployment.models), fresh_slots=0
    )
    with TestClient(create_app(settings)) as client:
        answer = client.get("/v1/users/5/recommendations", params={"k": 4}).json()
    assert answer["model"]["ranker"] == "DIN"
    assert [item["source"] for item in answer["items"]] == ["ranked"] * 4


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("stage.json", "{not json", "not valid JSON"),
        ("stage.json", json.dumps({"format_version": 99}), "format_version"),
        ("training.json", json.dumps({"behaviours": {"events": 3}}), "unreadable 'behaviours'"),
    ],
)
def test_a_broken_rank_stage_is_a_clear_load_error(ranked, tmp_path, name, content, message):
    run = tmp_path / ranked.deployment.run
    shutil.copytree(ranked.deployment.models / ranked.deployment.run, run)
    broken = run / RANK_STAGE_DIR / name
    broken.write_text(content)
    with pytest.raises(CheckpointError, match=message) as error:
        load_bundle(run)
    assert str(broken) in str(error.value)
    registry = ModelRegistry(tmp_path)
    with pytest.raises(CheckpointError, match=message):
        registry.activate(run.name)
    assert registry.current() is None


def test_rank_candidates_must_not_be_negative():
    with pytest.raises(ConfigError, match="rank_candidates"):
        ServingSettings(rank_candidates=-1)
