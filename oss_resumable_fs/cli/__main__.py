"""``python -m oss_resumable_fs.cli``: the same as the ``oss-resumable`` console script."""

import sys

from oss_resumable_fs.cli import main

sys.exit(main())
