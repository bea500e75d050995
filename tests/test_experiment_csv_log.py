"""The resumable CSV: rows durable one at a time, torn tails cut, foreign headers refused."""

from __future__ import annotations

import csv
import logging
import multiprocessing

import pytest

from edits.experiments.csv_log import ResultLog, format_line
from helpers.errors import UserError

COLUMNS = ("experiment_id", "value", "note")


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_new_file_gets_the_header_and_rows_survive_reopening(tmp_path):
    path = tmp_path / "sub" / "runs.csv"
    with ResultLog(path, COLUMNS) as log:
        assert log.completed_ids == set()
        log.append({"experiment_id": "a", "value": 0.1, "note": None})
        log.append({"experiment_id": "b", "value": float("nan"), "note": "x"})
    assert read_rows(path) == [list(COLUMNS), ["a", "0.1", ""], ["b", "", "x"]]
    with ResultLog(path, COLUMNS) as log:
        assert log.completed_ids == {"a", "b"}


def test_a_row_is_one_line_even_with_line_breaks_in_a_message(tmp_path):
    path = tmp_path / "runs.csv"
    with ResultLog(path, COLUMNS) as log:
        log.append({"experiment_id": "a", "value": 1, "note": "first line\nsecond, \"quoted\""})
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    assert read_rows(path)[1] == ["a", "1", 'first line second, "quoted"']


def test_torn_last_line_is_cut_and_its_row_runs_again(tmp_path, caplog):
    path = tmp_path / "runs.csv"
    with ResultLog(path, COLUMNS) as log:
        log.append({"experiment_id": "a", "value": 1, "note": ""})
    whole = path.read_bytes()
    torn = format_line(["b", 2, "half"]).encode()[:5]  # a kill in the middle of a write
    path.write_bytes(whole + torn)
    with caplog.at_level(logging.WARNING), ResultLog(path, COLUMNS) as log:
        assert log.completed_ids == {"a"}
        assert path.read_bytes() == whole
        log.append({"experiment_id": "b", "value": 2, "note": "whole"})
    assert "incomplete last line" in caplog.text
    assert [row[0] for row in read_rows(path)[1:]] == ["a", "b"]


def test_appending_a_finished_id_again_is_refused(tmp_path):
    with ResultLog(tmp_path / "runs.csv", COLUMNS) as log:
        log.append({"experiment_id": "a", "value": 1, "note": ""})
        with pytest.raises(ValueError, match="already has a row"):
            log.append({"experiment_id": "a", "value": 2, "note": ""})
        with pytest.raises(ValueError, match="columns the log does not"):
            log.append({"experiment_id": "c", "surprise": 1})


@pytest.mark.parametrize(("header", "message"), [
    ("experiment_id,note\n", "missing value"),
    ("experiment_id,value,note,extra\n", "unexpected extra"),
    ("value,experiment_id,note\n", "same columns in another order"),
])
def test_a_csv_with_other_columns_is_refused_untouched(tmp_path, header, message):
    path = tmp_path / "old.csv"
    path.write_text(header + "1,2,3\n")
    with pytest.raises(UserError, match=message):
        ResultLog(path, COLUMNS).open()
    assert path.read_text() == header + "1,2,3\n"


