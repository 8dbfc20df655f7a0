"""The ``%oss_*`` line magics: their arguments (and so their help), each a thin call."""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from oss_resumable_fs.errors import InvalidArgumentError
from oss_resumable_fs.magics import listing, transfers, unfinished
from oss_resumable_fs.magics.reporting import command, size_argument
from oss_resumable_fs.magics.session import PROGRESS, SECRETS, MagicSession

__all__ = ["OSSMagics"]

#: ``--key-secret`` / ``--token`` given without a value: ask for it, unechoed.
PROMPT = object()


@magics_class
class OSSMagics(Magics):
    """The ``%oss_*`` magics of one IPython session, and that session's settings."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.session = MagicSession()
        #: The running cell as typed (before $name expansion), to see secrets typed in it.
        self._cell: str | None = None
        events = getattr(shell, "events", None)
        if events is not None:
            events.register("pre_run_cell", self._cell_starts)
            events.register("post_run_cell", self._cell_ends)

    def __repr__(self) -> str:
        return f"OSSMagics({self.session!r})"

    def secrets(self) -> tuple[str, ...]:
        """The session's secret values, masked in every message."""
        settings = self.session.settings
        return tuple(v for v in (settings.key_id, settings.key_secret, settings.token) if v)

    @line_magic
    @command()
    @magic_arguments()
    @argument("url", metavar="URL", help="oss://bucket/key (or ossr://), or a prefix with -r")
    @argument("dest", metavar="DEST", help="local file, or a directory to download into")
    @argument("-r", "--recursive", action="store_true", help="download everything under a prefix")
    @argument(
        "--include",
        metavar="GLOB",
        action="append",
        default=[],
        help="with -r: only keys matching GLOB (repeatable; as oss-resumable get --help says)",
    )
    @argument(
        "--exclude",
        metavar="GLOB",
        action="append",
        default=[],
        help="with -r: not keys matching GLOB (repeatable)",
    )
    @argument(
        "--force",
        action="store_true",
        help="download even files already there (by default a local file with the same "
        "size and CRC-64 is skipped)",
    )
    @argument("--part-size", type=size_argument, metavar="SIZE", help="e.g. 16MiB")
    @argument("--concurrency", type=int, metavar="N", help="connections per object")
    @argument("--checkpoint-dir", metavar="DIR", help="where journals live (default: beside DEST)")
    @argument("-o", "--output", metavar="VAR", help="store the result in variable VAR")
    @argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")
    def oss_get(self, args: argparse.Namespace) -> None:
        """Download an object from OSS: parallel parts, resumable, verified (CRC-64).

        Shows a progress bar, then one line saying what happened. Interrupt the
        kernel to stop; run the cell again to resume where it stopped. $name and
        {expression} are replaced with Python values, as in every line magic.

        With -r (implied by a URL ending in / or holding a wildcard), DEST
        receives what is under the prefix, whether or not the URL ends in / and
        whether or not DEST exists yet (as rclone copy and oss-resumable get do):
        run again, the same cell finds every file where it put it, and skips it.
        --include / --exclude select keys by their path below the prefix
        (*.csv, 2024/**, tmp/ ...; the rules of oss-resumable get --help).

        Examples::

            %oss_get oss://my-bucket/data/big.parquet ./big.parquet
            %oss_get -r oss://my-bucket/data ./data -o result
            %oss_get -r oss://my-bucket/data ./data --include '*.csv' --exclude 'tmp/'
        """
        result = transfers.get(self.session, args)
        if args.output is not None:
            self.shell.user_ns[args.output] = result

    @line_magic
    @command()
    @magic_arguments()
    @argument("url", metavar="URL", help="oss://bucket/prefix/, oss://bucket, or oss:// (buckets)")
    def oss_ls(self, args: argparse.Namespace) -> Any:
        """List a bucket or prefix: name, type, size, last_modified, storage_class, etag.

        Returns a pandas DataFrame (prints a table when pandas is not installed).
        """
        return listing.ls(self.session.filesystem(), args.url)

    @line_magic
    @command()
    @magic_arguments()
    @argument("url", metavar="URL", help="oss://bucket/key")
    def oss_info(self, args: argparse.Namespace) -> Any:
        """One object's size, ETag, CRC-64, storage class and last-modified time, as a dict."""
        return listing.info(self.session.filesystem(), args.url)

    @line_magic
    @command()
    @magic_arguments()
    @argument("directory", metavar="DIR", nargs="?", default=".", help="default: .")
    @argument("--checkpoint-dir", metavar="DIR", help="also look at the journals kept there")
    @argument("-v", "--verbose", action="store_true", help="also each job's unfinished files")
    def oss_status(self, args: argparse.Namespace) -> None:
        """Unfinished downloads below DIR (default: .), and how far each got.

        An unfinished get of many files is one line (files done, partial,
        failed; bytes); -v lists its partial and failed files. Then the partial
        and lock files no journal found describes (as oss-resumable status lists
        them): their journal may be in a checkpoint directory not looked at
        (pass --checkpoint-dir), or they are no download's.
        """
        dirs = self._checkpoint_dirs(args)
        print(unfinished.status(args.directory, dirs, verbose=args.verbose))

    @line_magic
    @command()
    @magic_arguments()
    @argument("directory", metavar="DIR", nargs="?", default=".", help="default: .")
    @argument("--yes", action="store_true", help="remove them (without it: only list them)")
    @argument(
        "--orphans",
        action="store_true",
        help="also remove partial and lock files that no journal found describes",
    )
    @argument("--checkpoint-dir", metavar="DIR", help="also look at the journals kept there")
    def oss_clean(self, args: argparse.Namespace) -> None:
        """Remove the partial, journal and lock files of unfinished downloads below DIR.

        Without --yes, only lists what would be removed. Downloads running now are
        left alone. Only files a readable journal describes are removed: a
        partial or lock file without one is left alone unless --orphans is
        given, since its journal may be in a checkpoint directory not looked at
        (pass --checkpoint-dir), and the partial its download's progress.
        """
        dirs = self._checkpoint_dirs(args)
        print(unfinished.clean(args.directory, dirs, yes=args.yes, orphans=args.orphans))

    def _checkpoint_dirs(self, args: argparse.Namespace) -> list[str]:
        return [d for d in (args.checkpoint_dir, self.session.settings.checkpoint_dir) if d]

    @line_magic
    @command(secret_values=True)
    @magic_arguments()
    @argument("--endpoint", metavar="URL", help="e.g. https://oss-cn-hangzhou.aliyuncs.com")
    @argument("--region", help="e.g. cn-hangzhou (selects V4 signatures)")
    @argument("--key-id", metavar="ID", help="access key id")
    @argument(
        "--key-secret",
        metavar="SECRET",
        nargs="?",
        const=PROMPT,
        help="access key secret: give it no value to be asked for it (not echoed); "
        "a value typed here stays in the notebook and its history",
    )
    @argument(
        "--token",
        metavar="TOKEN",
        nargs="?",
        const=PROMPT,
        help="STS security token: give it no value to be asked for it (not echoed)",
    )
    @argument("--anon", action="store_true", default=None, help="unsigned requests")
    @argument("--part-size", type=size_argument, metavar="SIZE", help="default for %%oss_get")
    @argument("--concurrency", type=int, metavar="N", help="default for %%oss_get")
    @argument("--checkpoint-dir", metavar="DIR", help="default for %%oss_get")
    @argument("--progress", choices=PROGRESS, help="auto: a widget in notebooks, text elsewhere")
    @argument("--reset", action="store_true", help="forget what was set (back to OSS_* variables)")
    def oss_config(self, args: argparse.Namespace) -> None:
        """Set the session's endpoint, region, credentials and transfer defaults; show them.

        Without options, shows the settings (secrets masked). Whatever is not set
        falls back to OSS_ENDPOINT, OSS_REGION, OSS_ACCESS_KEY_ID,
        OSS_ACCESS_KEY_SECRET and OSS_SESSION_TOKEN. Keep secrets out of the
        notebook: set those variables before starting Jupyter, or let it ask
        (--key-secret or --token without a value). A secret typed into a cell
        is saved with the notebook and in IPython's history (a warning says
        so), and so is one assigned to a variable in another cell.

        $name and {expression} are replaced with Python values; when one of
        them cannot be, IPython passes the whole line on as typed, and a value
        still starting with $ is refused.

        Examples::

            %oss_config --endpoint https://oss-cn-hangzhou.aliyuncs.com --region cn-hangzhou
            %oss_config --key-id LTAI5tExampleKeyId --key-secret
        """
        changes = {name: getattr(args, name) for name in _CONFIG_FIELDS}
        _refuse_unexpanded(changes, self.shell.user_ns if self.shell is not None else {})
        self._warn_of_typed_secrets(changes)
        for name in SECRETS:
            if changes[name] is PROMPT:
                label = "OSS access key secret" if name == "key_secret" else "OSS security token"
                try:
                    changes[name] = getpass.getpass(f"{label}: ")
                except EOFError:  # no terminal, no frontend to ask through
                    raise ValueError(f"no {label} given (nothing to read it from)") from None
        self.session.configure(reset=args.reset, **changes)
        print(self.session.settings.table())

    def _warn_of_typed_secrets(self, changes: dict[str, Any]) -> None:
        """One line on stderr when a secret's value is in the cell as typed (not from $name)."""
        cell = self._cell or ""
        typed = [
            _OPTIONS[name]
            for name in SECRETS
            if isinstance(value := changes[name], str) and len(value) >= 4 and value in cell
        ]
        if typed:
            print(
                f"WARNING: the {' and '.join(typed)} value typed in this cell is now in the "
                "notebook and in IPython's history; prefer --key-secret / --token without "
                "a value (asked for, not echoed) or the OSS_ACCESS_KEY_SECRET / "
                "OSS_SESSION_TOKEN environment variables.",
                file=sys.stderr,
            )

    def _cell_starts(self, info: Any) -> None:
        self._cell = getattr(info, "raw_cell", None)

    def _cell_ends(self, result: Any = None) -> None:
        self._cell = None


