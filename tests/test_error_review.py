"""The review page over HTTP: decisions persist across an app restart, export to what
--label-overrides reads, and write routes refuse requests without the page's token or from
another origin; a damaged decision database is refused and left as it was."""

from __future__ import annotations

import json
import re

import pytest

from editset_helpers.web.app import create_app
from editset_helpers.web.error_review import TOKEN_HEADER
from helpers.cli import run_main
from helpers.datasets import load_split
from helpers.errors import UserError

ORIGIN = "http://localhost"


@pytest.fixture(scope="module")
def review(review_folder):
    folder, flipped = review_folder
    FLIPPED[:] = flipped
    return folder


FLIPPED: list[int] = []  # filled by the fixture: the planted label flips


def _app(review, visualizer_sets, decisions):
    return create_app(visualizer_sets, review={"data_quality_dir": review / "dq",
                                               "decisions": decisions,
                                               "data_root": review / "data"})


def _token(client, query: str = "") -> str:
    page = client.get(f"/error-review{query}")
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    return re.search(r'data-token="([^"]+)"', page.get_data(as_text=True)).group(1)


def _decide(client, token, **body):
    payload = {"dataset": "cifar10", "split": "test", "issue": "label", **body}
    return client.post("/api/error-review/decisions", json=payload,
                       headers={TOKEN_HEADER: token, "Origin": ORIGIN})


def test_decisions_survive_a_restart_and_export_as_overrides(review, visualizer_sets, tmp_path):
    database = tmp_path / "decisions.sqlite"
    client = _app(review, visualizer_sets, database).test_client()
    html = client.get("/error-review").get_data(as_text=True)
    for index in FLIPPED:  # the planted flips are on the page
        assert f'data-index="{index}" data-issue="label"' in html
    assert 'data-issue="duplicate:train/65"' in html  # the leaked copy, as a pair
    token = _token(client)
    assert _decide(client, token, index=FLIPPED[0], decision="relabel",
                   new_class="cat").status_code == 200
    assert _decide(client, token, index=FLIPPED[1], decision="ignored").status_code == 200
    assert database.exists()

    restarted = _app(review, visualizer_sets, database).test_client()  # a new server process
    page = restarted.get("/error-review?status=relabel").get_data(as_text=True)
    assert f'data-index="{FLIPPED[0]}"' in page and "relabel as cat" in page
    assert f'data-index="{FLIPPED[1]}"' not in page
    exported = restarted.get("/error-review/export.json")
    assert exported.headers["Content-Disposition"].endswith("decisions.json")
    overrides = tmp_path / "decisions.json"
    overrides.write_bytes(exported.data)
    rows = {(r["image_idx"], r["decision"]) for r in json.loads(exported.data)["decisions"]}
    assert rows == {(FLIPPED[0], "relabel"), (FLIPPED[1], "ignored")}
    split = load_split("cifar10", "test", data_root=review / "data", download=False,
                       label_overrides=overrides)
    assert split.record(FLIPPED[0]).true_class == "cat"
    assert f"cifar10,test,{FLIPPED[0]},label,relabel,3,cat" in \
        restarted.get("/error-review/export.csv").get_data(as_text=True)


def test_filters_narrow_the_findings(review, visualizer_sets, tmp_path):
    client = _app(review, visualizer_sets, tmp_path / "d.sqlite").test_client()
    pairs = client.get("/error-review?type=duplicate").get_data(as_text=True)
    assert 'data-issue="label"' not in pairs and 'data-issue="duplicate:' in pairs
    labels = client.get("/error-review?type=label&max_score=0.0001").get_data(as_text=True)
    assert "0 findings" in labels
    assert client.get("/error-review?type=nonsense").status_code == 400
    assert client.get("/error-review?min_score=nan").status_code == 400


