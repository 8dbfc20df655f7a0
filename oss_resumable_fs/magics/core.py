"""The ``%oss_*`` line magics: their arguments (and so their help), each a thin call."""

from __future__ import annotations

import argparse
import getpass
from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

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

        Examples::

            %oss_get oss://my-bucket/data/big.parquet ./big.parquet
            %oss_get -r oss://my-bucket/data/ ./data/ -o result
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
    def oss_status(self, args: argparse.Namespace) -> None:
        """Unfinished downloads below DIR (default: .), and how far each got."""
        print(unfinished.status(args.directory, self._checkpoint_dirs(args)))

    @line_magic
    @command()
    @magic_arguments()
    @argument("directory", metavar="DIR", nargs="?", default=".", help="default: .")
    @argument("--yes", action="store_true", help="remove them (without it: only list them)")
    @argument("--checkpoint-dir", metavar="DIR", help="also look at the journals kept there")
    def oss_clean(self, args: argparse.Namespace) -> None:
        """Remove the partial, journal and lock files of unfinished downloads below DIR.

        Without --yes, only lists what would be removed. Downloads running now are
        left alone.
        """
        print(unfinished.clean(args.directory, self._checkpoint_dirs(args), yes=args.yes))

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
        help="access key secret; without a value, asked for (not echoed)",
    )
    @argument(
        "--token",
        metavar="TOKEN",
        nargs="?",
        const=PROMPT,
        help="STS security token; without a value, asked for (not echoed)",
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
        notebook: pass a variable (--key-secret $secret) or let it ask
        (--key-secret without a value).

        Examples::

            %oss_config --endpoint https://oss-cn-hangzhou.aliyuncs.com --region cn-hangzhou
            %oss_config --key-id $key_id --key-secret
        """
        changes = {name: getattr(args, name) for name in _CONFIG_FIELDS}
        for name in SECRETS:
            if changes[name] is PROMPT:
                label = "OSS access key secret" if name == "key_secret" else "OSS security token"
                try:
                    changes[name] = getpass.getpass(f"{label}: ")
                except EOFError:  # no terminal, no frontend to ask through
                    raise ValueError(f"no {label} given (nothing to read it from)") from None
        self.session.configure(reset=args.reset, **changes)
        print(self.session.settings.table())


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
