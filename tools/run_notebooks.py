"""Execute the notebooks in notebooks/, in order, each in a fresh Jupyter kernel.

    python tools/run_notebooks.py            # full settings, check only: fails on the first cell error
    python tools/run_notebooks.py --write    # make notebooks: full settings, each notebook saved with its outputs
    python tools/run_notebooks.py --quick    # EZGAN_QUICK=1: every iteration count shrunk (what the tests run)
    python tools/run_notebooks.py 03 06      # only the notebooks whose names start with these

Every kernel starts in notebooks/ (as when Jupyter is opened there). Each notebook's setup cell
imports the installed package (``pip install -e .``, what ``make install`` does) and calls
``notebook.setup()``, which starts TensorFlow the one way the project does
(``ezgan.tfsetup.tensorflow()``: quiet, graph mode) and moves to the repository root. The kernel
is ``python3`` (``make install`` registers it inside the venv). Committed notebooks are always
full-settings runs, so ``--write`` refuses ``--quick``.
"""
import argparse
import os
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from ezgan.paths import REPO

NOTEBOOKS = REPO / "notebooks"
KERNEL = "python3"
QUICK_ENV = "EZGAN_QUICK"
FULL_TIMEOUT = 3600    # seconds per cell; notebook 6's training cell is the longest
QUICK_TIMEOUT = 600


def notebook_paths(prefixes=()):
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if prefixes:
        paths = [path for path in paths if path.name.startswith(tuple(prefixes))]
    return paths


def kernel_env(quick):
    """The kernel's environment: ours, with EZGAN_QUICK set or removed (TensorFlow's log level is
    the setup cell's business: ``ezgan.tfsetup``)."""
    env = {key: value for key, value in os.environ.items() if key != QUICK_ENV}
    if quick:
        env[QUICK_ENV] = "1"
    return env


def execute(nb, quick, timeout=None, kernel=KERNEL):
    """Run every cell of ``nb`` (a NotebookNode, changed in place) in a fresh kernel; returns it.

    Raises ``CellExecutionError`` (its message names the cell and shows the traceback) on the
    first cell that fails.
    """
    client = NotebookClient(nb, kernel_name=kernel, timeout=timeout or (QUICK_TIMEOUT if quick else FULL_TIMEOUT),
                            resources={"metadata": {"path": str(NOTEBOOKS)}}, record_timing=False,
                            allow_errors=False)
    client.execute(env=kernel_env(quick))
    return nb


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("only", nargs="*", help="run only the notebooks whose file names start with these")
    parser.add_argument("--write", action="store_true", help="save each executed notebook in place, outputs included")
    parser.add_argument("--quick", action="store_true", help=f"set {QUICK_ENV}=1: shrink every iteration count")
    parser.add_argument("--timeout", type=int, default=None,
                        help=f"seconds per cell (default {FULL_TIMEOUT}, {QUICK_TIMEOUT} with --quick)")
    parser.add_argument("--kernel", default=KERNEL, help="Jupyter kernel name")
    args = parser.parse_args(argv)
    if args.write and args.quick:
        parser.error("--write saves the committed notebooks, which are full-settings runs: drop --quick")
    paths = notebook_paths(args.only)
    if not paths:
        parser.error(f"no notebook in {NOTEBOOKS} matches {args.only or 'NN_*.ipynb'}")
    started = time.perf_counter()
    for path in paths:
        began = time.perf_counter()
        nb = nbformat.read(path, as_version=4)
        try:
            execute(nb, args.quick, args.timeout, args.kernel)
        except CellExecutionError as error:
            print(f"FAILED {path.relative_to(REPO)}:\n{error}", file=sys.stderr)
            return 1
        if args.write:
            nbformat.write(nb, path)
        print(f"{path.relative_to(REPO)}: ok in {time.perf_counter() - began:.0f} s"
              f"{' (written)' if args.write else ''}", flush=True)
    print(f"{len(paths)} notebooks in {time.perf_counter() - started:.0f} s"
          f"{' (quick setting)' if args.quick else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
