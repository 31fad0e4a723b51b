"""Regenerate ``mgstore/export/data/op_registry.binpb``: TensorFlow 2.21's op registry.

Run from a source checkout with TensorFlow 2.21.0 installed (the ``tf`` extra)::

    python -m mgstore.export.generate_registry           # rewrite the committed files
    python -m mgstore.export.generate_registry --check   # exit 1 if they differ from TensorFlow's

The file is an ``OpList`` holding every op registered in TensorFlow, each exactly as
``tensorflow.python.framework.op_def_registry.get(name)`` returns it: the definitions TensorFlow
copies into ``stripped_op_list``, without ``summary``/``description`` (TensorFlow's
``TF_GetAllOpList`` includes documentation for some ops, which ``stripped_op_list`` never has).
The ops are sorted by name in plain code-point order and serialized deterministically, so the
file changes only when the registry does.

It also writes ``data/full_types.json``, what the full-type constructors of TF 2.21's importer
need beyond the OpDefs (whose output args already carry each constructor's template, see
docs/old-producers.md), found by importing probe nodes into TensorFlow
(:mod:`mgstore.export.full_type_probe`): the FullTypeId each DataType maps to, and the ops
whose constructor leaves their OpDef unchanged (ops without outputs typed ``TFT_PRODUCT``).

TensorFlow is imported only when this command runs; mgstore itself never imports it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

DATA_FILE = Path(__file__).resolve().parent / "data" / "op_registry.binpb"
FULL_TYPES_FILE = DATA_FILE.parent / "full_types.json"
TF_VERSION = "2.21.0"


def registry_from_tensorflow() -> bytes:
    """The serialized OpList of TensorFlow's current op registry (imports TensorFlow).

    Names come from ``TF_GetAllOpList`` (the C++ registry, after ``import tensorflow`` has
    loaded every op library); definitions come from ``op_def_registry.get``, which is what
    ``export_meta_graph`` uses for ``stripped_op_list`` and ``strip_default_attrs``.
    """
    importlib.import_module("tensorflow")  # loads and registers every op library
    c_api = importlib.import_module("tensorflow.python.client.pywrap_tf_session")
    op_def_registry = importlib.import_module("tensorflow.python.framework.op_def_registry")
    op_def_pb2 = importlib.import_module("tensorflow.core.framework.op_def_pb2")

    everything = op_def_pb2.OpList()
    everything.ParseFromString(c_api.TF_GetBuffer(c_api.TF_GetAllOpList()))
    names = sorted({op.name for op in everything.op})  # str order is code-point order
    op_list = op_def_pb2.OpList()
    for name in names:
        op_def = op_def_registry.get(name)
        if op_def is None:  # listed but not retrievable: cannot happen in 2.21
            raise RuntimeError(f"op_def_registry.get({name!r}) returned None")
        added = op_list.op.add()
        added.CopyFrom(op_def)
        # get() already has no documentation; clear it anyway so the snapshot never carries it.
        added.ClearField("summary")
        added.ClearField("description")
        for arg in (*added.input_arg, *added.output_arg, *added.attr):
            arg.ClearField("description")
    data: bytes = op_list.SerializeToString(deterministic=True)
    return _canonical(data)


def _canonical(data: bytes) -> bytes:
    """Re-serialize through mgstore's own OpList class: the bytes mgstore reads back."""
    from mgstore.proto import OpList

    op_list = OpList()
    op_list.ParseFromString(data)
    out: bytes = op_list.SerializeToString(deterministic=True)
    return out


def tensorflow_version() -> str:
    """The installed TensorFlow's version string (imports TensorFlow)."""
    version: str = importlib.import_module("tensorflow").__version__
    return version


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` compare) the bundled op registry snapshot."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on a difference")
    parser.add_argument(
        "--any-version",
        action="store_true",
        help=f"run with a TensorFlow other than {TF_VERSION} (the snapshot must come from it)",
    )
    args = parser.parse_args(argv)
    version = tensorflow_version()
    if version != TF_VERSION and not args.any_version:
        print(
            f"TensorFlow {version} is installed; the snapshot must come from {TF_VERSION}",
            file=sys.stderr,
        )
        return 2
    fresh = registry_from_tensorflow()
    from mgstore.export.full_type_probe import full_type_data
    from mgstore.proto import OpList

    full_types = full_type_data()
    count = len(OpList.FromString(fresh).op)
    if args.check:
        current = DATA_FILE.read_bytes() if DATA_FILE.exists() else None
        current_types = FULL_TYPES_FILE.read_bytes() if FULL_TYPES_FILE.exists() else None
        if current_types != full_types:
            print(f"out of date: {FULL_TYPES_FILE}", file=sys.stderr)
            return 1
        if current != fresh:
            print(
                f"out of date: {DATA_FILE} (TensorFlow {version} has {count} ops, "
                f"{len(fresh)} bytes); run python -m mgstore.export.generate_registry",
                file=sys.stderr,
            )
            return 1
        print(f"up to date: {DATA_FILE} ({count} ops, {len(fresh)} bytes)")
        return 0
    DATA_FILE.parent.mkdir(parents=True, exist_ok=True)
    DATA_FILE.write_bytes(fresh)
    FULL_TYPES_FILE.write_bytes(full_types)
    print(f"wrote {DATA_FILE} ({count} ops, {len(fresh)} bytes, TensorFlow {version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
