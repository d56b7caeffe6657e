"""The files around a training run: the run folder's lock, a fresh start, a diverged loss.

* ``open_run_folder``: ``ezgan train`` holds an exclusive lock on ``CHECKPOINT_DIR/.lock`` (the
  kernel's ``flock``, released when the process ends, however it ends) for the whole run; a
  second run on the same folder is refused. The lock file holds the pid of the run while it runs,
  and is emptied when the run ends: a pid left in it is a run that was killed. A fresh run
  refuses a folder that holds a run unless told to overwrite it, and then deletes only the files
  a run writes.
* ``check_finite``: a loss that is NaN or infinite stops training before it is saved.
"""
import contextlib
import fcntl
import os
import pathlib
import shutil

import numpy as np

from ezgan.runs.checkpoints import GRIDS, MODEL_CHECKPOINT, MODEL_INDEX, TRAIN_CHECKPOINT, remove_partial_saves
from ezgan.runs.state import MILESTONES, RUN_STATE, RunState
from ezgan.errors import EzganError, TrainingDiverged
from ezgan.runs.outputs import process_alive

LOCK = ".lock"


def _lock(directory):
    """The open, exclusively locked ``.lock`` file of ``directory``, our pid written in it."""
    directory.mkdir(parents=True, exist_ok=True)
    lock = open(directory / LOCK, "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "unknown"
        lock.close()
        raise EzganError(f"{directory}: another training run (pid {holder}) is using this folder; "
                         f"wait for it to end or give another --checkpoint-dir") from None
    lock.seek(0)
    previous = lock.read().strip()
    if previous.isdigit() and int(previous) != os.getpid() and not process_alive(int(previous)):
        print(f"{directory}: taking over the lock of pid {previous}, which is no longer running")
    lock.truncate(0)
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    return lock


def run_files(directory):
    """The files and folders of ``directory`` that a training run writes (nothing else)."""
    names = [f"{TRAIN_CHECKPOINT}-*", f"{MODEL_CHECKPOINT}-*", "checkpoint", MODEL_INDEX, RUN_STATE, "*.tempstate*"]
    return sorted({path for name in names for path in directory.glob(name)}
                  | {directory / name for name in (MILESTONES, GRIDS) if (directory / name).exists()})


@contextlib.contextmanager
def open_run_folder(directory, resume=False, overwrite=False):
    """Hold ``directory``'s lock while the block runs; before it, clear leftovers and check a fresh start.

    A fresh run (not ``resume``) in a folder holding a run is refused, or with ``overwrite`` the
    old run's files are deleted. ``directory=None`` (no checkpoints): nothing to do.
    """
    if directory is None:
        yield
        return
    directory = pathlib.Path(directory)
    if resume and not directory.is_dir():
        RunState.load(directory)   # no run to resume: say so before the lock creates the folder
    lock = _lock(directory)
    try:
        remove_partial_saves(directory)   # of a Saver killed while writing
        old = run_files(directory)
        if old and not resume:
            if not overwrite:
                step = RunState.read(directory).step if (directory / RUN_STATE).exists() else "?"
                raise EzganError(f"{directory} holds a run (step {step}); use --resume to continue it or "
                                 f"--overwrite to start again")
            for path in old:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        yield
    finally:
        lock.truncate(0)   # released: the next run has no pid to take the lock over from, so it says nothing
        lock.close()


def check_finite_weights(where, names, finite):
    """Raise ``TrainingDiverged`` if any variable is not finite: ``finite`` holds one flag per name.

    The losses alone can miss it: some CPU kernels (TensorFlow's fused convolution with ReLU, on
    AVX-512 machines) turn a NaN into 0, so a discriminator whose weights are NaN can still give
    finite losses.
    """
    bad = [name for name, ok in zip(names, finite) if not ok]
    if bad:
        shown = ", ".join(bad[:4]) + (f" and {len(bad) - 4} more" if len(bad) > 4 else "")
        raise TrainingDiverged(f"training diverged at {where}: {shown} not finite; "
                               f"nothing after the last good checkpoint was saved")


def check_finite(where, **losses):
    """Raise ``TrainingDiverged`` if any of ``losses`` is NaN or infinite."""
    for name, value in losses.items():
        if not np.isfinite(value):
            raise TrainingDiverged(f"training diverged at {where}: {name} is {value}; "
                                   f"nothing after the last good checkpoint was saved")