def test_a_hand_edited_row_with_missing_cells_is_refused(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text("experiment_id,value,note\na,1\n")
    with pytest.raises(UserError, match="line 2 has 2 cells, expected 3"):
        ResultLog(path, COLUMNS).open()


def test_a_second_writer_is_refused_while_the_first_holds_the_file(tmp_path):
    path = tmp_path / "runs.csv"
    with ResultLog(path, COLUMNS), pytest.raises(UserError, match="being written by another"):
        ResultLog(path, COLUMNS).open()
    with ResultLog(path, COLUMNS) as log:  # free again once closed
        assert log.completed_ids == set()


def test_an_old_22_column_csv_is_widened_and_appended_to(tmp_path, caplog):
    from edits.experiments.columns import COLUMNS as ALL
    from edits.experiments.columns import LEGACY_COLUMNS

    path = tmp_path / "experiment_data.csv"
    old_row = {c: f"v{i}" for i, c in enumerate(LEGACY_COLUMNS)}
    path.write_text(format_line(LEGACY_COLUMNS) + format_line(list(old_row.values())))
    with caplog.at_level(logging.WARNING), ResultLog(path, ALL) as log:
        assert log.completed_ids == {old_row["experiment_id"]}
        log.append({"experiment_id": "new", "solver": "highs"})
    assert "added the" in caplog.text
    rows = read_rows(path)
    assert tuple(rows[0]) == ALL and len(rows) == 3
    assert rows[1][:len(LEGACY_COLUMNS)] == list(old_row.values())
    assert rows[1][len(LEGACY_COLUMNS):] == [""] * (len(ALL) - len(LEGACY_COLUMNS))
    assert rows[2][ALL.index("solver")] == "highs"
    assert not list(tmp_path.glob("*.tmp*"))  # the rewrite left no temporary file


def _race_worker(paths, barrier, outcomes, who):
    """One of two processes that open the same new CSV at the same moment, trial after trial."""
    for trial, path in enumerate(paths):
        barrier.wait()
        try:
            log = ResultLog(path, COLUMNS).open()
        except UserError:
            outcomes.put((trial, who, False))
            barrier.wait()  # the winner still holds its lock while we give up
            continue
        log.append({"experiment_id": f"{who}-{trial}", "value": trial, "note": ""})
        outcomes.put((trial, who, True))
        barrier.wait()
        log.close()


def test_two_runners_creating_one_new_csv_never_both_win(tmp_path):
    """Two processes behind a barrier open the same new file 60 times: exactly one is accepted
    each time and its row is in the file (the old header-by-rename let both in and lost rows)."""
    context = multiprocessing.get_context("fork")
    trials = 60
    paths = [tmp_path / f"race_{trial}.csv" for trial in range(trials)]
    barrier, outcomes = context.Barrier(2, timeout=60), context.Queue()
    workers = [context.Process(target=_race_worker, args=(paths, barrier, outcomes, who))
               for who in ("a", "b")]
    for worker in workers:
        worker.start()
    results = [outcomes.get(timeout=120) for _ in range(2 * trials)]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    accepted: dict[int, list[str]] = {}
    for trial, who, won in results:
        if won:
            accepted.setdefault(trial, []).append(who)
    both = [trial for trial, winners in accepted.items() if len(winners) > 1]
    assert not both, f"both runners accepted in trials {both}"
    assert sorted(accepted) == list(range(trials))
    for trial, (winner,) in accepted.items():
        assert read_rows(paths[trial]) == [list(COLUMNS), [f"{winner}-{trial}", str(trial), ""]]


def test_a_header_cut_by_a_kill_is_written_again(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_bytes(format_line(COLUMNS).encode()[:7])
    with ResultLog(path, COLUMNS) as log:
        log.append({"experiment_id": "a", "value": 1, "note": ""})
    assert read_rows(path) == [list(COLUMNS), ["a", "1", ""]]


def test_a_line_that_is_not_utf8_or_an_oversized_cell_is_one_clear_error(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_bytes(format_line(COLUMNS).encode() + b"a,1,\xff\xfe\n")
    with pytest.raises(UserError, match="line 2 is not UTF-8"):
        ResultLog(path, COLUMNS).open()
    path.write_text(format_line(COLUMNS) + "a,1," + "x" * 140_000 + "\n")
    with pytest.raises(UserError, match="line 2: field larger than field limit"):
        ResultLog(path, COLUMNS).open()


def test_a_long_message_is_shortened_so_the_file_reads_back(tmp_path):
    path = tmp_path / "runs.csv"
    with ResultLog(path, COLUMNS) as log:
        log.append({"experiment_id": "a", "value": 1, "note": "y" * 200_000})
    with ResultLog(path, COLUMNS) as log:
        assert log.completed_ids == {"a"}
    assert read_rows(path)[1][2].endswith("(truncated)")
