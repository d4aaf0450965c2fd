"""Generate gen/hearth/** from protos/ (python, .pyi and gRPC stubs).

Run through `make proto`; `make proto-check` runs it into a temporary directory and compares,
so a stale gen/ fails CI. The output only depends on the pinned grpcio-tools version.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

import google.api
import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
GEN = ROOT / "gen"


def generate(out: Path) -> None:
    files = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    includes = [
        f"-I{PROTOS}",
        # google/api/*.proto (field_behavior, resource) ship with googleapis-common-protos.
        f"-I{Path(google.api.__path__[0]).parent.parent}",
        f"-I{Path(grpc_tools.__file__).parent / '_proto'}",
    ]
    # Typed gRPC stubs (*_pb2_grpc.pyi, sync and grpc.aio) from mypy-protobuf's plugin, installed beside us.
    plugin = Path(sys.executable).parent / "protoc-gen-mypy_grpc"
    args = [
        "protoc",
        *includes,
        f"--plugin=protoc-gen-mypy_grpc={plugin}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_grpc_out={out}",
        *files,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    # Make every generated directory a regular package (mypy and setuptools want __init__.py).
    for directory in [out / "hearth", *(p for p in (out / "hearth").rglob("*") if p.is_dir())]:
        (directory / "__init__.py").touch()


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true", help="fail if gen/ differs from a fresh generation")
    args = parser.parse_args()
    if not args.check:
        shutil.rmtree(GEN / "hearth", ignore_errors=True)
        GEN.mkdir(exist_ok=True)
        generate(GEN)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        expected, actual = tree(fresh), tree(GEN)
        stale = sorted(expected ^ actual) + sorted(
            f for f in expected & actual if not filecmp.cmp(fresh / f, GEN / f, shallow=False)
        )
        if stale:
            print("gen/ is stale; run `make proto`. Differs:", *stale, sep="\n  ", file=sys.stderr)
            return 1
    print("gen/ matches protos/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