_CONFIG_FIELDS = (
    "endpoint",
    "region",
    "key_id",
    "key_secret",
    "token",
    "anon",
    "part_size",
    "concurrency",
    "checkpoint_dir",
    "progress",
)
#: Each setting's option, for messages.
_OPTIONS = {name: "--" + name.replace("_", "-") for name in _CONFIG_FIELDS}
_VARIABLE = re.compile(r"\$\{?([A-Za-z_]\w*)")


def _refuse_unexpanded(changes: dict[str, Any], namespace: dict[str, Any]) -> None:
    """Refuse a value still starting with ``$``: a variable IPython could not replace.

    IPython passes a line on as typed when one ``$name`` (or ``{expression}``)
    in it fails, so every ``$`` is still there; the undefined names are the
    ones named (those the user namespace lacks), else every such value.
    """
    values = [v for v in changes.values() if isinstance(v, str) and v.startswith("$")]
    if not values:
        return
    undefined = [v for v in values if (m := _VARIABLE.match(v)) is None or m[1] not in namespace]
    named = undefined or values
    verb = "was" if len(named) == 1 else "were"
    raise InvalidArgumentError(
        f"{', '.join(named)} {verb} not expanded: is the variable defined? (IPython passes "
        "a line on as typed when a $name in it is not defined)"
    )
