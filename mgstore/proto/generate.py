"""Regenerate the Python modules under ``mgstore/proto`` from the .proto sources in ``protos/``.

Run from a source checkout with the ``dev`` extra installed::

    python -m mgstore.proto.generate           # rewrite the committed modules
    python -m mgstore.proto.generate --check   # exit 1 if they differ from the sources

protoc's output (modules and their ``.pyi`` stubs, which give mypy the message types) is
adapted in three ways: descriptors go into mgstore's private pool (never
protobuf's default pool, which TensorFlow owns), imports point inside ``mgstore.proto``, and the
gencode/runtime version guard is dropped so that the modules work with every protobuf runtime
TensorFlow 2.21 accepts (>=6.31.1,<8): the code only uses the builder API those versions share.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent.parent
PROTO_ROOT = REPO_ROOT / "protos"
TOP_LEVEL = ("tensorflow", "xla")

_GUARD = re.compile(
    r"from google\.protobuf import runtime_version as _runtime_version\n"
    r"|_runtime_version\.ValidateProtobufRuntimeVersion\(\n(?:    .*\n)*?\)\n"
)
_IMPORT = re.compile(r"^from ((?:tensorflow|xla)\.[\w.]+) import", re.MULTILINE)
_MODULE_NAME = re.compile(r"(BuildTopDescriptorsAndMessages\(DESCRIPTOR, ')((?:tensorflow|xla)\.)")
_HEADER = "# Adapted by mgstore.proto.generate: private pool, package imports, no version guard.\n"


def adapt_stub(source: str) -> str:
    """Turn one protoc-generated stub (``.pyi``) into the stub of the adapted module."""
    return _HEADER + _IMPORT.sub(r"from mgstore.proto.\1 import", source)


def adapt(source: str) -> str:
    """Turn one protoc-generated module into one that lives in mgstore's private pool."""
    out = _GUARD.sub("", source)
    out = _IMPORT.sub(r"from mgstore.proto.\1 import", out)
    out = _MODULE_NAME.sub(r"\1mgstore.proto.\2", out)
    out = out.replace(
        "from google.protobuf import descriptor_pool as _descriptor_pool\n",
        "from mgstore.proto._pool import POOL as _POOL\n",
    )
    out = out.replace("_descriptor_pool.Default()", "_POOL")
    if "_descriptor_pool" in out or "_runtime_version" in out:
        raise RuntimeError("protoc output has an unexpected shape; update mgstore.proto.generate")
    return _HEADER + out


def generate() -> dict[Path, str]:
    """Compile every .proto under protos/ and return {path relative to the package: source}
    (modules and their stubs)."""
    import grpc_tools  # dev-only dependency

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    sources = sorted(p.relative_to(PROTO_ROOT).as_posix() for p in PROTO_ROOT.rglob("*.proto"))
    with tempfile.TemporaryDirectory() as tmp:
        # protoc runs in a process of its own: in-process it crashes once TensorFlow is loaded.
        args = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{well_known}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            *sources,
        ]
        result = subprocess.run(args, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"protoc failed on {PROTO_ROOT}:\n{result.stderr}")
        files: dict[Path, str] = {}
        for path in sorted(Path(tmp).rglob("*_pb2.py")):
            rel = path.relative_to(tmp)
            files[rel] = adapt(path.read_text())
        for path in sorted(Path(tmp).rglob("*_pb2.pyi")):
            files[path.relative_to(tmp)] = adapt_stub(path.read_text())
    for rel in list(files):
        for parent in rel.parents:
            if parent != Path("."):
                files.setdefault(parent / "__init__.py", "")
    return files


def committed() -> dict[Path, str]:
    """The generated modules and stubs as they are in the package now."""
    return {
        p.relative_to(PACKAGE_DIR): p.read_text()
        for top in TOP_LEVEL
        for pattern in ("*.py", "*.pyi")
        for p in sorted((PACKAGE_DIR / top).rglob(pattern))
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on a difference")
    args = parser.parse_args(argv)
    fresh = generate()
    if args.check:
        stale = sorted(
            str(p) for p in set(fresh) | set(committed()) if fresh.get(p) != committed().get(p)
        )
        for p in stale:
            print(f"out of date: mgstore/proto/{p}", file=sys.stderr)
        return 1 if stale else 0
    for top in TOP_LEVEL:
        for old in [*(PACKAGE_DIR / top).rglob("*.py"), *(PACKAGE_DIR / top).rglob("*.pyi")]:
            old.unlink()
    for rel, text in fresh.items():
        (PACKAGE_DIR / rel).parent.mkdir(parents=True, exist_ok=True)
        (PACKAGE_DIR / rel).write_text(text)
    print(f"wrote {len(fresh)} modules under {PACKAGE_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
