"""``python -m pipelines.cli``: the same as ``attnops``."""

import sys

from pipelines.cli.main import main

sys.exit(main())
