"""``python -m shapecorr`` is the ``shapecorr`` command."""

import sys

from .cli import main

sys.exit(main())
