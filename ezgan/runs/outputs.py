"""Writing outputs without leaving half a file behind: checked before any work, renamed into place when complete.

* ``check_output``: refuse an output path that cannot be written before the work that makes it starts
  (a folder in its place, a file among its parents, no permission, or a file there already when it
  may not be replaced).
* ``atomic_output``: write a file under a temporary name in its own folder, then rename it into place:
  a reader sees the old file or the new one, never a part; a failed or interrupted write removes its
  temporary file, and the temporary files of commands killed outright (``PARTIAL``: their process is
  gone) are removed by the next write to the same folder. The file gets the mode any file the user
  creates gets (0o666 less the umask), not a temporary file's 0o600.
* ``npy_output``: a .npy array written that way, filled piece by piece through a memory map.
* ``write_json``: a JSON file written that way.
* ``signals_held``: SIGINT and SIGTERM wait until a block of writes that belong together (a
  checkpoint and its run.json) is done; ``stop_signals_handled_by``: what handles them meanwhile.
"""
import contextlib
import json
import os
import pathlib
import re
import secrets
import signal
import tempfile
import threading

import numpy as np

from ezgan.errors import WriteError

# The temporary name of OUT while it is written: .OUT.partial-PID-RANDOM (PID: the writing process).
PARTIAL = re.compile(r"\..+\.partial-(\d+)-[0-9a-f]{8}")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)   # Ctrl-C, and kill's default


def process_alive(pid):
    """True while process ``pid`` exists (also when it belongs to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def check_output(path, what=None, overwrite=True):
    """Refuse an output ``path`` (named ``what``, e.g. a flag, in the message) that cannot be written,
    or that exists already unless it may be replaced (``overwrite``)."""
    path = pathlib.Path(path)
    name = f"{what} {path}" if what else str(path)
    if path.is_dir():
        raise WriteError(f"{name}: is a directory; give a file name")
    check_folder(path.parent, name)
    if path.exists() and not overwrite:
        raise WriteError(f"{name}: exists already; give --overwrite to replace it")


def check_folder(folder, what=None):
    """Refuse an output ``folder`` that cannot be created or written in (``what`` names it in the message)."""
    folder = pathlib.Path(folder)
    name = what or str(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise WriteError(f"{name}: cannot be created, {existing} is a file")
    try:
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as error:
        raise WriteError(f"{name}: cannot write in {existing} ({error.strerror})") from None


def remove_leftovers(folder):
    """Delete the temporary files of ``atomic_output`` in ``folder`` whose process is gone (killed while writing)."""
    for leftover in pathlib.Path(folder).glob(".*.partial-*"):
        written_by = PARTIAL.fullmatch(leftover.name)
        if written_by and not process_alive(int(written_by.group(1))):
            leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_output(path):
    """A binary file to write ``path`` through: a temporary name in its folder, renamed into place when done."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(path.parent)
    temporary = path.parent / f".{path.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        # Created as open() creates any file (mode 0o666 less the umask), so the renamed file has the mode
        # the user expects; tempfile's would keep 0o600.
        with open(temporary, "xb") as file:
            yield file
        os.replace(temporary, path)
    except BaseException as error:   # a full disk, and also SIGINT or SIGTERM raised as exceptions (ezgan.cli)
        temporary.unlink(missing_ok=True)
        if isinstance(error, OSError):   # a full disk, a file-size limit: the old file is still there
            raise WriteError(f"{path}: could not be written ({error.strerror or error}); "
                             f"the file that was there is unchanged") from None
        raise


@contextlib.contextmanager
def npy_output(path, shape, dtype=np.float32):
    """A .npy array of ``shape`` to fill piece by piece, mapped from its file (written through ``atomic_output``):
    memory holds the pieces being written, not the array.

    Its disk space is claimed before the first piece: a full disk is then a ``WriteError`` here, where
    a page of the map written on a full disk would kill the process (SIGBUS). macOS cannot claim it.
    """
    with atomic_output(path) as file:
        array = np.lib.format.open_memmap(file.name, mode="w+", dtype=dtype, shape=shape)
        if hasattr(os, "posix_fallocate"):
            os.posix_fallocate(file.fileno(), 0, os.fstat(file.fileno()).st_size)
        yield array
        array.flush()


@contextlib.contextmanager
def stop_signals_handled_by(handler):
    """While the block runs, SIGINT and SIGTERM call ``handler(signum, frame)``; yields {signal: the handler it had}."""
    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield previous
    finally:
        for signum, handler_before in previous.items():
            signal.signal(signum, handler_before)


@contextlib.contextmanager
def signals_held():
    """SIGINT and SIGTERM that arrive while the block runs wait until it is done, then reach the handler they
    would have reached (``ezgan.cli``'s, Python's KeyboardInterrupt, or the default: the end of the process).

    Outside the main thread, where handlers cannot be set, the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived = []
    with stop_signals_handled_by(lambda signum, frame: arrived.append(signum)) as previous:
        yield
    if arrived:
        handler = previous[arrived[0]]
        if callable(handler):
            handler(arrived[0], None)
        elif handler == signal.SIG_DFL:
            signal.raise_signal(arrived[0])


def write_json(path, value):
    with atomic_output(path) as file:
        file.write((json.dumps(value, indent=1) + "\n").encode())


def save_png(image, path):
    """A PIL image written as a PNG through ``atomic_output``."""
    with atomic_output(path) as file:
        image.save(file, format="PNG")
