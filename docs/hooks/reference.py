"""MkDocs hook: the reference tables, generated from the code at build time.

A page asks for a table with an HTML comment on a line of its own::

    <!-- generated: transfer-config -->

and the hook replaces it with Markdown built from the library as installed:
the fields of ``TransferConfig`` (type, default, and the ``#:`` comment above
each field), the environment variables the code reads (found by scanning the
source, described by :data:`ENVIRONMENT`), the fields of ``DownloadResult``,
the command line's ``--help``, the journal's constants. Anything the code has
and the docs do not describe (a field without a comment, a variable without a
description) is logged as a warning, which fails ``mkdocs build --strict``.

``tests/docs/test_reference.py`` imports this module to check the same things.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import inspect
import logging
import os
import re
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.hooks.reference")

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "oss_resumable_fs"
_PLACEHOLDER = re.compile(
    r"^(?P<indent>[ \t]*)<!-- generated: (?P<name>[\w-]+)(?: (?P<arg>[\w-]+))? -->$", re.M
)

# -- environment variables ---------------------------------------------------------------

#: What each variable the library reads means. The names come from the code
#: (:func:`environment_reads`); a name found there and missing here is a warning.
ENVIRONMENT: dict[str, str] = {
    "OSS_ENDPOINT": "Endpoint URL when none is given (`endpoint=`, `--endpoint`, "
    "`%oss_config --endpoint`), e.g. `https://oss-cn-hangzhou.aliyuncs.com`.",
    "OSS_REGION": "Region when none is given, e.g. `cn-hangzhou` (not `oss-cn-hangzhou`); "
    "a region selects V4 signatures.",
    "OSS_ACCESS_KEY_ID": "Access key id, when no `key=` or `credentials_provider=` is given. "
    "Without one, requests are unsigned (anonymous).",
    "OSS_ACCESS_KEY_SECRET": "Access key secret, with `OSS_ACCESS_KEY_ID`. "
    "The command line reads credentials from the environment only.",
    "OSS_SESSION_TOKEN": "STS security token, for temporary credentials.",
    "REQUESTS_CA_BUNDLE": "CA bundle (a file or directory) that verifies HTTPS endpoints, "
    "as in requests. Read once per client when no proxy is set; with a proxy, requests "
    "reads it itself.",
    "CURL_CA_BUNDLE": "Same as `REQUESTS_CA_BUNDLE`, which takes precedence.",
}

#: Variables read through a library call rather than by name: the call, and the names.
INDIRECT_READS: dict[str, tuple[str, ...]] = {
    "getproxies": ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"),
}

INDIRECT_DOCS: dict[str, str] = {
    "HTTP_PROXY": "Proxy for `http://` endpoints (and `http_proxy`). When any proxy "
    "variable is set, requests to OSS go through the proxy; add the local server "
    "(`127.0.0.1`) to `NO_PROXY`.",
    "HTTPS_PROXY": "Proxy for `https://` endpoints (and `https_proxy`).",
    "ALL_PROXY": "Proxy for every scheme (and `all_proxy`).",
    "NO_PROXY": "Hosts that bypass the proxy, comma-separated (and `no_proxy`), "
    "e.g. `127.0.0.1,localhost,.aliyuncs.com`.",
}

_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")


def _is_environ(node: ast.AST) -> bool:
    """``os.environ`` (or a bare ``environ``)."""
    if isinstance(node, ast.Attribute):
        return node.attr == "environ" and isinstance(node.value, ast.Name)
    return isinstance(node, ast.Name) and node.id == "environ"


def _read_key(node: ast.AST) -> ast.AST | None:
    """The key expression of ``os.environ[k]``, ``os.environ.get(k)``, ``os.getenv(k)``,
    ``k in os.environ``; else ``None``."""
    if isinstance(node, ast.Subscript) and _is_environ(node.value):
        return node.slice
    if isinstance(node, ast.Call) and node.args:
        func = node.func
        reads = isinstance(func, ast.Attribute) and (
            func.attr == "getenv"
            or (func.attr in ("get", "pop", "setdefault") and _is_environ(func.value))
        )
        if reads or (isinstance(func, ast.Name) and func.id == "getenv"):
            return node.args[0]
    if (
        isinstance(node, ast.Compare)
        and len(node.ops) == 1
        and isinstance(node.ops[0], (ast.In, ast.NotIn))
        and _is_environ(node.comparators[0])
    ):
        return node.left
    return None


@dataclasses.dataclass
class EnvironmentReads:
    """What :func:`environment_reads` found."""

    #: Variable name -> the modules that read it (paths relative to the package's parent).
    direct: dict[str, set[str]]
    #: Variable name -> the modules whose library calls read it (proxies).
    indirect: dict[str, set[str]]
    #: ``path:line`` of reads whose variable name could not be worked out.
    unresolved: list[str]


def environment_reads(package: Path = PACKAGE) -> EnvironmentReads:
    """Every environment variable the package's code reads, by scanning its source.

    A key that is a string constant names the variable. A key computed some other
    way (``os.environ[ENVIRONMENT[name]]``, a loop over a module-level mapping)
    counts every variable-like string constant of that module; in a module with
    none, it is unresolved.
    """
    found = EnvironmentReads({}, {}, [])
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package.parent).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        constants = {
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _ENV_NAME.match(node.value)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                for variable in INDIRECT_READS.get(name, ()):
                    found.indirect.setdefault(variable, set()).add(relative)
            key = _read_key(node)
            if key is None:
                continue
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                names = {key.value}
            elif constants:  # a name or a lookup: a module constant, somewhere
                names = constants
            else:
                found.unresolved.append(f"{relative}:{node.lineno}")
                continue
            for name in names:
                found.direct.setdefault(name, set()).add(relative)
    return found


def environment_table() -> str:
    reads = environment_reads()
    for name in sorted(set(reads.direct) - set(ENVIRONMENT)):
        log.warning("environment variable %s is read by the code but not documented", name)
    for name in sorted(set(ENVIRONMENT) - set(reads.direct)):
        log.warning("environment variable %s is documented but no longer read", name)
    for where in reads.unresolved:
        log.warning("an environment variable read at %s could not be named", where)
    rows = ["| variable | read by | meaning |", "|---|---|---|"]
    for name in sorted(reads.direct, key=_env_order):
        where = ", ".join(f"`{m}`" for m in sorted(reads.direct[name]))
        rows.append(f"| `{name}` | {where} | {ENVIRONMENT.get(name, '')} |")
    rows += [
        "",
        "Read through `urllib.request.getproxies()` and requests (lower-case spellings too):",
        "",
        "| variable | read by | meaning |",
        "|---|---|---|",
    ]
    for name in sorted(reads.indirect, key=_env_order):
        where = ", ".join(f"`{m}`" for m in sorted(reads.indirect[name]))
        rows.append(f"| `{name}` | {where} | {INDIRECT_DOCS.get(name, '')} |")
        if name not in INDIRECT_DOCS:
            log.warning("environment variable %s (read indirectly) is not documented", name)
    return "\n".join(rows)


def _env_order(name: str) -> tuple[int, int, str]:
    order = list(ENVIRONMENT) + list(INDIRECT_DOCS)
    return (0, order.index(name), name) if name in order else (1, 0, name)


# -- dataclasses -------------------------------------------------------------------------


def field_docs(cls: type) -> dict[str, str | None]:
    """Each annotated field of ``cls`` and the ``#:`` comment right above it (or ``None``)."""
    source = Path(inspect.getsourcefile(cls) or "").read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
            break
    else:
        raise LookupError(f"class {cls.__name__} not found in its source file")
    docs: dict[str, str | None] = {}
    for statement in node.body:
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            docs[statement.target.id] = _comment_above(lines, statement.lineno)
    return docs


