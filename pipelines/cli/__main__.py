"""``python -m attnops.cli``: the same as ``attnops``."""

import sys

from attnops.cli.main import main

sys.exit(main())
