"""Shared pieces of the CLI: how a command ends (one line on stderr and an exit status),
warnings as one line, progress on stderr, argument checks, safe output folders.

Exit statuses: 0 success; 2 anything the user can fix (a :class:`~shapecorr.core.ShapecorrError`,
including :class:`CommandError`, or an operating-system error such as a missing file, no
permission or a full disk); 1 an internal error (a bug: one line naming a log file that holds
the traceback); 130 interrupted.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from ..core.errors import ShapecorrError, ShapecorrWarning

WARNING_PREFIX = "shapecorr: warning: "


class CommandError(ShapecorrError):
    """A user error in a command's arguments: printed as one line, exit status 2."""


# ----------------------------------------------------------------------------- how a command ends
def run_command(args) -> int:
    """Run ``args.func(args)``: warnings as one line each, user errors as one line and status
    2, internal errors as one line naming a log file with the traceback and status 1."""
    prog = f"shapecorr {args.command}"
    with one_line_warnings(), library_log_lines():
        try:
            return int(args.func(args) or 0)
        except ShapecorrError as exc:
            _error_line(prog, _one_line(str(exc)))
            return 2
        except MemoryError:
            _error_line(prog, "out of memory; try the 'fast' preset, a smaller --k or smaller shapes.")
            return 2
        except OSError as exc:
            _error_line(prog, os_error_message(exc))
            return 2
        except KeyboardInterrupt:
            print(f"{prog}: interrupted", file=sys.stderr)
            return 130
        except Exception as exc:  # a bug: say so, keep the traceback in a file
            log = write_crash_log(prog, getattr(args, "argv", sys.argv[1:]), exc)
            where = f"the traceback is in {log}" if log else "no log file could be written"
            print(f"{prog}: internal error: {type(exc).__name__}: {_one_line(str(exc))}; this is a bug in "
                  f"shapecorr, not in your input; {where}; please report it.", file=sys.stderr, flush=True)
            return 1


def _error_line(prog: str, message: str) -> None:
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def os_error_message(exc: OSError) -> str:
    """An operating-system error as one line: the path, what went wrong, what to do."""
    where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
    reason = exc.strerror or str(exc)
    advice = {
        errno.EACCES: "no permission; choose a folder you can write to (or fix its permissions).",
        errno.EPERM: "not permitted; choose a folder you can write to.",
        errno.EROFS: "read-only file system; choose a folder you can write to.",
        errno.ENOSPC: "the disk is full; free some space or choose a folder on another disk.",
        errno.EDQUOT: "disk quota exceeded; free some space or choose a folder on another disk.",
        errno.ENOENT: "no such file or folder; check the path.",
    }.get(exc.errno)
    return f"{where}{reason}" + (f" ({advice})" if advice else ".")


def crash_log_dir() -> Path:
    """Where internal-error logs go: ``logs/`` in shapecorr's cache folder."""
    from ..core.cache import default_cache_dir

    return default_cache_dir() / "logs"