def _comment_above(lines: list[str], lineno: int) -> str | None:
    comment: list[str] = []
    index = lineno - 2
    while index >= 0 and lines[index].lstrip().startswith("#:"):
        comment.insert(0, lines[index].lstrip()[2:].strip())
        index -= 1
    return " ".join(comment) or None


def _md(text: str) -> str:
    """reST-isms of the library's comments made Markdown, fit for a table cell."""
    text = re.sub(
        r":(?:class|meth|func|attr|mod|exc|data):`~?([^`<]+?)(?: <[^`]+>)?`", r"`\1`", text
    )
    text = text.replace("``", "`")
    # A pipe ends a table cell, except inside a code span (Python-Markdown's tables).
    parts = text.split("`")
    return "`".join(p if i % 2 else p.replace("|", "\\|") for i, p in enumerate(parts))


def _size(value: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= factor and value % factor == 0:
            return f'`"{value // factor}{unit}"` ({value:,} bytes)'
    return f"`{value}`"


def _default(field: dataclasses.Field[Any], size_fields: tuple[str, ...]) -> str:
    if field.default is dataclasses.MISSING:
        return "required"
    if field.name in size_fields and isinstance(field.default, int):
        return _size(field.default)
    return f"`{field.default!r}`"


def dataclass_table(
    cls: type,
    *,
    properties: bool = True,
    extra: Callable[[str], str] | None = None,
    extra_heading: str = "",
) -> str:
    """A table of ``cls``'s fields (and documented properties): name, type, default, doc."""
    from oss_resumable_fs.config import SIZE_FIELDS

    docs = field_docs(cls)
    head = "| field | type | default | description |"
    rule = "|---|---|---|---|"
    if extra is not None:
        head, rule = head + f" {extra_heading} |", rule + "---|"
    rows = [head, rule]
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        doc = docs.get(field.name)
        if not doc:
            log.warning("%s.%s has no #: comment to document it", cls.__name__, field.name)
        kind = f"`{field.type}`"
        if field.name in SIZE_FIELDS and cls.__name__ == "TransferConfig":
            kind += ', or a size: `"16MiB"`'
        row = f"| `{field.name}` | {kind} | {_default(field, SIZE_FIELDS)} | {_md(doc or '')} |"
        if extra is not None:
            row += f" {extra(field.name)} |"
        rows.append(row)
    if properties:
        for name, member in inspect.getmembers(cls, lambda m: isinstance(m, property)):
            if name.startswith("_") or not member.__doc__:
                continue
            kind = inspect.signature(member.fget).return_annotation
            first = _md(inspect.cleandoc(member.__doc__).split("\n\n")[0].replace("\n", " "))
            row = f"| `{name}` (property) | `{kind}` | computed | {first} |"
            if extra is not None:
                row += " |"
            rows.append(row)
    return "\n".join(rows)


# -- TransferConfig: where each option can be given ---------------------------------------


def _flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """``dest`` -> the long option of every optional argument of ``parser``."""
    return {
        action.dest: max(action.option_strings, key=len)
        for action in parser._actions
        if action.option_strings
    }


def _subparser(name: str) -> argparse.ArgumentParser:
    from oss_resumable_fs.cli.parser import build_parser

    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise LookupError(name)


def transfer_config_table() -> str:
    from oss_resumable_fs.config import TransferConfig

    cli = _flags(_subparser("get"))
    try:
        from oss_resumable_fs.magics.core import OSSMagics

        magic = _flags(OSSMagics.oss_get.parser)
    except ImportError:  # IPython not installed: no magics column
        magic = {}

    def where(name: str) -> str:
        places = []
        if name in cli:
            places.append(f"`oss-resumable get {cli[name]}`")
        if name in magic:
            places.append(f"`%oss_get {magic[name]}`")
        return ", ".join(places) or "-"

    return dataclass_table(
        TransferConfig, properties=False, extra=where, extra_heading="command line, magics"
    )


#: The constructor's own options (besides the TransferConfig fields), described.
CONSTRUCTOR: dict[str, str] = {
    "endpoint": "Endpoint URL, e.g. `https://oss-cn-hangzhou.aliyuncs.com` "
    "(`-internal` inside Alibaba Cloud). Default: `OSS_ENDPOINT`.",
    "key": "Access key id. Default: `OSS_ACCESS_KEY_ID`.",
    "secret": "Access key secret. Default: `OSS_ACCESS_KEY_SECRET`.",
    "token": "STS security token. Default: `OSS_SESSION_TOKEN`.",
    "anon": "Send unsigned requests (public-read buckets), whatever else is set.",
    "region": "Region such as `cn-hangzhou` (not `oss-cn-hangzhou`); selects V4 signatures. "
    "Default: `OSS_REGION`.",
    "credentials_provider": "An oss2 credentials provider (e.g. one that refreshes STS or "
    "ECS RAM-role credentials); replaces `key`/`secret`/`token`.",
    "transfer_config": "A whole `TransferConfig`; keyword options given beside it override "
    "its fields.",
    "file_concurrency": "How many small files a `get` fetches at once.",
    "batch_size": "fsspec's name for `file_concurrency`; wins when given.",
    "default_cache_type": 'Cache of files opened for reading (`"parallel-readahead"`, '
    "or one of fsspec's).",
    "default_block_size": "Block size of files opened for reading; default: the part size.",
    "use_listings_cache": "fsspec's listings cache, on or off.",
    "listings_expiry_time": "Seconds a cached listing is trusted (fsspec).",
    "max_paths": "How many directory listings the cache keeps (fsspec).",
}


def constructor_options() -> list[tuple[str, str]]:
    """The constructor's options besides TransferConfig fields: (name, default)."""
    from oss_resumable_fs import fs as fs_module

    signature = inspect.signature(fs_module.ResumableOSSFileSystem.__init__)
    names = [*fs_module._CONSTRUCTOR_OPTIONS]
    out = []
    for name in names:
        parameter = signature.parameters.get(name)
        if parameter is None or parameter.default is inspect.Parameter.empty:
            default = "fsspec's" if parameter is None else "required"
        else:
            default = f"`{parameter.default!r}`"
        out.append((name, default))
    return out


def constructor_table() -> str:
    rows = ["| option | default | description |", "|---|---|---|"]
    options = constructor_options()
    for name, default in options:
        if name not in CONSTRUCTOR:
            log.warning("constructor option %s is not documented", name)
        rows.append(f"| `{name}` | {default} | {CONSTRUCTOR.get(name, '')} |")
    for name in sorted(set(CONSTRUCTOR) - {n for n, _ in options}):
        log.warning("constructor option %s is documented but not accepted", name)
    return "\n".join(rows)


# -- results -----------------------------------------------------------------------------


def download_result_table() -> str:
    from oss_resumable_fs.engine.result import DownloadResult

    return dataclass_table(DownloadResult)


# -- the command line and the journal ------------------------------------------------------


@contextlib.contextmanager
def _columns(width: int) -> Iterator[None]:
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def cli_help(command: str | None = None) -> str:
    """``oss-resumable [COMMAND] --help``, as a text block."""
    from oss_resumable_fs.cli.parser import build_parser

    with _columns(88):
        if command == "serve":
            from oss_resumable_fs.testing.__main__ import build_parser as server_parser

            text = server_parser(prog="oss-resumable serve").format_help()
        else:
            parser = _subparser(command) if command else build_parser()
            text = parser.format_help()
    return f"```text\n{text.rstrip()}\n```"


def journal_constants() -> str:
    from oss_resumable_fs.engine import journal

    rows = [
        "| constant | value |",
        "|---|---|",
        f"| file name | `<destination>{journal.JOURNAL_SUFFIX}` |",
        f"| magic | `{journal.MAGIC!r}` |",
        f"| version | `{journal.VERSION}` |",
        f"| prefix (`struct`) | `{journal._PREFIX.format}`, {journal._PREFIX.size} bytes |",
        f"| header check (`struct`) | `{journal._HEADER_CHECK.format}`, "
        f"{journal._HEADER_CHECK.size} bytes |",
        f"| record (`struct`) | `{journal._RECORD.format}`, {journal.RECORD_SIZE} bytes |",
        f"| largest payload read | {journal._MAX_PAYLOAD:,} bytes |",
    ]
    return "\n".join(rows)


GENERATORS: dict[str, Callable[..., str]] = {
    "transfer-config": transfer_config_table,
    "constructor-options": constructor_table,
    "environment": environment_table,
    "download-result": download_result_table,
    "cli-help": cli_help,
    "journal-constants": journal_constants,
}


def expand(markdown: str, where: str = "") -> str:
    """``markdown`` with every ``<!-- generated: NAME [ARG] -->`` line replaced."""

    def replace(match: re.Match[str]) -> str:
        generator = GENERATORS.get(match["name"])
        if generator is None:
            log.warning("%s: unknown generated section %r", where, match["name"])
            return match[0]
        text = generator(match["arg"]) if match["arg"] else generator()
        return textwrap.indent(text, match["indent"])

    return _PLACEHOLDER.sub(replace, markdown)


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    return expand(markdown, page.file.src_uri)
