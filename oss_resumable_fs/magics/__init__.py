"""IPython / Jupyter magics: ``%load_ext oss_resumable_fs``.

=================================  ===========================================================
``%oss_get URL DEST``              download (``-r`` a prefix, as ``oss-resumable get`` does,
                                   ``--include`` / ``--exclude``); skips identical files
                                   unless ``--force``; progress bar; Ctrl-C, then run again
                                   to resume
``%oss_ls URL``                    a DataFrame of a bucket or prefix
``%oss_info URL``                  one object's size, ETag, CRC-64, storage class, date
``%oss_status [DIR]``              unfinished downloads below DIR and how far they got
``%oss_clean [DIR] [--yes]``       remove their partial / journal / lock files (files no
                                   journal describes only with ``--orphans``)
``%oss_config``                    endpoint, region, credentials, transfer defaults
=================================  ===========================================================

Append ``?`` to any of them for its options. A failure fails the cell and
prints one line, ``ERROR: <message>``, on stderr (no traceback).
"""

from __future__ import annotations

from typing import Any

from oss_resumable_fs.magics.core import OSSMagics
from oss_resumable_fs.magics.reporting import Interrupted, MagicError, install_reporting

__all__ = ["Interrupted", "MagicError", "OSSMagics", "load_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    """Register the ``%oss_*`` magics with ``ipython``, and their one-line failures."""
    install_reporting(ipython)
    ipython.register_magics(OSSMagics(ipython))
