"""What the notebooks in ``notebooks/`` share: setup, the quick setting, figures, showing source, and
the nearest training image of a digit (notebook 7).

Every notebook starts with ``notebook.setup()``. The quick setting (environment variable
``EZGAN_QUICK=1``, set by ``tools/run_notebooks.py --quick`` and by the tests) shrinks every
iteration count so the whole series runs in a few minutes; ``quick(full, small)`` picks the
number. ``show_source(obj)`` displays the code of a function from the package itself, so a
notebook never shows a copy that could drift from ``ezgan/``; ``tests/test_notebooks.py`` checks
the committed outputs against the current source.
"""
import html
import inspect
import os
import pathlib
import platform
import random
import re
import tempfile

from ezgan.paths import REPO
from ezgan.tfsetup import tensorflow

# Quietly, before ezgan.train imports TensorFlow the plain way: imported there first, its start-up notes
# would reach the notebook's output, and the log level set by tensorflow() would come too late.
tensorflow()
from ezgan.train import Hook  # noqa: E402

NOTEBOOKS_DIR = REPO / "notebooks"
FIGURES_DIR = NOTEBOOKS_DIR / "figures"
QUICK_ENV = "EZGAN_QUICK"
SEED = 0
SOURCE_METADATA = "ezgan_source"   # output metadata key of show_source's displays (the tests look for it)
# The oldest (major, minor) setup() accepts, with the pip package that upgrades it: the lines that
# requirements.txt pins and the committed outputs come from. Older ones would fail deep in a cell or
# draw other pictures than the committed ones; setup() says what to upgrade instead.
MINIMUM_VERSIONS = {
    "Python": (None, (3, 10)),
    "TensorFlow": ("tensorflow", (2, 21)),
    "NumPy": ("numpy", (2, 4)),
    "matplotlib": ("matplotlib", (3, 11)),
}


def is_quick():
    """True under the quick setting (``EZGAN_QUICK=1``)."""
    return os.environ.get(QUICK_ENV, "") not in ("", "0")


QUICK = is_quick()


def quick(full, small):
    """``full`` normally, ``small`` under the quick setting: every iteration count goes through this."""
    return small if QUICK else full


def setup(seed=SEED):
    """Version check, graph mode, seeds, working directory = repository root; prints what the notebook runs on.

    A Python, TensorFlow, NumPy or matplotlib older than ``MINIMUM_VERSIONS`` is refused with a
    one-line ``RuntimeError`` that names the upgrade.

    The working directory becomes the repository root, so the paths read as in the tutorial and the
    Makefile: ``MNIST_data/``, ``pretrained/``, ``tensorboard/``. Graphs get their own seed
    (``v1.set_random_seed`` inside each ``tf.Graph``, or ``build_graph(seed=...)``); numpy code in
    the notebooks uses explicit generators, the global seeds here are a safety net.
    """
    tf = tensorflow()
    import matplotlib
    import numpy as np

    versions = {"Python": platform.python_version(), "TensorFlow": tf.__version__, "NumPy": np.__version__,
                "matplotlib": matplotlib.__version__}
    # Before anything changes (working directory, seeds), so a refused kernel is left as it was.
    check_versions(versions)
    os.chdir(REPO)
    random.seed(seed)
    np.random.seed(seed)
    tf.compat.v1.set_random_seed(seed)   # the default graph's; every other graph sets its own
    matplotlib.rcParams.update({"figure.dpi": 100, "image.interpolation": "nearest"})
    print(" | ".join(f"{name} {version}" for name, version in versions.items()))
    print(f"graph mode (eager execution off: {not tf.executing_eagerly()}), seed {seed}, "
          f"working directory: the repository root, {os.cpu_count()} CPU cores")
    print(f"{QUICK_ENV}=1: quick setting, every iteration count shrunk" if QUICK
          else f"{QUICK_ENV} unset: full settings")


def check_versions(versions):
    """Raise a one-line RuntimeError naming the first of ``versions`` ({name: version}) below MINIMUM_VERSIONS."""
    for name, version in versions.items():
        package, minimum = MINIMUM_VERSIONS[name]
        # major.minor only: pre-releases and local builds ("2.22.0rc1", "2.4.6+cpu") of a new enough line pass.
        found = tuple(int(number) for number in re.match(r"(\d+)\.(\d+)", version).groups())
        if found < minimum:
            needed = ".".join(map(str, minimum))
            fix = (f"`%pip install --upgrade \"{package}>={needed}\"`, then restart the kernel" if package
                   else f"a kernel of Python {needed} or newer (a venv made with it, `make install`)")
            raise RuntimeError(f"{name} {version} is too old for the ezgan notebooks, which need {name} {needed} "
                               f"or newer: {fix}")


def scratch_dir(name):
    """A folder for files a notebook writes under the quick setting (tests): a fresh temporary one."""
    return pathlib.Path(tempfile.mkdtemp(prefix=f"ezgan-{name}-"))


