"""``python -m attnops.pipelines.cli``: the same as ``attnops``."""

import sys

from attnops.pipelines.cli.main import main

sys.exit(main())
