"""The dashboard: every page through ``TestClient``, then a walk through the live server in
headless Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright; never downloaded).

Without that browser the end-to-end test is skipped, except under ``$CI``, where it fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from shopdata import ShopDeployment, deploy_shop, live_server

from recforge.serving.app import KEY_COOKIE, create_app
from recforge.serving.charts import curves_chart, events_chart
from recforge.serving.pages import read_train_log
from recforge.serving.settings import ServingSettings
from recforge.serving.store import EventStore

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
READ_KEY = "dashboard-read-key"
LOGGED_RUN = "neumf-with-log"  # a copy of the active run with a per-epoch log beside it
HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> ShopDeployment:
    deployed = deploy_shop(tmp_path_factory.mktemp("dashboard"))
    logged = deployed.models / LOGGED_RUN
    shutil.copytree(deployed.models / deployed.run, logged)
    records = [
        {"epoch": epoch, "loss": 0.7 / epoch, "seconds": 0.5, "valid": {"ndcg@10": 0.1 * epoch}}
        for epoch in range(1, 6)
    ]
    lines = [json.dumps(record) for record in records]
    (logged / "train_log.jsonl").write_text("\n".join([*lines[:2], "not json", *lines[2:]]))
    return deployed


def settings_for(deployment: ShopDeployment, **changes) -> ServingSettings:
    return ServingSettings(db=deployment.db, models_dir=str(deployment.models), **changes)


@pytest.fixture(scope="module")
def client(deployment):
    with TestClient(create_app(settings_for(deployment))) as test_client:
        yield test_client


@pytest.fixture
def auth_client(deployment):
    app = create_app(settings_for(deployment, read_keys=(READ_KEY,), admin_keys=("admin",)))
    with TestClient(app) as test_client:
        yield test_client


def store_facts(deployment: ShopDeployment) -> tuple[dict[str, int], str]:
    """The store's counts and its most active user."""
    with EventStore(deployment.db) as store:
        return store.counts(), str(store.active_users(limit=1)["user_id"].iloc[0])


def section(html: str, section_id: str) -> str:
    """The markup of ``<section ... id="section_id">`` up to its closing tag."""
    start = html.index(f'id="{section_id}"')
    return html[start : html.index("</section>", start)]


# ---------------------------------------------------------------------------- pages
def test_overview_shows_counts_chart_lists_and_the_active_model(client, deployment):
    counts, top_user = store_facts(deployment)
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    html = response.text
    for name in ("events", "users", "items"):
        shown = re.search(rf'id="count-{name}"><b>([^<]*)</b>', html)
        assert shown is not None and shown.group(1) == f"{counts[name]:,}"
    chart = section(html, "events-over-time")
    assert "<svg" in chart and "<?xml" not in html and "purchase" in chart
    assert f'href="/users/{top_user}"' in section(html, "active-users")
    assert section(html, "top-items").count('class="item-link"') == 10
    model = section(html, "active-model")
    assert deployment.run in model and "ials" in model and "ndcg" in model
    assert 'action="/find"' in html


def test_user_page_shows_profile_history_and_k_recommendations(client, deployment):
    _, user_id = store_facts(deployment)
    html = client.get(f"/users/{user_id}", params={"k": 4}).text
    assert f"User {user_id}" in html
    interests = section(html, "interests")
    assert "category" in interests and 'class="bar"' in interests
    history = section(html, "history")
    assert history.count('class="item-link"') == 20
    with EventStore(deployment.db) as store:
        latest = store.user_events(user_id, limit=1)["item_id"].iloc[0]
    assert f'href="/items/{latest}"' in history
    recommendations = section(html, "recommendations")
    assert recommendations.count('class="item-link"') == 4
    assert "model" in recommendations and deployment.run in recommendations


def test_item_page_shows_attributes_popularity_and_similar_items(client):
    html = client.get("/items/34").text
    assert "Attributes" in html and "Popularity" in html
    assert section(html, "similar").count('class="item-link"') == 10
    assert 'href="/items/34"' not in section(html, "similar")
    assert client.get("/items/34", params={"k": 3}).text.count('class="item-link"') == 3


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/users/no-such-user", "Unknown user"),
        ("/items/no-such-item", "Unknown item"),
        ("/models/no-such-run", "Unknown run"),
    ],
)
def test_unknown_ids_get_an_html_404_page(client, path, says):
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert says in response.text and "no-such" in response.text


def test_models_page_lists_runs_and_marks_the_active_one(client, deployment):
    html = section(client.get("/models").text, "runs")
    assert deployment.run in html and LOGGED_RUN in html
    start = html.index('class="active-run"')
    active_row = html[start : html.index("</tr>", start)]
    assert deployment.run in active_row and ">active<" in active_row
    assert "hr@10" in html


def test_run_pages_draw_the_training_log_or_say_there_is_none(client, deployment):
    logged = client.get(f"/models/{LOGGED_RUN}").text
    assert "<svg" in section(logged, "curves")
    assert section(logged, "log").count("<tr>") == 1 + 5  # header + epochs; bad line skipped
    fitted = client.get(f"/models/{deployment.run}").text
    assert "No per-epoch log (fitted model)" in fitted
    assert "ndcg" in section(fitted, "metrics") and "protocol" in section(fitted, "details")


def test_strings_from_the_store_are_escaped(client):
    title = '<script>alert("owned")</script> Lamp'
    response = client.put("/v1/items/evil-lamp", json={"title": title, "categories": ["Home"]})
    assert response.status_code == 200, response.text
    html = client.get("/items/evil-lamp").text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt; Lamp" in html
    missing = client.get("/users/<script>x</script>")
    assert missing.status_code == 404 and "<script>x" not in missing.text


