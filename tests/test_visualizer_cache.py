"""The visualizer lists the experiment runner's sets (in subfolders), and one slow build never
holds up a request for something already cached."""

from __future__ import annotations

import threading
import time

import pytest

from edits.experiments.grid import TrialConfig
from edits.experiments.trial import load_workspace, obtain_edit_set
from editset_helpers.io import save_edit_set
from editset_helpers.web.app import create_app
from editset_helpers.web.lru import LRUCache
from editset_helpers.web.models import Predictor


def test_a_slow_build_does_not_delay_another_cached_key():
    cache: LRUCache[str, str] = LRUCache(4)
    cache.get_or_create("b", lambda: "cached")
    started, release = threading.Event(), threading.Event()
    calls = []

    def slow() -> str:
        calls.append("a")
        started.set()
        release.wait(10)
        return "built"

    builders = [threading.Thread(target=cache.get_or_create, args=("a", slow)) for _ in range(3)]
    for thread in builders:
        thread.start()
    assert started.wait(10)
    begin = time.perf_counter()
    assert cache.get_or_create("b", lambda: "rebuilt") == "cached"
    assert time.perf_counter() - begin < 0.5  # not behind the 10 s build of "a"
    release.set()
    for thread in builders:
        thread.join(10)
    assert calls == ["a"] and cache.get_or_create("a", lambda: "again") == "built"


def test_a_failed_build_caches_nothing_and_can_be_retried():
    cache: LRUCache[str, int] = LRUCache(2)
    with pytest.raises(ZeroDivisionError):
        cache.get_or_create("x", lambda: 1 // 0)
    assert "x" not in cache and cache.get_or_create("x", lambda: 7) == 7


@pytest.fixture
def sweep_sets(tiny_model_path, tiny_cifar_root, tmp_path):
    """A set written where and how experiment_runner.py writes it, plus one at the top."""
    root = tmp_path / "edit_sets"
    config = TrialConfig(repair_set_type="misclassified", requested_size=5, target_class=None,
                         sizing="flexible", weights=str(tiny_model_path),
                         data_root=str(tiny_cifar_root), edit_sets_dir=str(root),
                         models_dir=None, device="cpu")
    workspace = load_workspace(config.weights, config.dataset, config.data_root, config.device)
    edit_set = obtain_edit_set(config, workspace)
    relative = edit_set.path.relative_to(root)
    save_edit_set(edit_set, root / "top_edit_dataset.pt")
    return root, edit_set, relative


def test_the_visualizer_lists_and_shows_a_set_written_by_the_experiment_runner(
        sweep_sets, tiny_model_path):
    root, edit_set, relative = sweep_sets
    assert relative.parent.name.startswith("tiny-")  # <model>-<fingerprint>/, as the runner does
    client = create_app(root, weights=tiny_model_path).test_client()
    names = [s["name"] for s in client.get("/api/sets").get_json()["sets"]]
    expected = f"{relative.parent.as_posix()}/{relative.name.removesuffix('_edit_dataset.pt')}"
    assert sorted(names) == sorted(["top", expected])
    summary = client.get(f"/api/sets/{expected}/summary").get_json()
    assert summary["images"] == len(edit_set) == 5
    for url in (f"/?set={expected}", f"/gallery?set={expected}", f"/image?set={expected}&index=0",
                f"/api/sets/{expected}/images/0.png"):
        assert client.get(url).status_code == 200, url
    # A relative name is only looked up in the scanned list, never joined to a path.
    for url in (f"/api/sets/{relative.parent.as_posix()}/../top/summary",
                "/api/sets/../edit_sets/top/summary", f"/api/sets/{root}/top/summary"):
        assert client.get(url, follow_redirects=True).status_code == 404, url


def test_a_slow_model_pass_does_not_hold_up_a_cached_page(sweep_sets, tiny_model_path,
                                                          monkeypatch):
    root, _, _ = sweep_sets
    client = create_app(root, weights=tiny_model_path).test_client()
    assert client.get("/api/sets/top/images").status_code == 200  # the model ran on "top"
    (name,) = [s["name"] for s in client.get("/api/sets").get_json()["sets"] if s["name"] != "top"]
    started, release = threading.Event(), threading.Event()
    real_run = Predictor._run

    def slow_run(self, model, loaded, role):
        started.set()
        release.wait(30)
        return real_run(self, model, loaded, role)

    monkeypatch.setattr(Predictor, "_run", slow_run)
    slow = threading.Thread(target=lambda: client.get(f"/api/sets/{name}/images"))
    slow.start()
    try:
        assert started.wait(30)
        begin = time.perf_counter()
        response = client.get("/api/sets/top/images")
        assert response.status_code == 200
        assert time.perf_counter() - begin < 5  # the other set's model pass is still waiting
        assert slow.is_alive()
    finally:
        release.set()
        slow.join(30)
