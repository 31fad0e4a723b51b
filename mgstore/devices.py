"""Device strings as TensorFlow canonicalises them, so that ``/cpu:0`` finds ``/device:CPU:0``.

TensorFlow's ``DeviceSpec`` reads ``/job:J/replica:R/task:T/device:TYPE:N`` with the parts in
any order, a bare ``TYPE:N`` (``cpu:0``, ``GPU:1``) for the device part, and writes the parts
back in that fixed order with the short form spelt out (``/cpu:0`` → ``/device:CPU:0``).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["canonical", "matching"]

#: Device types TensorFlow accepts in the short ``TYPE:N`` form (case-insensitive).
SHORT_TYPES = frozenset({"CPU", "GPU", "TPU", "TPU_SYSTEM", "XLA_CPU", "XLA_GPU", "DEFAULT"})


def canonical(device: str) -> str | None:
    """``device`` in TensorFlow's canonical spelling, or None if TensorFlow would not parse it."""
    job = replica = task = kind = index = None
    for part in device.split("/"):
        fields = part.split(":")
        if part == "":
            continue
        if len(fields) == 2 and fields[0] in ("job", "replica", "task"):
            if fields[0] == "job":
                job = fields[1]
            elif fields[0] == "replica":
                replica = fields[1]
            else:
                task = fields[1]
        elif len(fields) in (1, 2) and fields[0].upper() in SHORT_TYPES and kind is None:
            kind = fields[0].upper()
            index = fields[1] if len(fields) == 2 else "*"
        elif len(fields) == 3 and fields[0] == "device" and kind is None:
            kind, index = fields[1], fields[2]
        else:
            return None
    out = ""
    for name, value in (("job", job), ("replica", replica), ("task", task)):
        if value is not None:
            out += f"/{name}:{value}"
    if kind is not None:
        out += f"/device:{kind}:{index}"
    return out


def matching(wanted: Iterable[str], stored: Iterable[str]) -> list[str]:
    """The ``stored`` device strings that equal one of ``wanted``, literally or canonically."""
    keys = set(wanted)
    keys.update(c for c in map(canonical, list(keys)) if c is not None)
    return sorted({d for d in stored if d in keys or canonical(d) in keys})
