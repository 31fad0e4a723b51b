"""The committed modules under mgstore/proto are exactly what ``mgstore.proto.generate`` makes.

They must match the .proto sources in ``protos/``, live in mgstore's private pool (never protobuf's
default pool, which TensorFlow owns) and carry no gencode/runtime version guard.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from mgstore.proto import generate

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = REPO_ROOT / "protos"
PROTO_FILES = sorted(p.relative_to(PROTO_ROOT).as_posix() for p in PROTO_ROOT.rglob("*.proto"))

_PRIVATE_IMPORT = "from mgstore.proto._pool import POOL as _POOL\n"
_FORBIDDEN = (
    "_descriptor_pool.Default()",
    "descriptor_pool",
    "runtime_version",
    "ValidateProtobufRuntimeVersion",
)


def _check_adapted(path: Path, source: str) -> list[str]:
    problems = [f"{path}: contains {bad!r}" for bad in _FORBIDDEN if bad in source]
    if path.name.endswith("_pb2.py"):
        if _PRIVATE_IMPORT not in source:
            problems.append(f"{path}: does not import mgstore's private POOL")
        if "_POOL.AddSerializedFile(" not in source:
            problems.append(f"{path}: does not add its descriptor to the private POOL")
        for line in source.splitlines():
            if line.startswith(("from tensorflow", "from xla", "import tensorflow", "import xla")):
                problems.append(f"{path}: imports outside mgstore.proto: {line}")
    return problems


def _python(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``python *args`` in a fresh interpreter at the repository root.

    protoc (grpc_tools) must not run in this process: once TensorFlow has been imported (other
    tests do), grpc_tools' protoc.main() crashes the interpreter with a segmentation fault.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


_GENERATE = """
import json, sys
from mgstore.proto import generate
fresh, committed = generate.generate(), generate.committed()
json.dump({"fresh": {p.as_posix(): s for p, s in fresh.items()},
           "committed": {p.as_posix(): s for p, s in committed.items()}}, sys.stdout)
"""


def test_committed_modules_match_sources(protoc: ModuleType) -> None:
    result = _python("-c", _GENERATE)
    assert result.returncode == 0, result.stderr
    both = json.loads(result.stdout)
    fresh: dict[str, str] = both["fresh"]
    committed: dict[str, str] = both["committed"]
    assert fresh, "protoc produced no modules"
    missing = sorted(set(fresh) - set(committed))
    extra = sorted(set(committed) - set(fresh))
    stale = sorted(p for p in set(fresh) & set(committed) if fresh[p] != committed[p])
    assert not (missing or extra or stale), (
        "mgstore/proto is out of date with protos/; run `python -m mgstore.proto.generate`\n"
        f"  missing: {missing}\n  not generated from protos/: {extra}\n  stale: {stale}"
    )
    assert fresh == committed
    modules = {p for p in fresh if p.endswith("_pb2.py")}
    assert modules == {f.removesuffix(".proto") + "_pb2.py" for f in PROTO_FILES}
    # generate.committed() as seen from here agrees with the subprocess's view.
    assert {p.as_posix(): s for p, s in generate.committed().items()} == committed


def test_check_mode_passes(protoc: ModuleType) -> None:
    result = _python("-m", "mgstore.proto.generate", "--check")
    assert result.returncode == 0, result.stderr


def test_adapt_removes_default_pool_and_version_guard(protoc: ModuleType, tmp_path: Path) -> None:
    """Raw protoc output has both; adapt() must strip every trace of them."""
    import grpc_tools

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = [f"-I{PROTO_ROOT}", f"-I{well_known}", f"--python_out={tmp_path}", *PROTO_FILES]
    result = _python("-m", "grpc_tools.protoc", *args)
    assert result.returncode == 0, result.stderr
    raw = sorted(tmp_path.rglob("*_pb2.py"))
    assert len(raw) == len(PROTO_FILES)
    problems = []
    for path in raw:
        source = path.read_text()
        assert "_descriptor_pool.Default()" in source, f"{path}: protoc output changed shape"
        problems += _check_adapted(path.relative_to(tmp_path), generate.adapt(source))
    assert not problems, "\n".join(problems)


def test_adapt_handles_version_guard() -> None:
    """The guard protoc emits for runtime checks is dropped, whatever the version numbers."""
    source = (
        "from google.protobuf import descriptor as _descriptor\n"
        "from google.protobuf import descriptor_pool as _descriptor_pool\n"
        "from google.protobuf import runtime_version as _runtime_version\n"
        "_runtime_version.ValidateProtobufRuntimeVersion(\n"
        "    _runtime_version.Domain.PUBLIC,\n"
        "    7,\n"
        "    35,\n"
        "    1,\n"
        "    '',\n"
        "    'tensorflow/core/framework/versions.proto'\n"
        ")\n"
        "from tensorflow.core.framework import types_pb2 as x\n"
        "DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile(b'')\n"
        "_builder.BuildTopDescriptorsAndMessages(DESCRIPTOR, "
        "'tensorflow.core.framework.versions_pb2', _globals)\n"
    )
    out = generate.adapt(source)
    assert not _check_adapted(Path("versions_pb2.py"), out)
    assert "from mgstore.proto.tensorflow.core.framework import types_pb2 as x\n" in out
    assert "'mgstore.proto.tensorflow.core.framework.versions_pb2'" in out
    assert "DESCRIPTOR = _POOL.AddSerializedFile(b'')\n" in out


def test_committed_modules_use_private_pool() -> None:
    """No protoc needed: the committed modules themselves are adapted."""
    committed = generate.committed()
    assert committed
    problems = [p for path, source in committed.items() for p in _check_adapted(path, source)]
    assert not problems, "\n".join(problems)


_NO_DEFAULT_POOL = """
import importlib, pkgutil, sys
from google.protobuf import descriptor_pool

import mgstore.proto

for top in ("tensorflow", "xla"):  # every generated module, not just those __init__ imports
    package = importlib.import_module("mgstore.proto." + top)
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)

leaked = sorted(m for m in sys.modules if m == "tensorflow" or m.startswith("tensorflow."))
assert not leaked, f"mgstore.proto imported TensorFlow ({len(leaked)} modules: {leaked[:5]})"
mgstore.proto.POOL.FindMessageTypeByName("tensorflow.MetaGraphDef")  # positive control
default = descriptor_pool.Default()
try:
    default.FindMessageTypeByName("tensorflow.MetaGraphDef")
except KeyError:
    pass
else:
    sys.exit("tensorflow.MetaGraphDef is in protobuf's default pool")
for name in sys.argv[1:]:
    mgstore.proto.POOL.FindFileByName(name)
    try:
        default.FindFileByName(name)
    except KeyError:
        continue
    sys.exit(f"{name} is in protobuf's default pool")
print("clean")
"""


def test_import_leaves_default_pool_alone() -> None:
    """In a fresh interpreter (other tests may have imported TensorFlow into this one)."""
    result = _python("-c", _NO_DEFAULT_POOL, *PROTO_FILES, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clean"


def test_every_generated_module_has_its_stub() -> None:
    # mypy reads the message types from the stubs (mgstore.proto.generate writes both)
    package = REPO_ROOT / "mgstore" / "proto"
    modules = sorted(package.rglob("*_pb2.py"))
    assert modules
    assert [m for m in modules if not m.with_suffix(".pyi").is_file()] == []