@pytest.mark.parametrize(("headers", "reason"), [
    ({"Origin": ORIGIN}, "token"),
    ({TOKEN_HEADER: "TOKEN", "Origin": "http://evil.example"}, "origin"),
    ({TOKEN_HEADER: "TOKEN"}, "origin"),  # neither Origin nor Referer
    ({TOKEN_HEADER: "TOKEN", "Origin": "null"}, "origin"),
    ({TOKEN_HEADER: "abc.def", "Origin": ORIGIN}, "token"),
    ({TOKEN_HEADER: "TOKEN", "Origin": "http://rebound.example",
      "Host": "rebound.example"}, "host"),
])
def test_write_routes_refuse_foreign_requests(review, visualizer_sets, tmp_path, headers,
                                              reason):
    database = tmp_path / "decisions.sqlite"
    client = _app(review, visualizer_sets, database).test_client()
    token = _token(client)
    headers = {k: (token if v == "TOKEN" else v) for k, v in headers.items()}
    body = {"dataset": "cifar10", "split": "test", "index": FLIPPED[0], "issue": "label",
            "decision": "fixed"}
    for route in ("/api/error-review/decisions", "/api/error-review/decisions/undo"):
        answer = client.post(route, json=body, headers=headers)
        assert answer.status_code == 403, answer.get_data(as_text=True)
        assert reason in answer.get_json()["error"]
    assert not database.exists()  # nothing was written
    assert client.get("/api/error-review/decisions").status_code == 405  # POST only


def test_a_referer_of_this_origin_is_accepted_without_origin(review, visualizer_sets,
                                                             tmp_path):
    client = _app(review, visualizer_sets, tmp_path / "d.sqlite").test_client()
    token = _token(client)
    answer = client.post("/api/error-review/decisions", json={
        "dataset": "cifar10", "split": "test", "index": FLIPPED[2], "issue": "label",
        "decision": "fixed"}, headers={TOKEN_HEADER: token,
                                       "Referer": f"{ORIGIN}/error-review?type=label"})
    assert answer.status_code == 200


def test_bad_decisions_are_400_and_unknown_classes_named(review, visualizer_sets, tmp_path):
    client = _app(review, visualizer_sets, tmp_path / "d.sqlite").test_client()
    token = _token(client)
    answer = _decide(client, token, index=FLIPPED[0], decision="relabel", new_class="kitten")
    assert answer.status_code == 400 and "unknown class 'kitten'" in answer.get_json()["error"]
    assert _decide(client, token, index=FLIPPED[0], decision="delete").status_code == 400
    assert _decide(client, token, index="4", decision="fixed").status_code == 400


def test_a_damaged_database_is_refused_and_never_overwritten(review, visualizer_sets, tmp_path,
                                                             capsys):
    import edit_set_visualizer

    database = tmp_path / "decisions.sqlite"
    client = _app(review, visualizer_sets, database).test_client()
    assert _decide(client, _token(client), index=FLIPPED[0], decision="fixed").status_code == 200
    damaged = bytearray(database.read_bytes())
    damaged[100:4096] = b"\xff" * (4096 - 100)  # the header survives, the schema page does not
    database.write_bytes(bytes(damaged))
    with pytest.raises(UserError, match="damaged"):
        _app(review, visualizer_sets, database)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database at all" * 50)
    code = run_main(edit_set_visualizer.main, ["--edit-sets-dir", str(visualizer_sets),
                                               "--decisions", str(garbage), "--port", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "is damaged" in err[0]
    assert database.read_bytes() == bytes(damaged)
    assert garbage.read_bytes() == b"not a database at all" * 50


def test_undo_forgets_a_decision(review, visualizer_sets, tmp_path):
    client = _app(review, visualizer_sets, tmp_path / "d.sqlite").test_client()
    token = _token(client)
    assert _decide(client, token, index=FLIPPED[0], decision="fixed").status_code == 200
    key = {"dataset": "cifar10", "split": "test", "index": FLIPPED[0], "issue": "label"}
    headers = {TOKEN_HEADER: token, "Origin": ORIGIN}
    assert client.post("/api/error-review/decisions/undo", json=key,
                       headers=headers).get_json()["removed"] is True
    assert json.loads(client.get("/error-review/export.json").data)["decisions"] == []
    assert client.post("/api/error-review/decisions/undo", json=key,
                       headers=headers).get_json()["removed"] is False
