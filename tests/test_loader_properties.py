"""Property tests of the loaders: whatever a file holds, the answer is a value or one UserError.

The fuzz table (tests/test_bad_input_fuzz.py) lists the bad inputs people have hit; Hypothesis
looks for the ones nobody listed: payloads of other shapes, dtypes, NaN, huge or negative
numbers, and metadata fields of the wrong type. A loader that raises anything but
``UserError`` would reach the user as a traceback.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from editset_helpers.io import load_edit_set
from helpers.errors import UserError
from helpers.npz_batches import read_batch_file
from model_classes.checkpoints import ModelMetadata

SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8))
json_like = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8)

dtypes = st.sampled_from([np.uint8, np.int64, np.float32, np.float64, np.bool_])


def small_arrays(min_dims: int = 0, max_dims: int = 4):
    return dtypes.flatmap(lambda dtype: hnp.arrays(
        dtype, hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=4)))


def answers_or_refuses(call) -> None:
    """The property: a value, or a one-line UserError."""
    try:
        call()
    except UserError as error:
        assert "\n" not in str(error)


@SETTINGS
@given(images=small_arrays(), labels=small_arrays(max_dims=2),
       metadata=st.one_of(st.none(), json_like, st.lists(json_like, max_size=4)))
def test_any_edit_set_payload_loads_or_is_one_user_error(tmp_path_factory, images, labels,
                                                         metadata):
    path = tmp_path_factory.mktemp("edit") / "x_edit_dataset.pt"
    payload = {"images": torch.from_numpy(np.ascontiguousarray(images)),
               "labels": torch.from_numpy(np.ascontiguousarray(labels))}
    if metadata is not None:
        payload["metadata"] = metadata
    torch.save(payload, path)
    answers_or_refuses(lambda: load_edit_set(path))


@SETTINGS
@given(data=small_arrays(), labels=small_arrays(max_dims=2),
       num_classes=st.one_of(st.none(), st.integers(1, 5)))
def test_any_npz_batch_reads_or_is_one_user_error(tmp_path_factory, data, labels, num_classes):
    path = tmp_path_factory.mktemp("npz") / "train_data_batch_1.npz"
    np.savez(path, data=data, labels=labels)
    answers_or_refuses(lambda: read_batch_file(path, num_classes))


@SETTINGS
@given(fields=st.dictionaries(st.sampled_from(["architecture", "num_classes", "input_size",
                                               "mean", "std", "class_names", "dataset",
                                               "test_accuracy", "created", "extra"]),
                              json_like, max_size=6))
def test_any_checkpoint_metadata_is_checked_or_one_user_error(fields):
    def read() -> None:
        metadata = ModelMetadata.from_dict(fields)
        # What was accepted is usable: the fields that build the model are sane.
        assert isinstance(metadata.num_classes, int) and metadata.num_classes >= 1
        assert isinstance(metadata.input_size, int) and metadata.input_size >= 1
        assert all(math.isfinite(v) for v in [*metadata.mean, *metadata.std])

    answers_or_refuses(read)


def test_the_property_can_fail():
    """The harness itself: an exception other than UserError is not swallowed."""
    with pytest.raises(ZeroDivisionError):
        answers_or_refuses(lambda: 1 / 0)
