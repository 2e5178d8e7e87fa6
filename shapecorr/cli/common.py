"""Shared pieces of the CLI: error handling, progress on stderr, safe output folders."""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path


class CommandError(Exception):
    """A user error in a command: printed as one line, exit status 2."""


def run_command(args) -> int:
    """Run ``args.func(args)``; user errors become one line on stderr and status 2."""
    from ..core import ShapecorrError

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        rc = args.func(args)
        return int(rc or 0)
    except (CommandError, ShapecorrError, FileNotFoundError, FileExistsError, ValueError) as exc:
        print(f"shapecorr {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"shapecorr {args.command}: interrupted", file=sys.stderr)
        return 130


class Progress:
    """Per-stage progress lines on stderr (silent with ``quiet``)."""

    def __init__(self, quiet: bool = False, prefix: str = "shapecorr"):
        self.quiet = quiet
        self.prefix = prefix
        self.t0 = time.perf_counter()

    def __call__(self, stage: str, fraction: float | None = None) -> None:
        if self.quiet:
            return
        pct = "" if fraction is None else f"[{int(round(100 * fraction)):3d}%] "
        print(f"{self.prefix}: {pct}{stage} ({time.perf_counter() - self.t0:.2f}s)", file=sys.stderr,
              flush=True)


@contextmanager
def atomic_output_dir(out: Path, overwrite_files: tuple[str, ...] = ()):
    """Write a command's outputs into a temporary folder beside ``out``, then move them in.

    If the command fails, nothing is left in ``out`` (and a folder that did not exist is not
    created), so a half-written result never looks complete. Existing files in ``out`` that
    the command does not produce are left untouched; produced files replace older ones.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CommandError(f"--out {out} exists and is not a folder.")
    parent = out.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=parent))
    try:
        yield tmp
        out.mkdir(parents=True, exist_ok=True)
        for item in tmp.iterdir():
            dest = out / item.name
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            item.replace(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_shape_arg(path: str, what: str):
    """Load a shape given on the command line (errors name the file and the argument)."""
    from ..core import load

    p = Path(path)
    if not p.exists():
        raise CommandError(f"{what} {path}: no such file.")
    return load(p)
