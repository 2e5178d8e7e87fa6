"""``python -m apps.viewer [SOURCE [TARGET]] [--map DIR] ...`` (same options as ``shapecorr view``)."""

import sys

from .app import main

sys.exit(main())
