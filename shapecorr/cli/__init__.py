"""The ``shapecorr`` command: match, eval, transfer, view, bench.

Each subcommand lives in its own module exposing ``register(subparsers)``; heavy imports
happen inside the commands so that ``shapecorr --help`` is instant. Bad input prints one
clear line on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("match_cmd", "eval_cmd", "transfer_cmd", "view_cmd")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="shapecorr",
        description="Dense correspondence between deformable 3D shapes (meshes and point clouds), "
                    "and what to do with it: evaluate, transfer textures, view.",
        epilog="Run `shapecorr COMMAND --help` for the options of a command.")
    parser.add_argument("--version", action="version", version=f"shapecorr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            continue
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
