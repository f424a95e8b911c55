"""``python -m laminar.cli``: the ``laminar`` command."""

import sys

from laminar.cli import main

sys.exit(main())
