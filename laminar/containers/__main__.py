"""``python -m laminar.containers DIR``: run the one task written in ``DIR`` (inside a container)."""

import sys

from laminar.containers.entry import main

sys.exit(main(sys.argv[1:]))
