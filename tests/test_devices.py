"""Device strings match as TensorFlow canonicalises them."""

from __future__ import annotations

import pytest

from mgstore.devices import canonical, matching


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/cpu:0", "/device:CPU:0"),
        ("/CPU:0", "/device:CPU:0"),
        ("cpu:1", "/device:CPU:1"),
        ("/gpu", "/device:GPU:*"),
        ("/device:CPU:0", "/device:CPU:0"),
        ("/task:0/job:ps", "/job:ps/task:0"),
        ("/job:worker/replica:0/task:1/gpu:0", "/job:worker/replica:0/task:1/device:GPU:0"),
        ("", ""),
        ("/nonsense:1:2:3", None),
    ],
)
def test_canonical_spelling(given: str, expected: str | None) -> None:
    assert canonical(given) == expected


def test_matching_finds_stored_spellings_of_the_same_device() -> None:
    stored = ["/device:CPU:0", "/cpu:0", "/job:ps/task:0", "/device:GPU:0", ""]
    assert matching(["/cpu:0"], stored) == ["/cpu:0", "/device:CPU:0"]
    assert matching(["/task:0/job:ps"], stored) == ["/job:ps/task:0"]
    assert matching(["/tpu:0"], stored) == []


def test_tensorflow_agrees(tf: object) -> None:
    spec = tf.DeviceSpec  # type: ignore[attr-defined]
    for given in ("/cpu:0", "/gpu", "/task:0/job:ps", "/job:w/replica:0/task:1/gpu:0", "CPU:3"):
        assert canonical(given) == spec.from_string(given).to_string(), given
