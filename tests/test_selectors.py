"""The two ranked selectors on predictions chosen by hand, so every boundary is exact.

All probabilities below are dyadic fractions (0.125, 0.25, 0.375, 0.5, ...): they and their
differences are exact in float64, so ``>=`` / ``<=`` at the boundary is tested, not rounding.
A naive row-by-row reference implementation checks the same rules on random predictions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from editset_helpers.predictions import SplitPredictions
from editset_helpers.selectors import (
    Selection,
    get_selector,
    select_closest,
    select_confident_wrong,
)
from helpers.errors import UserError

# index: (label, probabilities over 3 classes)           predicted, confidence, p(true), margin
ROWS = [
    (0, [0.75, 0.25, 0.0]),     # 0: right (confident, but not wrong)
    (1, [0.75, 0.25, 0.0]),     # 1: 0, 0.75,  0.25,  0.5
    (2, [0.5, 0.25, 0.25]),     # 2: 0, 0.5,   0.25,  0.25
    (0, [0.25, 0.75, 0.0]),     # 3: 1, 0.75,  0.25,  0.5   (ties with 1)
    (0, [0.125, 0.875, 0.0]),   # 4: 1, 0.875, 0.125, 0.75
    (2, [1.0, 0.0, 0.0]),       # 5: 0, 1.0,   0.0,   1.0
    (1, [0.5, 0.5, 0.0]),       # 6: 0 (argmax takes the first), 0.5, 0.5, 0.0
    (1, [0.375, 0.25, 0.375]),  # 7: 0, 0.375, 0.25,  0.125
    (2, [0.25, 0.25, 0.5]),     # 8: right
]
WRONG = [1, 2, 3, 4, 5, 6, 7]


def make_predictions(rows=ROWS) -> SplitPredictions:
    labels = torch.tensor([label for label, _ in rows])
    probabilities = torch.tensor([p for _, p in rows], dtype=torch.float64)
    return SplitPredictions("cifar10", "test", labels, probabilities, ["a", "b", "c"])


def just_below(x: float) -> float:
    return float(np.nextafter(x, -math.inf))


def just_above(x: float) -> float:
    return float(np.nextafter(x, math.inf))


@pytest.fixture
def predictions() -> SplitPredictions:
    return make_predictions()


def test_fixture_rows_mean_what_the_comments_say(predictions):
    assert torch.nonzero(predictions.wrong).flatten().tolist() == WRONG
    assert predictions.predicted.tolist() == [0, 0, 0, 1, 1, 0, 0, 0, 2]


# confident_wrong ------------------------------------------------------------------------------

@pytest.mark.parametrize(("threshold", "expected"), [
    (0.75, [5, 4, 1, 3]),               # >= is inclusive; 1 and 3 tie at 0.75: lower index first
    (just_above(0.75), [5, 4]),
    (just_below(0.75), [5, 4, 1, 3]),
    (1.0, [5]),                         # the top of the range is allowed and inclusive
    (0.5, [5, 4, 1, 3, 2, 6]),
    (0.375, [5, 4, 1, 3, 2, 6, 7]),
    (0.001, [5, 4, 1, 3, 2, 6, 7]),     # every wrong image, never a right one (0 and 8)
])
def test_confident_wrong_threshold_is_inclusive_and_ordered(predictions, threshold, expected):
    selection = select_confident_wrong(predictions, confidence_threshold=threshold)
    assert selection.indices == expected
    assert selection.available == len(expected)
    assert selection.ranked
    confidence = predictions.confidence
    assert selection.extra == [{"confidence": float(confidence[i])} for i in expected]


@pytest.mark.parametrize(("max_samples", "expected"), [
    (1, [5]), (3, [5, 4, 1]), (4, [5, 4, 1, 3]), (100, [5, 4, 1, 3, 2, 6]),
    (None, [5, 4, 1, 3, 2, 6]), (-1, [5, 4, 1, 3, 2, 6]),
])
def test_confident_wrong_max_samples_keeps_the_most_confident(predictions, max_samples, expected):
    selection = select_confident_wrong(predictions, confidence_threshold=0.5,
                                       max_samples=max_samples)
    assert selection.indices == expected
    assert selection.available == 6  # counted before the cut


def test_ties_are_broken_by_index_not_by_position():
    # The same two tied rows, stored in the opposite order, still come out by index.
    rows = [(0, [0.25, 0.75, 0.0])] * 3 + [(2, [1.0, 0.0, 0.0])]
    selection = select_confident_wrong(make_predictions(rows), confidence_threshold=0.5)
    assert selection.indices == [3, 0, 1, 2]
    assert select_confident_wrong(make_predictions(rows), confidence_threshold=0.5,
                                  max_samples=2).indices == [3, 0]


def test_confident_wrong_does_not_depend_on_seed(predictions):
    runs = {tuple(select_confident_wrong(predictions, confidence_threshold=0.5, max_samples=3,
                                         seed=seed).indices) for seed in range(5)}
    assert runs == {(5, 4, 1)}


@pytest.mark.parametrize("threshold", [0.0, -0.1, just_above(1.0), 1.5, float("nan"), "high"])
def test_confident_wrong_rejects_thresholds_outside_0_1(predictions, threshold):
    with pytest.raises(UserError, match="confidence_threshold"):
        select_confident_wrong(predictions, confidence_threshold=threshold)


def test_numeric_strings_from_a_sweep_file_are_accepted(predictions):
    assert select_confident_wrong(predictions, confidence_threshold="0.75").indices == [5, 4, 1, 3]
    assert select_closest(predictions, min_true_prob="0.25", max_margin="0.25").indices == [6, 7, 2]


# closest --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("min_true_prob", "max_margin", "expected"), [
    (0.25, 0.5, [6, 7, 2, 1, 3]),          # both bounds inclusive; 1 and 3 tie at 0.5
    (0.25, 0.25, [6, 7, 2]),
    (0.25, just_below(0.25), [6, 7]),
    (0.25, 0.0, [6]),                      # a margin of exactly 0 (a tie the model lost)
    (just_above(0.25), 1.0, [6]),
    (0.5, 1.0, [6]),
    (just_above(0.5), 1.0, []),            # a wrong prediction never has p(true) > 0.5
    (0.125, 0.75, [6, 7, 2, 1, 3, 4]),
    (0.0, 1.0, [6, 7, 2, 1, 3, 4, 5]),     # every wrong image, no right one
    (0.0, math.inf, [6, 7, 2, 1, 3, 4, 5]),
])
def test_closest_bounds_are_inclusive_and_ordered(predictions, min_true_prob, max_margin,
                                                  expected):
    selection = select_closest(predictions, min_true_prob=min_true_prob, max_margin=max_margin)
    assert selection.indices == expected
    assert selection.available == len(expected)
    assert selection.ranked
    for i, extra in zip(expected, selection.extra, strict=True):
        probs = dict(enumerate(ROWS[i][1]))
        label = ROWS[i][0]
        predicted = max(probs.values())
        assert extra == {"true_probability": probs[label], "predicted_probability": predicted,
                         "margin": predicted - probs[label]}


@pytest.mark.parametrize(("max_samples", "expected"), [
    (1, [6]), (2, [6, 7]), (4, [6, 7, 2, 1]), (5, [6, 7, 2, 1, 3]), (-1, [6, 7, 2, 1, 3]),
])
def test_closest_max_samples_keeps_the_smallest_margins(predictions, max_samples, expected):
    selection = select_closest(predictions, min_true_prob=0.25, max_margin=0.5,
                               max_samples=max_samples)
    assert selection.indices == expected
    assert selection.available == 5


@pytest.mark.parametrize(("min_true_prob", "max_margin", "message"), [
    (-0.1, 0.3, "min_true_prob"), (1.5, 0.3, "min_true_prob"),
    (float("nan"), 0.3, "min_true_prob"),
    (0.1, -0.1, "max_margin"), (0.1, just_below(0.0), "max_margin"),
    (0.1, float("nan"), "max_margin"), (0.1, None, "max_margin"),
])
def test_closest_rejects_bad_parameters(predictions, min_true_prob, max_margin, message):
    with pytest.raises(UserError, match=message):
        select_closest(predictions, min_true_prob=min_true_prob, max_margin=max_margin)


@pytest.mark.parametrize("selector", [select_confident_wrong, select_closest])
@pytest.mark.parametrize("max_samples", [0, -2])
def test_max_samples_zero_or_below_minus_one_is_an_error(predictions, selector, max_samples):
    with pytest.raises(UserError, match="max_samples"):
        selector(predictions, max_samples=max_samples)


@pytest.mark.parametrize("selector", [select_confident_wrong, select_closest])
def test_no_wrong_prediction_gives_an_empty_selection(selector):
    selection = selector(make_predictions([(0, [0.75, 0.25, 0.0]), (2, [0.25, 0.25, 0.5])]))
    assert selection == Selection([], [], available=0, ranked=True)


# against a naive reference, on random predictions ---------------------------------------------

def naive_confident_wrong(labels, probs, threshold, max_samples):
    kept = []
    for i, (label, row) in enumerate(zip(labels, probs, strict=True)):
        predicted = int(np.argmax(row))
        if predicted != label and row[predicted] >= threshold:
            kept.append((-row[predicted], i))
    return [i for _, i in sorted(kept)][:max_samples]


def naive_closest(labels, probs, min_true_prob, max_margin, max_samples):
    kept = []
    for i, (label, row) in enumerate(zip(labels, probs, strict=True)):
        predicted = int(np.argmax(row))
        margin = row[predicted] - row[label]
        if predicted != label and row[label] >= min_true_prob and margin <= max_margin:
            kept.append((margin, i))
    return [i for _, i in sorted(kept)][:max_samples]


@pytest.mark.parametrize("seed", range(3))
def test_selectors_match_a_naive_reference(seed):
    rng = np.random.default_rng(seed)
    n, k = 400, 10
    # Coarse probabilities (multiples of 1/16) so that ties and boundary hits happen often.
    probs = np.stack([rng.multinomial(16, rng.dirichlet(np.full(k, 0.4))) for _ in range(n)]) / 16
    labels = rng.integers(0, k, size=n)
    predictions = SplitPredictions("cifar10", "test", torch.as_tensor(labels),
                                   torch.as_tensor(probs, dtype=torch.float64),
                                   [str(c) for c in range(k)])
    sizes = []
    for threshold in (0.25, 0.5, 0.75, 0.875):
        for max_samples in (None, 7):
            sizes.append(len(naive_confident_wrong(labels, probs, threshold, None)))
            assert get_selector("confident_wrong")(  # by its registered name
                predictions, confidence_threshold=threshold, max_samples=max_samples
            ).indices == naive_confident_wrong(labels, probs, threshold, max_samples)
    for min_true_prob, max_margin in ((0.0, 0.0), (0.125, 0.25), (0.25, 0.5), (0.0625, 1.0)):
        for max_samples in (None, 5):
            sizes.append(len(naive_closest(labels, probs, min_true_prob, max_margin, None)))
            assert get_selector("closest")(
                predictions, min_true_prob=min_true_prob, max_margin=max_margin,
                max_samples=max_samples
            ).indices == naive_closest(labels, probs, min_true_prob, max_margin, max_samples)
    assert min(sizes) > 0 and max(sizes) > 7  # the cut and the ordering were exercised
