"""The models folder: activation writes the pointer atomically, a broken run changes
nothing, rollback returns to the previous run, names cannot leave the folder."""

from __future__ import annotations

import json
import shutil

import pytest
from shopdata import deploy_shop

from recforge.core.errors import RecforgeError, UnknownIdError
from recforge.serving.registry import POINTER, ModelRegistry


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    return deploy_shop(tmp_path_factory.mktemp("registry"))


@pytest.fixture
def folder(deployment, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(deployment.models, models)
    shutil.copytree(models / deployment.run, models / "copy")
    return models


def test_pointer_names_current_and_previous(folder, deployment):
    registry = ModelRegistry(folder, check_every=0)
    assert registry.current().run == deployment.run
    registry.activate("copy")
    pointer = json.loads((folder / POINTER).read_text())
    assert pointer["current"] == "copy" and pointer["previous"] == deployment.run
    assert not list(folder.glob("*.tmp"))  # the temp file was renamed into place
    assert registry.rollback().run == deployment.run
    assert json.loads((folder / POINTER).read_text())["previous"] == "copy"


def test_a_run_that_fails_to_load_changes_nothing(folder, deployment):
    registry = ModelRegistry(folder, check_every=0)
    (folder / "copy" / "model.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RecforgeError):
        registry.activate("copy")
    assert registry.current().run == deployment.run
    assert json.loads((folder / POINTER).read_text())["current"] == deployment.run


def test_a_pointer_to_a_broken_run_keeps_serving_the_current_one(folder, deployment):
    registry = ModelRegistry(folder, check_every=0)
    assert registry.current().run == deployment.run
    (folder / "copy" / "model.pt").write_bytes(b"broken")
    (folder / POINTER).write_text(json.dumps({"current": "copy"}))
    assert registry.current().run == deployment.run  # answers while the loader runs
    registry.wait_for_reload()
    assert registry.current().run == deployment.run  # the broken run was refused


def test_a_pointer_written_elsewhere_is_followed_in_the_background(folder, deployment):
    registry = ModelRegistry(folder, check_every=0)
    assert registry.current().run == deployment.run
    (folder / POINTER).write_text(json.dumps({"current": "copy", "previous": deployment.run}))
    registry.current()
    registry.wait_for_reload()
    assert registry.current().run == "copy"


def test_names_outside_the_folder_and_unknown_runs_are_refused(folder):
    registry = ModelRegistry(folder)
    for name in ("../models", "../../etc", "nope", ""):
        with pytest.raises(UnknownIdError):
            registry.run_path(name)


def test_rollback_needs_a_previous_run(tmp_path, folder, deployment):
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copytree(folder / deployment.run, fresh / deployment.run)
    registry = ModelRegistry(fresh)
    assert registry.current() is None
    registry.activate(deployment.run)
    with pytest.raises(RecforgeError, match="no previous run"):
        registry.rollback()


def test_a_corrupt_pointer_is_a_clear_error(folder):
    (folder / POINTER).write_text("{not json")
    with pytest.raises(RecforgeError, match="unreadable model pointer"):
        ModelRegistry(folder).pointer()
