"""Where the repository's data lives: ``MNIST_data/`` and ``pretrained/`` beside the package.

``pip install -e .`` (what ``make`` does) leaves the package in the checkout, so both folders are
found next to it, from any working directory. A copy of the package installed elsewhere has no
checkout around it: then the folders must be given explicitly and the error says so.
"""
import pathlib

from ezgan.errors import RepositoryError

REPO = pathlib.Path(__file__).resolve().parent.parent
# The models that come with the checkout: nothing writes into them unless told to (``ezgan export --overwrite``,
# ``make publish``).
BUNDLED = ("pretrained", "pretrained/improved", "pretrained/conditional", "pretrained/classifier")
EXPORTED = "exported"   # ezgan export's default folder, in the working directory: EXPORTED/RUN-stepSTEP


def repository_folder(name):
    """``REPO/name``, or a one-line error when the package was installed without its checkout."""
    folder = REPO / name
    if not folder.is_dir():
        raise RepositoryError(f"{folder}: not found; ezgan looks for {name}/ in the checkout it was installed from "
                              f"(`pip install -e .` in a clone), or pass the folder explicitly")
    return folder


def mnist_dir():
    return repository_folder("MNIST_data")


def pretrained_dir():
    return repository_folder("pretrained")


def is_bundled(folder):
    """True when ``folder`` is one of the checkout's ``BUNDLED`` model folders."""
    return pathlib.Path(folder).resolve() in {REPO / name for name in BUNDLED}
