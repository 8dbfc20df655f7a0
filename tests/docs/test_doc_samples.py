"""The docs' samples: each one runs (collected beside this file, see conftest.py), and
none escapes: every fence is a known language, and samples not run are few and say why."""

from __future__ import annotations

import pytest
from doc_runners import DOCS, NOT_CODE, RUN, RUN_WITH_TITLE, console_steps, fences, pages, skips

#: Samples that cannot run here (a real cluster, pip install, make demo ...). Each
#: says why in the page's source; keep this small.
MAX_NOT_RUN = 10


def test_every_fence_is_known() -> None:
    """A fence without a language, or with one the runner does not know, would not run."""
    unknown = [
        f"{page.relative_to(DOCS)}:{line}: {info or '(none)'}"
        for page in pages()
        for line, info in fences(page.read_text(encoding="utf-8"))
        if info not in RUN + NOT_CODE and not RUN_WITH_TITLE.match(info)
    ]
    assert not unknown, "fences neither run nor declared output:\n" + "\n".join(unknown)


def test_samples_not_run_are_few_and_say_why() -> None:
    not_run = []
    for page in pages():
        for action, reason in skips(page.read_text(encoding="utf-8")):
            where = page.relative_to(DOCS)
            assert action in ("next", "start", "end"), f"{where}: skip: {action}"
            if action == "end":
                continue
            assert reason.startswith('"') and len(reason) > 12, (
                f'{where}: "skip: {action}" needs a reason a reader understands: {reason!r}'
            )
            not_run.append(f"{where}: {reason}")
    assert len(not_run) <= MAX_NOT_RUN, "\n".join(not_run)


def test_the_pages_have_samples() -> None:
    """Most pages show code, and most of it runs."""
    counts = {
        page.relative_to(DOCS).as_posix(): sum(
            info in RUN or bool(RUN_WITH_TITLE.match(info))
            for _, info in fences(page.read_text(encoding="utf-8"))
        )
        for page in pages()
    }
    assert sum(counts.values()) >= 60, counts


@pytest.mark.parametrize(
    ("source", "steps"),
    [
        ("$ echo a\na\n", [("echo a", "a")]),
        ("$ echo a \\\n  b\na b\n$ true\n", [("echo a \\\n  b", "a b"), ("true", "")]),
    ],
)
def test_console_steps(source: str, steps: list[tuple[str, str]]) -> None:
    assert console_steps(source) == steps
