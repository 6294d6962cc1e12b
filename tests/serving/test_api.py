"""The online loop through HTTP: events in, recommendations that follow them, cold start,
new items, similar items, profiles, model lifecycle, operations endpoints."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from shopdata import ShopDeployment, deploy_shop

from recforge.cli.online import retrain
from recforge.models.bpr import BPRMFConfig
from recforge.serving.app import create_app
from recforge.serving.settings import ServingSettings
from recforge.serving.store import EventStore
from recforge.training.experiment import ModelSpec
from recforge.training.loop import TrainConfig

WRITE = {"X-API-Key": "w-key"}
READ = {"X-API-Key": "r-key"}
ADMIN = {"X-API-Key": "a-key"}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> ShopDeployment:
    return deploy_shop(tmp_path_factory.mktemp("shop"))


def settings_for(deployment: ShopDeployment, **changes) -> ServingSettings:
    return ServingSettings(
        db=deployment.db,
        models_dir=str(deployment.models),
        read_keys=("r-key",),
        write_keys=("w-key",),
        admin_keys=("a-key",),
        reload_check_seconds=0.0,
        **changes,
    )


@pytest.fixture(scope="module")
def client(deployment):
    with TestClient(create_app(settings_for(deployment))) as test_client:
        yield test_client


def recommend(client, user_id: str, **params) -> dict:
    response = client.get(f"/v1/users/{user_id}/recommendations", params=params, headers=READ)
    assert response.status_code == 200, response.text
    return response.json()


def test_known_user_gets_model_recommendations_naming_the_model(client, deployment):
    answer = recommend(client, "5", k=7)
    assert answer["strategy"] == "model"
    assert answer["model"]["name"] == "ials" and answer["model"]["run"] == deployment.run
    assert len(answer["items"]) == 7
    assert all(item["source"] == "model" and item["title"] for item in answer["items"])
    scores = [item["score"] for item in answer["items"]]
    assert scores == sorted(scores, reverse=True)


def test_seen_items_are_excluded_and_can_be_included(client, deployment):
    store = EventStore(deployment.db)
    seen = set(store.user_events("6", limit=1000)["item_id"])
    store.close()
    assert seen
    assert not seen & {item["item_id"] for item in recommend(client, "6", k=20)["items"]}
    with_seen = recommend(client, "6", k=20, exclude_seen=False)["items"]
    assert seen & {item["item_id"] for item in with_seen}


def test_category_filter(client):
    answer = recommend(client, "8", k=5, category="Books")
    assert answer["items"]
    for item in answer["items"]:
        profile = client.get(f"/v1/items/{item['item_id']}/profile", headers=READ).json()
        assert profile["attributes"]["categories"] == ["Books"]


def test_latest_events_count_at_once(client):
    """A burst of views recorded now changes the very next answer (iALS folds the live
    history in), and the viewed items leave the list."""
    before = recommend(client, "9", k=10)["items"]
    garden = recommend(client, "9", k=40, category="Garden")["items"]
    viewed = [item["item_id"] for item in garden[:8]]
    events = [{"user_id": "9", "item_id": i, "event": "purchase"} for i in viewed]
    response = client.post("/v1/events", json=events, headers=WRITE)
    assert response.json()["stored"] == len(viewed)
    after = recommend(client, "9", k=10)["items"]
    assert [i["item_id"] for i in after] != [i["item_id"] for i in before]
    assert not set(viewed) & {i["item_id"] for i in after}


def test_new_user_with_events_is_placed_by_fold_in(client):
    client.post(
        "/v1/events",
        json={"events": [{"user_id": "newbie-1", "item_id": "3", "event": "click"}]},
        headers=WRITE,
    )
    answer = recommend(client, "newbie-1", k=5)
    assert answer["strategy"] == "model" and len(answer["items"]) == 5
    assert "3" not in {item["item_id"] for item in answer["items"]}


def test_cold_start_user_gets_trending(client):
    assert client.put("/v1/users/fresh-7", json={"region": "North"}, headers=WRITE).json() == {
        "upserted": 1
    }
    answer = recommend(client, "fresh-7", k=5)
    assert answer["strategy"] == "cold_start"
    assert [i["source"] for i in answer["items"]] == ["trending"] * 5
    trending = client.get("/v1/trending", params={"k": 5}, headers=READ).json()["items"]
    assert [i["item_id"] for i in answer["items"]] == [i["item_id"] for i in trending]


def test_unknown_user_is_404(client):
    response = client.get("/v1/users/nobody-at-all/recommendations", headers=READ)
    assert response.status_code == 404 and "nobody-at-all" in response.json()["detail"]


def test_new_item_is_recommendable_through_its_content(client):
    """An item added after training has similar items from its text and takes a fresh
    slot for a user whose history matches it."""
    item = {
        "title": "Ironforge Urban Planter Deluxe",
        "description": "An urban planter: rust-proof, self-watering, weather-resistant.",
        "categories": ["Garden"],
        "tags": ["rust-proof", "self-watering", "weather-resistant", "for balconies"],
        "attributes": {"brand": "Ironforge"},
    }
    assert client.put("/v1/items/planter-x", json=item, headers=WRITE).status_code == 200
    similar = client.get("/v1/items/planter-x/similar", params={"k": 5}, headers=READ).json()
    assert similar["items"] and all(i["source"] == "content" for i in similar["items"])
    assert "7" in {i["item_id"] for i in similar["items"]}  # the planter it was written after
    client.post(
        "/v1/events",
        json=[{"user_id": "gardener", "item_id": "7", "event": "purchase"}],
        headers=WRITE,
    )
    answer = recommend(client, "gardener", k=10)
    fresh = [i for i in answer["items"] if i["source"] == "content"]
    assert "planter-x" in {i["item_id"] for i in fresh}


def test_similar_items_from_the_model(client):
    answer = client.get("/v1/items/12/similar", params={"k": 4}, headers=READ).json()
    assert len(answer["items"]) == 4 and "12" not in {i["item_id"] for i in answer["items"]}
    assert {i["source"] for i in answer["items"]} == {"model"}
    assert client.get("/v1/items/no-such/similar", headers=READ).status_code == 404


def test_profiles_are_readable(client):
    profile = client.get("/v1/users/5/profile", headers=READ).json()
    assert profile["demographics"]["region"]
    assert profile["activity"]["n_events"] > 0
    assert profile["interests"]["category"]
    item = client.get("/v1/items/5/profile", headers=READ).json()
    assert item["attributes"]["title"] and item["popularity"]["n_events"] > 0
    assert client.get("/v1/users/ghost/profile", headers=READ).status_code == 404


def test_api_keys_and_scopes(client):
    assert client.get("/v1/users/5/recommendations").status_code == 401
    assert client.get("/v1/users/5/recommendations", headers={"X-API-Key": "x"}).status_code == 403
    event = {"user_id": "5", "item_id": "1", "event": "view"}
    assert client.post("/v1/events", json=event, headers=READ).status_code == 403
    assert client.post("/v1/events", json=event, headers=WRITE).status_code == 200
    assert client.get("/v1/admin/models", headers=WRITE).status_code == 403
    assert client.get("/v1/admin/models", headers=ADMIN).status_code == 200
    bearer = {"Authorization": "Bearer r-key"}
    assert client.get("/v1/users/5/recommendations", headers=bearer).status_code == 200


def test_model_lifecycle_activate_and_rollback_under_load(deployment, tmp_path):
    """A new run becomes active without failing concurrent requests; rollback restores the
    previous one."""
    store = EventStore(deployment.db)
    spec = ModelSpec("bprmf", BPRMFConfig(factors=16))
    from recforge.cli.online import DEFAULT_RETRAIN

    config = DEFAULT_RETRAIN.__class__(
        model=spec,
        name="bprmf",
        data=DEFAULT_RETRAIN.data,
        training=TrainConfig(loss="bpr", epochs=3, progress=False),
        evaluation=DEFAULT_RETRAIN.evaluation,
    )
    new_run = retrain(store, deployment.models, config=config, activate=False).run_dir.name
    store.close()
    with TestClient(create_app(settings_for(deployment))) as client:
        failures: list[int] = []
        runs: set[str] = set()
        stop = threading.Event()

        def hammer() -> None:
            while not stop.is_set():
                response = client.get("/v1/users/11/recommendations", headers=READ)
                if response.status_code != 200:
                    failures.append(response.status_code)
                else:
                    runs.add(response.json()["model"]["run"])

        thread = threading.Thread(target=hammer)
        thread.start()
        try:
            time.sleep(0.2)
            activated = client.post(f"/v1/admin/models/{new_run}/activate", headers=ADMIN)
            assert activated.status_code == 200, activated.text
            time.sleep(0.2)
        finally:
            stop.set()
            thread.join()
        assert not failures
        assert runs == {deployment.run, new_run}
        assert recommend(client, "11")["model"]["run"] == new_run
        listed = client.get("/v1/admin/models", headers=ADMIN).json()["runs"]
        assert {r["run"]: (r["active"], r["previous"]) for r in listed} == {
            new_run: (True, False),
            deployment.run: (False, True),
        }
        assert client.post("/v1/admin/models/rollback", headers=ADMIN).status_code == 200
        assert recommend(client, "11")["model"]["run"] == deployment.run
        missing = client.post("/v1/admin/models/../../etc/activate", headers=ADMIN)
        assert missing.status_code == 404


def test_a_second_server_follows_the_pointer(deployment, tmp_path):
    """Activation by one process reaches another through the models folder."""
    with (
        TestClient(create_app(settings_for(deployment))) as first,
        TestClient(create_app(settings_for(deployment))) as second,
    ):
        runs = [r["run"] for r in first.get("/v1/admin/models", headers=ADMIN).json()["runs"]]
        target = next(r for r in runs if r != recommend(first, "4")["model"]["run"])
        first.post(f"/v1/admin/models/{target}/activate", headers=ADMIN)
        # the second server loads the new run in the background and keeps answering
        deadline = time.monotonic() + 30
        while recommend(second, "4")["model"]["run"] != target:
            assert time.monotonic() < deadline, "the second server never switched"
            time.sleep(0.05)
        first.post("/v1/admin/models/rollback", headers=ADMIN)


def test_items_added_through_another_process_are_followed(deployment):
    """A second server picks up catalogue edits made through the first (its content index
    and titles follow the store's items table)."""
    settings = settings_for(deployment, catalogue_refresh_seconds=0.0)
    with (
        TestClient(create_app(settings)) as first,
        TestClient(create_app(settings)) as second,
    ):
        item = {"title": "Followed Lantern", "categories": ["Garden"], "tags": ["solar"]}
        assert first.put("/v1/items/followed-1", json=item, headers=WRITE).status_code == 200
        deadline = time.monotonic() + 30
        while True:
            recommend(second, "4")  # a request lets the server look for catalogue changes
            answer = second.get("/v1/items/followed-1/similar", headers=READ)
            if answer.status_code == 200 and answer.json()["items"]:
                break
            assert time.monotonic() < deadline, answer.text
            time.sleep(0.05)


def test_operations_endpoints(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"store": True, "model": True}
    metrics = client.get("/metrics").text
    assert "recforge_http_requests_total" in metrics
    assert 'route="/v1/users/{user_id}/recommendations"' in metrics
    schema = client.get("/openapi.json").json()
    for path in (
        "/v1/events",
        "/v1/users/{user_id}/recommendations",
        "/v1/items/{item_id}/similar",
    ):
        assert path in schema["paths"]


def test_readyz_without_model_is_503(tmp_path: Path):
    settings = ServingSettings(db=str(tmp_path / "e.db"), models_dir=str(tmp_path / "models"))
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
        assert response.status_code == 503 and response.json()["checks"]["model"] is False


def test_answers_match_the_documented_schemas(client):
    """The hot routes return the service's dicts without re-validating them; these are the
    shapes the OpenAPI schema promises."""
    from recforge.serving.schemas import RecommendationResponse

    client.put("/v1/users/schema-cold", json={}, headers=WRITE)
    client.post(
        "/v1/events", json={"user_id": "schema-new", "item_id": "3", "event": "view"}, headers=WRITE
    )
    for user_id in ("5", "schema-cold", "schema-new"):
        RecommendationResponse.model_validate(recommend(client, user_id, k=3))