def write_crash_log(prog: str, argv, exc: BaseException) -> Path | None:
    """Write the traceback of ``exc`` with the command and versions; returns the file (or None)."""
    import platform

    from .. import __version__

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    text = (f"{prog} {' '.join(map(str, argv))}\nshapecorr {__version__}, Python {platform.python_version()}, "
            f"{platform.platform()}\n\n" + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    for folder in (crash_log_dir(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"shapecorr-crash-{stamp}-{os.getpid()}.log"
            path.write_text(text)
            return path
        except OSError:
            continue
    return None


# ----------------------------------------------------------------------------- warnings, logging
@contextmanager
def one_line_warnings(stream=None):
    """Within the block, shapecorr's warnings print as ``shapecorr: warning: MESSAGE`` (once
    per message, never with a source line); other libraries' warnings are not shown (they go
    to the ``shapecorr.cli`` logger at debug level)."""
    shown: set[str] = set()
    debug = logging.getLogger("shapecorr.cli").debug

    def show(message, category, filename, lineno, file=None, line=None):
        text = _one_line(str(message))
        if issubclass(category, ShapecorrWarning):
            if text not in shown:
                shown.add(text)
                print(WARNING_PREFIX + text, file=stream or sys.stderr, flush=True)
        else:
            debug("%s: %s (%s:%s)", category.__name__, text, filename, lineno)

    with warnings.catch_warnings():
        warnings.simplefilter("always", ShapecorrWarning)
        warnings.showwarning = show
        yield


class _OneLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"shapecorr: {record.levelname.lower()}: {_one_line(record.getMessage())}"


@contextmanager
def library_log_lines():
    """Within the block, shapecorr's log records of level WARNING and above print as one line
    ``shapecorr: warning: ...`` on stderr."""
    handler = logging.StreamHandler()
    handler.setFormatter(_OneLineFormatter())
    handler.setLevel(logging.WARNING)
    logger = logging.getLogger("shapecorr")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


# ----------------------------------------------------------------------------- progress
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


# ----------------------------------------------------------------------------- arguments
def check_input_file(path: str | None, what: str) -> Path | None:
    """An input file given on the command line exists and is a file (``what`` names the argument)."""
    if path is None:
        return None
    p = Path(path)
    if not p.exists():
        raise CommandError(f"{what} {path}: no such file.")
    if p.is_dir():
        raise CommandError(f"{what} {path}: is a folder; give a file.")
    return p


def check_output_folder(out: Path, what: str = "--out") -> None:
    """``out`` can be a folder: it is one or does not exist yet, and its nearest existing
    parent is a folder. (Whether it can be written is found by :func:`atomic_output_dir`,
    which creates its temporary folder there before any work.)"""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CommandError(f"{what} {out} exists and is not a folder; give a folder (it is created if needed).")
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise CommandError(f"{what} {out}: {parent} is a file, so the folder cannot be created there.")


def check_not_inputs(out: Path, names, inputs, what: str = "--out") -> None:
    """None of the output files ``out/NAME`` is one of the ``inputs`` (never overwrite them)."""
    protected = {Path(p).resolve() for p in inputs if p is not None}
    for name in names:
        if (Path(out) / name).resolve() in protected:
            raise CommandError(f"{what} {out}: writing {name} there would overwrite an input file; "
                               "choose another output folder.")


#: the --device help of the commands that match: where the work runs, and when CUDA pays
DEVICE_HELP = ("where the features, maps and refinement run (eigenbases: always on the CPU); on a "
               "measured H200 the CPU was faster for matching, CUDA pays for train and splats (default: cpu)")


def check_device(device: str) -> None:
    """``--device cuda`` needs a CUDA device visible to torch (:func:`shapecorr.core.check_device`)."""
    from ..core import SettingsError
    from ..core import check_device as check

    try:
        check(device, "--device")
    except SettingsError as exc:
        raise CommandError(str(exc)) from exc


def load_shape_arg(path: str, what: str, *, strict: bool = False):
    """Load a shape given on the command line (errors name the file and the argument)."""
    from ..core import load

    check_input_file(path, what)
    return load(Path(path), strict=strict)


# ----------------------------------------------------------------------------- output
@contextmanager
def atomic_output_dir(out: Path, what: str = "--out"):
    """Reserve a temporary folder beside ``out`` now, let the command write its outputs there,
    then move them into ``out``.

    Enter it *before* the work: a folder that cannot be written fails at once (no permission,
    a read-only disk) instead of after a long computation. If the command fails, nothing is
    left in ``out`` (and a folder that did not exist is not created), so a half-written result
    never looks complete. Files in ``out`` that the command does not produce are left alone;
    produced files replace older ones.
    """
    out = Path(out)
    check_output_folder(out, what)
    base = out.absolute().parent
    while not base.exists():  # the temporary folder goes into the nearest existing parent:
        base = base.parent    # a failed command creates no folders
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=base))
    try:
        yield tmp
        out.mkdir(parents=True, exist_ok=True)
        for item in sorted(tmp.iterdir()):
            dest = out / item.name
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            shutil.move(str(item), str(dest))  # a rename within one file system
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def add_landmarks_argument(parser, *, new_match: bool = False) -> None:
    """``--landmarks FILE``: vertex pairs known to correspond, for the match the command makes."""
    parser.add_argument("--landmarks", metavar="FILE",
                        help=("the match made here (not with --map) " if new_match else "")
                        + "vertex pairs known to correspond (0-based source and target vertex): JSON "
                          '{"pairs": [[i, j], ...]} or two integers per line; three or more spread over the shapes '
                          "(nose, tail tip, paws) settle the parts a map between shapes far from isometric swaps "
                          "(a cat and a dog); each pair is held exactly")


def read_landmarks_arg(path: str | None):
    """The ``--landmarks`` file's pairs (None without the flag), read before any work."""
    if path is None:
        return None
    from ..core.indices import read_landmarks

    try:
        return read_landmarks(path)
    except ShapecorrError as exc:
        raise CommandError(f"--landmarks {exc}") from None


def landmarks_for(pairs, path: str | None, source, target):
    """The ``--landmarks`` pairs checked against the loaded shapes (a wrong index names the file)."""
    if pairs is None:
        return None
    from ..fmap.landmarks import check_landmarks

    try:
        return check_landmarks(pairs, source.n_vertices, target.n_vertices)
    except ShapecorrError as exc:
        raise CommandError(f"--landmarks {path}: {exc}".replace(": landmarks: ", ": ")) from None


def match_or_saved(saved, source, target, settings, *, device: str, progress, map_dir=None, landmarks=None):
    """The saved match of ``--map`` (``saved``, already checked against the shapes), or a new
    match of ``source`` and ``target`` with ``settings`` (and ``landmarks``), its stages shown
    by ``progress``."""
    if saved is not None:
        from ..pipeline import warn_if_not_trusted

        progress(f"loaded match {map_dir}")
        warn_if_not_trusted(saved.info, saved.source_summary.get("name", "source"),
                            saved.target_summary.get("name", "target"), prefix=f"the saved match {map_dir}: ")
        return saved
    from ..pipeline import match

    return match(source, target, settings, device=device, landmarks=landmarks,
                 progress=lambda stage, frac: progress(f"match: {stage}", frac))


def trust_note(info: dict, what: str = "the match") -> str:
    """What the last line of a command that used a match adds when that match is not trusted
    (its warning came before the progress lines and has scrolled away by then); "" otherwise."""
    c = info.get("confidence")
    if not info.get("confidence_low") or c is None:
        return ""
    return f"; {what} is not trusted (confidence {c:.2f}; see the warning above)"


def add_up_argument(parser) -> None:
    """``--up AXIS``: the shapes' up axis in the pictures a command draws."""
    from ..core.raster import UP_AXES

    parser.add_argument("--up", default="y", type=_up_axis, metavar="AXIS",
                        help=f"the shapes' up axis in pictures, one of {', '.join(UP_AXES)} (TOSCA and many "
                             "scanners: z; default: %(default)s)")


def _up_axis(text: str) -> str:
    import argparse

    from ..core.raster import up_axis_name

    try:
        return up_axis_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_register_proxy_argument(parser) -> None:
    """``--register-proxy-size N`` of the commands whose ``--method register`` deforms a mesh."""
    from ..deform.precise import REGISTER_FINISH_UP_TO, REGISTER_FULL_UP_TO, REGISTER_PROXY_SIZE

    parser.add_argument("--register-proxy-size", type=_proxy_size, default=REGISTER_PROXY_SIZE, metavar="N",
                        help=f"--method register on a pair with a shape above {REGISTER_FULL_UP_TO} vertices: "
                             "register decimated proxies of about N vertices, every vertex following its "
                             "proxy, then fit the last stage at full resolution (for a source of at most "
                             f"{REGISTER_FINISH_UP_TO} vertices): seconds instead of minutes at 30k+ "
                             "vertices, and more precise in the benchmark; 0: at full resolution "
                             "(default: %(default)s)")


def register_proxy_size(args) -> int | None:
    """The ``register_proxy_size`` of :func:`shapecorr.deform.precise.precise_map` from the flag."""
    return args.register_proxy_size or None


def register_report(args, source, target) -> dict:
    """The report's entries on ``--method register``'s proxies: ``register_proxy_vertices`` (N, or
    None: full resolution) and ``register_finished_at_full_resolution``; empty for the other
    methods."""
    if args.method != "register":
        return {}
    from ..deform.precise import register_plan

    proxies, finish = register_plan(source, target, proxy_size=register_proxy_size(args))
    return {"register_proxy_vertices": proxies, "register_finished_at_full_resolution": finish}


def _proxy_size(text: str) -> int:
    import argparse

    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of vertices, got {text!r}") from None
    if n != 0 and n < 100:
        raise argparse.ArgumentTypeError(f"a proxy needs at least 100 vertices (or 0 for full resolution), got {n}")
    return n
