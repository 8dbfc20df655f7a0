"""ossfs's private hooks, and fsspec's public signatures: what ``ossfs_compat`` relies on.

``ResumableOSSFileSystem`` keeps ossfs's write paths (put, pipe, rm, append,
copy) and reroutes them through our client by overriding two private ossfs
methods. These tests fail when an ossfs release renames a hook, changes its
parameters, or stops calling it from a write path (the override would then be
dead code and writes would silently bypass our credentials and errors). They
also hold the methods we define to fsspec's signatures, so fsspec callers that
pass arguments by position or by name keep working.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from typing import Any

import pytest
from fsspec.spec import AbstractFileSystem
from ossfs import OSSFileSystem

from oss_resumable_fs import ResumableOSSFileSystem
from oss_resumable_fs.ossfs_compat import (
    OSSFS_HOOKS,
    OSSFS_WRAPPED,
    OSSFS_WRITE_PATHS,
    OssfsWriteHooks,
)

_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _names(function: Callable[..., Any]) -> tuple[str, ...]:
    """Every parameter name, ``*args`` / ``**kwargs`` included, in order."""
    return tuple(inspect.signature(function).parameters)


def _shape(function: Callable[..., Any]) -> tuple[tuple[str, Any], ...]:
    """(name, kind) of every parameter, in order."""
    return tuple((p.name, p.kind) for p in inspect.signature(function).parameters.values())


def _hook_calls(function: Callable[..., Any]) -> set[str]:
    """The hooks ``function``'s source calls as ``self.<hook>(...)``."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    called = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "self"
            and node.func.attr in OSSFS_HOOKS
        ):
            called.add(node.func.attr)
    return called


def _calls_in(function: Callable[..., Any]) -> set[str]:
    """``super().name`` for every ``super().name(...)`` call in ``function``'s source."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return {
        f"super().{node.func.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Call)
        and isinstance(node.func.value.func, ast.Name)
        and node.func.value.func.id == "super"
    }


def test_the_hooks_are_the_two_ossfs_reaches_oss_through() -> None:
    assert set(OSSFS_HOOKS) == {"_get_bucket", "_call_oss"}
    assert OSSFS_WRITE_PATHS  # something is kept from ossfs, or the mixin is pointless


@pytest.mark.parametrize("hook", sorted(OSSFS_HOOKS))
def test_ossfs_still_has_the_hook_with_the_same_parameters(hook: str) -> None:
    ossfs_method = getattr(OSSFileSystem, hook, None)
    assert callable(ossfs_method), f"ossfs.OSSFileSystem no longer has {hook}"
    assert _names(ossfs_method) == OSSFS_HOOKS[hook]


@pytest.mark.parametrize("hook", sorted(OSSFS_HOOKS))
def test_our_override_takes_the_parameters_ossfs_calls_it_with(hook: str) -> None:
    """Same names and kinds (positional, ``*args``, keyword-only, ``**kwargs``) as ossfs's."""
    ours = OssfsWriteHooks.__dict__[hook]
    assert _names(ours) == OSSFS_HOOKS[hook]
    assert _shape(ours) == _shape(getattr(OSSFileSystem, hook))


@pytest.mark.parametrize("method", OSSFS_WRITE_PATHS)
def test_each_write_path_exists_and_calls_a_hook(method: str) -> None:
    ossfs_method = getattr(OSSFileSystem, method, None)
    assert callable(ossfs_method), f"ossfs.OSSFileSystem no longer has {method}"
    called = _hook_calls(ossfs_method)
    assert called, (
        f"ossfs's {method} calls neither self._call_oss nor self._get_bucket: "
        "the override in ossfs_compat would be dead code for it"
    )


@pytest.mark.parametrize("method", OSSFS_WRITE_PATHS)
def test_write_paths_are_ossfs_s(method: str) -> None:
    """We keep ossfs's write paths: inherited unchanged, or wrapped (only to translate
    errors) by ``ossfs_compat`` around a call to ossfs's own."""
    defining = next(cls for cls in ResumableOSSFileSystem.__mro__ if method in cls.__dict__)
    if method not in OSSFS_WRAPPED:
        assert defining.__module__.startswith("ossfs"), (method, defining)
        return
    assert defining is OssfsWriteHooks, (method, defining)
    calls = _calls_in(OssfsWriteHooks.__dict__[method])
    assert f"super().{method}" in calls, calls


@pytest.mark.parametrize("hook", sorted(OSSFS_HOOKS))
def test_our_class_resolves_the_hooks_to_the_mixin(hook: str) -> None:
    mro = ResumableOSSFileSystem.__mro__
    assert mro.index(OssfsWriteHooks) < mro.index(OSSFileSystem)
    defining = next(cls for cls in mro if hook in cls.__dict__)
    assert defining is OssfsWriteHooks
    assert getattr(ResumableOSSFileSystem, hook) is OssfsWriteHooks.__dict__[hook]


def _fsspec_methods_we_define() -> list[str]:
    """Public methods of fsspec's ``AbstractFileSystem`` that this library (re)defines.

    The defining class is found along the MRO, so a method moved from
    ``ResumableOSSFileSystem`` into one of our mixins is still checked.
    """
    found = []
    for name in dir(ResumableOSSFileSystem):
        if name.startswith("_") or not callable(getattr(AbstractFileSystem, name, None)):
            continue
        defining = next(cls for cls in ResumableOSSFileSystem.__mro__ if name in cls.__dict__)
        if defining.__module__.startswith("oss_resumable_fs"):
            found.append(name)
    return sorted(found)


OUR_FSSPEC_METHODS = _fsspec_methods_we_define()


def test_the_methods_checked_include_the_ones_defined_in_the_class_itself() -> None:
    own = {
        name
        for name, value in vars(ResumableOSSFileSystem).items()
        if not name.startswith("_")
        and callable(value)
        and callable(getattr(AbstractFileSystem, name, None))
    }
    assert own <= set(OUR_FSSPEC_METHODS)
    # The reads and downloads are ours; if these vanish the check below checks nothing.
    assert {"cat_file", "get_file", "get", "info", "ls"} <= set(OUR_FSSPEC_METHODS)


@pytest.mark.parametrize("name", OUR_FSSPEC_METHODS)
def test_fsspec_callers_keep_working(name: str) -> None:
    """Every parameter of fsspec's signature is accepted, the way fsspec callers pass it.

    A positional parameter stays positional at the same place (callers pass
    ``get(rpath, lpath, True)``); one with a default keeps a default; fsspec's
    ``*args`` / ``**kwargs`` are kept (other filesystems' options pass through).
    """
    theirs = inspect.signature(getattr(AbstractFileSystem, name)).parameters
    ours = inspect.signature(getattr(ResumableOSSFileSystem, name)).parameters
    our_positional = [
        p.name
        for p in ours.values()
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    their_positional = [
        p.name for p in theirs.values() if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]
    assert our_positional[: len(their_positional)] == their_positional, name
    for parameter in theirs.values():
        if parameter.kind in _VARIADIC:
            assert any(p.kind is parameter.kind for p in ours.values()), (
                f"{name} lost fsspec's {parameter}"
            )
            continue
        assert parameter.name in ours, f"{name} does not accept fsspec's {parameter.name!r}"
        if parameter.default is not inspect.Parameter.empty:
            assert ours[parameter.name].default is not inspect.Parameter.empty, (
                f"{name}: fsspec callers may omit {parameter.name!r}"
            )
