"""The ``shapecorr`` command: match, eval, transfer, view.

Each subcommand lives in its own module exposing ``register(subparsers)``; heavy imports
happen inside the commands. How a command ends (one line on stderr, exit status 2 for what
the user can fix, 1 with a log file for a bug) is decided in :func:`.common.run_command`.
"""

from __future__ import annotations

import argparse
import sys

from . import deform_cmd
from . import collection_cmd
from . import eval_cmd
from . import match_cmd
from . import morph_cmd
from . import train_cmd
from . import transfer_cmd
from . import view_cmd
from . import prior_cmd
from . import splat_cmd

COMMANDS = (
    match_cmd,
    eval_cmd,
    train_cmd,
    transfer_cmd,
    morph_cmd,
    deform_cmd,
    view_cmd,
    collection_cmd,
    prior_cmd,
    splat_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="shapecorr",
        description="Dense correspondence between deformable 3D shapes (meshes and point clouds), "
                    "and what to do with it: evaluate, transfer textures, view.",
        epilog="Run `shapecorr COMMAND --help` for the options of a command.")
    parser.add_argument("--version", action="version", version=f"shapecorr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv=None) -> int:
    from .common import run_command

    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    return run_command(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
