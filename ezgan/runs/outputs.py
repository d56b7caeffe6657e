"""Writing outputs without leaving half a file behind: checked before any work, renamed into place when complete.

* ``check_output``: refuse an output path that cannot be written before the work that makes it starts
  (a folder in its place, a file among its parents, no permission).
* ``atomic_output``: write a file under a temporary name in its own folder, then rename it into place:
  a reader sees the old file or the new one, never a part; a failed write removes its temporary file.
* ``write_json``: a JSON file written that way.
"""
import contextlib
import json
import os
import pathlib
import tempfile

from ezgan.errors import WriteError


def check_output(path, what=None):
    """Refuse an output ``path`` (named ``what``, e.g. a flag, in the message) that cannot be written."""
    path = pathlib.Path(path)
    name = f"{what} {path}" if what else str(path)
    if path.is_dir():
        raise WriteError(f"{name}: is a directory; give a file name")
    check_folder(path.parent, name)


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


@contextlib.contextmanager
def atomic_output(path):
    """A binary file to write ``path`` through: a temporary name in its folder, renamed into place when done."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    file = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False)
    try:
        with file:
            yield file
        os.replace(file.name, path)
    except BaseException as error:
        os.unlink(file.name)
        if isinstance(error, OSError):   # a full disk, a file-size limit: the old file is still there
            raise WriteError(f"{path}: could not be written ({error.strerror or error}); "
                             f"the file that was there is unchanged") from None
        raise


def write_json(path, value):
    with atomic_output(path) as file:
        file.write((json.dumps(value, indent=1) + "\n").encode())


def save_png(image, path):
    """A PIL image written as a PNG through ``atomic_output``."""
    with atomic_output(path) as file:
        image.save(file, format="PNG")
