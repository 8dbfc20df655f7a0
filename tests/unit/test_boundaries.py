"""One boundary: which modules may talk to which libraries, and how big a module may grow.

Read statically with :mod:`ast`, so every module counts, including ones no
test imports. ``tests/engine/test_preflight_and_status.py`` checks at run time
that importing the engine loads neither oss2 nor fsspec (transitively); this
checks each engine module's own imports, for the transport libraries too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import oss_resumable_fs

PACKAGE = Path(oss_resumable_fs.__file__).resolve().parent
MODULES = sorted(PACKAGE.rglob("*.py"))
#: Where oss2 may be imported: the client boundary, and the local server that emulates OSS.
OSS2_ALLOWED = (PACKAGE / "sources", PACKAGE / "testing")
#: What the engine must never import: it sees OSS only through its RangeSource protocol.
ENGINE_FORBIDDEN = ("oss2", "ossfs", "fsspec", "requests", "urllib3")
MAX_LINES = 500
MAX_FS_LINES = 400


def _relative(path: Path) -> str:
    return path.relative_to(PACKAGE.parent).as_posix()


def imported_roots(path: Path) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in ``path``, in any form.

    ``import a.b``, ``from a.b import c``, imports inside functions or under
    ``TYPE_CHECKING``, and ``importlib.import_module("a")`` / ``__import__("a")``
    with a literal name.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            first = node.args[0]
            if (
                name in ("import_module", "__import__")
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                found.append((node.lineno, first.value.split(".")[0]))
    return found


def _under(path: Path, *directories: Path) -> bool:
    return any(path.is_relative_to(directory) for directory in directories)


def test_the_walk_sees_the_package() -> None:
    names = {_relative(path) for path in MODULES}
    assert "oss_resumable_fs/fs.py" in names
    assert "oss_resumable_fs/sources/client.py" in names
    assert any(name.startswith("oss_resumable_fs/engine/") for name in names)
    # The import finder itself: the client does import oss2.
    assert "oss2" in {root for _line, root in imported_roots(PACKAGE / "sources" / "client.py")}


@pytest.mark.parametrize(
    "path", [p for p in MODULES if not _under(p, *OSS2_ALLOWED)], ids=_relative
)
def test_only_the_sources_boundary_imports_oss2(path: Path) -> None:
    lines = [line for line, root in imported_roots(path) if root == "oss2"]
    assert not lines, (
        f"{_relative(path)} imports oss2 (line {lines}); "
        "requests to OSS go through oss_resumable_fs/sources/"
    )


@pytest.mark.parametrize("path", sorted((PACKAGE / "engine").rglob("*.py")), ids=_relative)
def test_the_engine_imports_no_oss_or_transport_library(path: Path) -> None:
    bad = [(line, root) for line, root in imported_roots(path) if root in ENGINE_FORBIDDEN]
    assert not bad, f"{_relative(path)} imports {bad}"


@pytest.mark.parametrize("path", MODULES, ids=_relative)
def test_no_module_is_over_500_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{_relative(path)} has {lines} lines (at most {MAX_LINES})"


def test_the_filesystem_module_stays_under_400_lines() -> None:
    lines = len((PACKAGE / "fs.py").read_text(encoding="utf-8").splitlines())
    assert lines < MAX_FS_LINES, f"oss_resumable_fs/fs.py has {lines} lines"
