"""``python -m apps.viewer [SOURCE [TARGET]] [--map DIR] ...``: the same as ``shapecorr view`` (this
entry point hands its arguments to the CLI, which opens the viewer; nothing else imports it)."""

import sys

from shapecorr.cli import main

sys.exit(main(["view", *sys.argv[1:]]))
