"""``python -m shapecorr.cli`` is the ``shapecorr`` command (as is ``python -m shapecorr``)."""

import sys

from . import main

sys.exit(main())