def logdir(name):
    """TensorBoard folder of a notebook's run: ``tensorboard/<start time>-<name>`` (what ``make
    tensorboard`` serves); under the quick setting a temporary folder, so tests leave no trace."""
    from ezgan.train import new_logdir

    root = scratch_dir(name) if QUICK else REPO / "tensorboard"
    return f"{new_logdir(str(root))}-{name}"


def save_fig(fig, name):
    """Save ``fig`` as ``notebooks/figures/NAME.png`` (a temporary folder under the quick setting)."""
    folder = scratch_dir("figures") if QUICK else FIGURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def qualified_name(obj):
    return f"{obj.__module__}.{obj.__qualname__}"


def source_file(obj):
    """The file ``obj`` is defined in, relative to the repository (e.g. ``ezgan/model.py``)."""
    path = pathlib.Path(inspect.getsourcefile(obj)).resolve()
    try:
        return path.relative_to(REPO).as_posix()
    except ValueError:
        return str(path)


class Source:
    """The source of a function or class, displayed as highlighted code with where it lives.

    Its plain-text form is exactly ``inspect.getsource(obj)``, and the display carries the object's
    qualified name in its metadata, so a test can check a committed notebook against the module.
    """

    def __init__(self, obj):
        self.name = qualified_name(obj)
        self.file = source_file(obj)
        self.line = inspect.getsourcelines(obj)[1]
        self.code = inspect.getsource(obj)

    def _repr_mimebundle_(self, include=None, exclude=None):
        try:
            from pygments import highlight
            from pygments.formatters import HtmlFormatter
            from pygments.lexers import PythonLexer

            formatter = HtmlFormatter(noclasses=True, style="default")
            body = highlight(self.code, PythonLexer(), formatter)
        except ImportError:
            body = f"<pre>{html.escape(self.code)}</pre>"
        caption = (f"<div style='font-family: monospace; color: #555; margin-bottom: 2px'>"
                   f"{html.escape(self.file)}, line {self.line}: <b>{html.escape(self.name.split('.', 2)[-1])}</b>"
                   f"</div>")
        data = {"text/plain": self.code, "text/html": caption + body}
        metadata = {SOURCE_METADATA: {"object": self.name, "file": self.file}}
        return data, metadata

    def __repr__(self):
        return self.code


def show_source(*objects):
    """Display the current source of each object (function, class, method) from the package."""
    from IPython.display import display

    for obj in objects:
        display(Source(obj))


def show_grid(images, columns=None, title=None, ax=None, figsize=None):
    """Digits (n, 28, 28) in [0, 1] as one picture, dark strokes on white (``ezgan.grids.grid``)."""
    import matplotlib.pyplot as plt

    from ezgan.grids import grid

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize or (6, 6))
    ax.imshow(grid(images, columns), cmap="gray", vmin=0, vmax=1)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax.figure


def window_medians(steps, values, size=50):
    """The median of every ``size`` consecutive logged values, at the middle step of each window: a noisy logged
    series drawn as a line (a trailing part shorter than ``size`` is left out)."""
    import numpy as np

    whole = len(values) // size * size
    steps, values = np.asarray(steps)[:whole], np.asarray(values)[:whole]
    return np.median(steps.reshape(-1, size), axis=1), np.median(values.reshape(-1, size), axis=1)


def sigmoid(logits):
    """The logistic function in numpy, without overflow warnings for large negative logits."""
    import numpy as np

    logits = np.asarray(logits, np.float64)
    return np.exp(-np.logaddexp(0, -logits))


def nearest_training_images(images, training_images, chunk=100):
    """For each image, the index of the nearest training image and the pixel distance to it.

    ``images`` (n, 28, 28) or (n, 784), ``training_images`` (m, 28, 28) or (m, 784). The distance is
    Euclidean over the 784 pixels, so a copy of a training image sits at (about) 0: notebook 7 asks
    this of the generator's digits. Returns (index (n,), distance (n,)).
    """
    import numpy as np

    images = np.asarray(images, np.float32).reshape(len(images), -1)
    training_images = np.asarray(training_images, np.float32).reshape(len(training_images), -1)
    training_norms = np.sum(training_images ** 2, axis=1)
    index, distance = [], []
    for start in range(0, len(images), chunk):
        part = images[start:start + chunk]
        # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b: one matrix product per chunk, never an (n, m, 784) array.
        squared = np.sum(part ** 2, axis=1)[:, None] + training_norms[None, :] - 2 * part @ training_images.T
        nearest = squared.argmin(axis=1)
        index.append(nearest)
        # Rounding can leave the squared distance of a copy a hair below 0.
        distance.append(np.sqrt(np.maximum(squared[np.arange(len(part)), nearest], 0)))
    return np.concatenate(index), np.concatenate(distance)


class IterationCallback(Hook):
    """Calls ``function(sess, iteration)`` every ``interval`` iterations (notebook 6 draws a digit this way)."""

    def __init__(self, interval, function):
        self.interval, self.function = interval, function

    def after_iteration(self, sess, step, iteration, real, noise, row):
        if iteration % self.interval == 0:
            self.function(sess, iteration)