def test_search_box_jumps_to_a_user_or_an_item(client):
    to_item = client.get("/find", params={"kind": "item", "q": " 34 "}, follow_redirects=False)
    assert to_item.status_code == 303 and to_item.headers["location"] == "/items/34"
    to_user = client.get("/find", params={"kind": "user", "q": "a b/c"}, follow_redirects=False)
    assert to_user.headers["location"] == "/users/a%20b%2Fc"
    assert client.get("/find", params={"q": ""}, follow_redirects=False).headers["location"] == "/"


# ---------------------------------------------------------------------------- keys
def test_with_api_keys_a_browser_logs_in_through_the_form(auth_client):
    refused = auth_client.get("/", headers=HTML)
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("text/html")
    assert 'href="/login?next=/"' in refused.text
    assert auth_client.get("/").json()["detail"].startswith("missing API key")  # API clients
    assert auth_client.get("/login").status_code == 200  # the form needs no key

    wrong = auth_client.post("/login", data={"key": "guess"}, follow_redirects=False)
    assert wrong.status_code == 401 and "not valid" in wrong.text
    assert KEY_COOKIE not in auth_client.cookies

    answer = auth_client.post("/login", data={"key": READ_KEY}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{KEY_COOKIE}={READ_KEY};")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    for path in ("/", "/models", "/items/34"):
        assert auth_client.get(path, headers=HTML).status_code == 200, path

    out = auth_client.post("/logout", follow_redirects=False)
    assert out.status_code == 303
    assert auth_client.get("/models", headers=HTML).status_code == 401


def test_login_only_redirects_within_the_server(auth_client):
    for target, expected in (
        ("/models", "/models"),
        ("//evil.example/x", "/"),
        ("https://e.x", "/"),
    ):
        answer = auth_client.post(
            "/login", data={"key": READ_KEY, "next": target}, follow_redirects=False
        )
        assert answer.headers["location"] == expected


# ---------------------------------------------------------------------------- parts
def test_training_log_reader_and_charts(tmp_path):
    log = tmp_path / "train_log.jsonl"
    assert read_train_log(log) is None
    log.write_text('{"epoch": 1, "loss": 0.5, "hr@10": 0.2}\n\n[1]\n{"epoch": 2, "loss": 0.4}\n')
    records = read_train_log(log)
    assert records == [{"epoch": 1, "loss": 0.5, "hr@10": 0.2}, {"epoch": 2, "loss": 0.4}]
    chart = curves_chart(records)
    assert chart is not None and chart.startswith("<svg") and "hr@10" in chart
    assert curves_chart([{"epoch": 1, "note": "x"}]) is None
    empty = events_chart(pd_frame([]), ["view"])
    assert empty is None


def pd_frame(rows: list[tuple[float, str, int]]):
    import pandas as pd

    return pd.DataFrame(rows, columns=["bucket_start", "event", "count"])


# ---------------------------------------------------------------------------- browser
@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        message = f"the end-to-end dashboard test needs {CHROMIUM} (apt install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must not skip it")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def live_url(deployment):
    app = create_app(settings_for(deployment, read_keys=(READ_KEY,)))
    with live_server(app) as base_url:
        yield base_url


def screenshot(page, tmp_path: Path, name: str) -> Path:
    """A full-page PNG under ``tmp_path``, copied to /tmp for people to look at."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    data = path.read_bytes()
    assert len(data) > 1000 and data.startswith(b"\x89PNG\r\n\x1a\n")
    shutil.copyfile(path, Path("/tmp") / f"dashboard_{name}.png")
    return path


def test_browser_walks_from_login_to_users_items_and_models(
    browser, live_url, deployment, tmp_path
):
    from playwright.sync_api import expect

    counts, _ = store_facts(deployment)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(live_url + "/")
        expect(page.locator("h1")).to_contain_text("Sign in needed")
        page.get_by_role("link", name="Log in with an API key").click()
        page.fill("#key", READ_KEY)
        page.get_by_role("button", name="Log in", exact=True).click()
        expect(page).to_have_url(live_url + "/")

        expect(page.locator("#count-events b")).to_have_text(f"{counts['events']:,}")
        expect(page.locator("#count-users b")).to_have_text(f"{counts['users']:,}")
        expect(page.locator("#events-over-time svg")).to_have_count(1)
        screenshot(page, tmp_path, "overview")

        first_user = page.locator("#active-users a.user-link").first
        user_id = first_user.inner_text()
        first_user.click()
        expect(page).to_have_url(f"{live_url}/users/{user_id}")
        expect(page.locator("#interests .bar").first).to_be_visible()
        expect(page.locator("#history a.item-link")).to_have_count(20)
        expect(page.locator("#recommendations a.item-link")).to_have_count(10)
        screenshot(page, tmp_path, "user")

        recommended = page.locator("#recommendations a.item-link").first
        item_href = recommended.get_attribute("href")
        recommended.click()
        expect(page).to_have_url(live_url + item_href)
        expect(page.locator("#similar a.item-link")).to_have_count(10)

        page.get_by_role("link", name="Models", exact=True).click()
        expect(page.locator("#runs tr.active-run")).to_contain_text(deployment.run)

        page.select_option("select[name=kind]", "item")
        page.fill("input[name=q]", "34")
        page.press("input[name=q]", "Enter")
        expect(page).to_have_url(re.compile(r"/items/34$"))

        page.get_by_role("button", name="Log out").click()
        expect(page).to_have_url(re.compile(r"/login$"))
        page.goto(live_url + "/models")
        expect(page.locator("h1")).to_contain_text("Sign in needed")
    finally:
        context.close()
