"""``python -m criticlab.bench``: see :mod:`criticlab.bench.cli`."""

import sys

from criticlab.bench.cli import main

sys.exit(main())
