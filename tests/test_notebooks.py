"""The notebook series in notebooks/.

* every notebook runs top to bottom in a fresh, real Jupyter kernel under the quick setting
  (``EZGAN_QUICK=1``), through ``tools/run_notebooks.py``; any cell error fails;
* the committed notebooks are complete full-settings runs: every code cell executed, in order,
  no error output, a picture in each;
* the source a committed notebook shows (``ezgan.notebook.show_source``) is the package's current
  source, so a changed module with stale notebooks fails here (fix: ``make notebooks``);
* the text comes in pieces a beginner can read: no markdown cell over 250 words, and every
  notebook's first cell says how long it runs ("Run time: ...");
* the graph-building cells of notebooks 2 and 3 can be run again in the same kernel;
* the helpers the notebooks rely on (``ezgan.diagrams``, ``ezgan.notebook``) do what they say;
* nothing published shows a path of the machine it was made on: no notebook output or picture
  metadata in pretrained/, docs/, notebooks/ names a home, temporary or cache folder, and no text
  file there an absolute one.
"""
import importlib
import inspect
import pathlib
import platform
import re
import subprocess

import matplotlib
import nbformat
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from ezgan import diagrams, notebook
from ezgan.hparams import BATCH_SIZE, Z_DIM
from ezgan.model import discriminator, generator
from tools import run_notebooks

from ezgan.paths import REPO

v1 = tf.compat.v1
SERIES = ["00_overview", "01_loading_mnist", "02_discriminator", "03_generator", "04_losses", "05_optimizers_and_tensorboard",
          "06_training", "07_pretrained_model", "08_training_difficulties", "09_beyond_the_tutorial",
          "10_digits_on_demand"]
REBUILD_TAG = "rebuild"


PATHS = run_notebooks.notebook_paths()


def read(path):
    return nbformat.read(path, as_version=4)


def code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def test_the_series_is_complete_and_in_order():
    assert [path.stem for path in PATHS] == SERIES


@pytest.mark.parametrize("path", PATHS, ids=lambda path: path.stem)
def test_the_setup_cell_imports_the_installed_package(path):
    """No notebook edits sys.path: the package is installed (`make install`, `pip install -e .`)."""
    nb = read(path)
    setup = code_cells(nb)[0].source
    assert "from ezgan import notebook" in setup and "notebook.setup()" in setup
    assert not [cell for cell in nb.cells if "sys.path" in cell.source]


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS, ids=lambda path: path.stem)
def test_notebook_runs_top_to_bottom_in_a_fresh_kernel(path):
    nb = run_notebooks.execute(read(path), quick=True)
    setup_output = "".join(output.get("text", "") for output in code_cells(nb)[0].outputs)
    assert "EZGAN_QUICK=1" in setup_output, "the kernel did not get the quick setting"


@pytest.mark.parametrize("path", PATHS, ids=lambda path: path.stem)
def test_committed_notebook_is_a_complete_full_settings_run(path):
    nb = read(path)
    cells = code_cells(nb)
    counts = [cell.execution_count for cell in cells]
    assert None not in counts, f"{path.name}: unexecuted code cells (run `make notebooks`)"
    assert counts == list(range(1, len(cells) + 1)), f"{path.name}: not executed top to bottom in one kernel"
    errors = [output for cell in cells for output in cell.outputs if output.output_type == "error"]
    assert not errors, f"{path.name}: error output {errors[0].ename}: {errors[0].evalue}"
    setup_output = "".join(output.get("text", "") for output in cells[0].outputs)
    assert "full settings" in setup_output, f"{path.name}: committed from a quick-setting run"
    drawn = [output for cell in cells for output in cell.outputs if "image/png" in output.get("data", {})]
    linked = [cell for cell in nb.cells if cell.cell_type == "markdown" and "![" in cell.source]
    assert drawn or linked, f"{path.name}: no picture, neither drawn in an output nor in a markdown cell"
    learned = [k for k, cell in enumerate(nb.cells) if "## What we learned" in cell.source]
    assert learned, f"{path.name}: no \"What we learned\" section"
    after = nb.cells[learned[-1] + 1:]   # the exercises, if any, in markdown cells of their own
    assert not after or ("## Exercises" in after[0].source and all(cell.cell_type == "markdown" for cell in after)), \
        f"{path.name}: \"What we learned\" is neither last nor followed by the exercises alone"


MAX_MARKDOWN_WORDS = 250


@pytest.mark.parametrize("path", PATHS, ids=lambda path: path.stem)
def test_no_markdown_cell_is_a_wall_of_text(path):
    """A beginner reads a notebook a cell at a time: no markdown cell over MAX_MARKDOWN_WORDS words."""
    walls = [f"cell {k} ({len(cell.source.split())} words)" for k, cell in enumerate(read(path).cells)
             if cell.cell_type == "markdown" and len(cell.source.split()) > MAX_MARKDOWN_WORDS]
    assert not walls, f"{path.name}: markdown cells over {MAX_MARKDOWN_WORDS} words (cells counted from 0): {walls}"


@pytest.mark.parametrize("path", PATHS, ids=lambda path: path.stem)
def test_the_first_cell_says_how_long_the_notebook_runs(path):
    """One phrasing for the series: "Run time: about ... at full settings, ... with `EZGAN_QUICK=1`"."""
    first = next(cell for cell in read(path).cells if cell.cell_type == "markdown")
    assert "Run time:" in first.source, f"{path.name}: its first markdown cell has no \"Run time:\" statement"


def resolve(qualified_name):
    """The object named ``package.module.Class.method``: the longest importable prefix, then attributes."""
    parts = qualified_name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            obj = getattr(obj, attribute)
        return obj
    raise ImportError(qualified_name)


def current_source(qualified_name):
    """The source of the object now, or None if the name no longer exists (a stale notebook)."""
    try:
        return inspect.getsource(resolve(qualified_name))
    except (ImportError, AttributeError):
        return None


def shown_sources():
    """(notebook, qualified name, text shown) for every show_source output of the committed notebooks."""
    found = []
    for path in PATHS:
        for cell in code_cells(read(path)):
            for output in cell.outputs:
                shown = output.get("metadata", {}).get(notebook.SOURCE_METADATA)
                if shown:
                    found.append((path.name, shown["object"], output["data"]["text/plain"]))
    return found


def test_source_shown_in_the_notebooks_is_the_current_source():
    shown = shown_sources()
    names = {name for _, name, _ in shown}
    assert {"ezgan.model.discriminator", "ezgan.model.generator", "ezgan.graph.gan_losses",
            "ezgan.graph.build_graph", "ezgan.train.train_loop"} <= names   # notebook 5: the optimizers; 6: the loop
    stale = [f"{notebook_name}: {name}" for notebook_name, name, text in shown
             if text != current_source(name)]
    assert not stale, f"source changed since these notebooks were executed (run `make notebooks`): {stale}"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["02_discriminator", "03_generator"])
def test_graph_building_cell_runs_twice_in_the_same_kernel(name):
    """Setup, everything up to the tagged cell, the tagged cell twice more, then the cell using its graph."""
    nb = read(REPO / "notebooks" / f"{name}.ipynb")
    cells = code_cells(nb)
    tagged = [k for k, cell in enumerate(cells) if REBUILD_TAG in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name}: expected one cell tagged {REBUILD_TAG!r}"
    k = tagged[0]
    assert "tf.Graph()" in cells[k].source
    nb.cells = cells[:k + 1] + [cells[k].copy(), cells[k].copy(), cells[k + 1]]
    run_notebooks.execute(nb, quick=True)
    tables = ["".join(output.get("text", "") for output in nb.cells[j].outputs) for j in (k, k + 1, k + 2)]
    assert tables[0] == tables[1] == tables[2] and "total" in tables[0]


def test_network_layers_follow_the_graph():
    with tf.Graph().as_default():
        images = v1.placeholder(tf.float32, [None, 28, 28, 1])
        d_layers = diagrams.network_layers(images, discriminator(images))
        d_parameters = sum(v.shape.num_elements() for v in v1.trainable_variables())
    assert d_layers[0].kind == "input" and d_layers[-1].shape == (None, 1)
    assert [layer.shape for layer in d_layers if layer.kind == "average pool"] == [(None, 14, 14, 32), (None, 7, 7, 64)]
    assert sum(layer.parameters for layer in d_layers) == d_parameters
    with tf.Graph().as_default():
        z = v1.placeholder(tf.float32, [None, Z_DIM])
        g_layers = diagrams.network_layers(z, generator(z, BATCH_SIZE, Z_DIM))
        g_parameters = sum(v.shape.num_elements() for v in v1.trainable_variables())
    kinds = [layer.kind for layer in g_layers]
    assert kinds.count("batch norm") == 3 and kinds.count("bilinear resize") == 2 and kinds[-1] == "sigmoid"
    assert g_layers[2].shape == (None, 56, 56, 1) and g_layers[-1].shape == (None, 28, 28, 1)
    assert sum(layer.parameters for layer in g_layers) == g_parameters
    assert "total" in diagrams.format_layers(g_layers)


def test_show_source_displays_the_module_source_with_its_name():
    data, metadata = notebook.Source(discriminator)._repr_mimebundle_()
    assert data["text/plain"] == inspect.getsource(discriminator)
    assert metadata[notebook.SOURCE_METADATA] == {"object": "ezgan.model.discriminator", "file": "ezgan/model.py"}
    assert "ezgan/model.py" in data["text/html"]


def test_nearest_training_images_finds_the_closest_image_and_its_pixel_distance():
    rng = np.random.default_rng(0)
    training = rng.random((40, 28, 28), dtype=np.float32)
    images = np.concatenate([training[[7, 31]], rng.random((5, 28, 28), dtype=np.float32)])
    # chunk=3 splits the seven images unevenly, as 55,000 training images and 500 digits are split in notebook 7.
    index, distance = notebook.nearest_training_images(images, training.reshape(40, 784), chunk=3)
    brute_force = np.linalg.norm(images.reshape(7, 1, 784).astype(np.float64) - training.reshape(1, 40, 784), axis=2)
    assert index.tolist() == brute_force.argmin(axis=1).tolist()
    np.testing.assert_allclose(distance, brute_force.min(axis=1), atol=1e-2)
    assert index[:2].tolist() == [7, 31] and distance[:2].max() < 1e-2   # copies sit at (about) 0


def test_window_medians_draws_each_window_of_a_logged_series_at_its_middle_step():
    steps = np.arange(0, 110, 10)   # 11 logged steps: two windows of 5, the last step left out
    values = np.array([1, 9, 2, 8, 3, 100, 0, 50, 7, 6, -1])
    middles, medians = notebook.window_medians(steps, values, size=5)
    assert middles.tolist() == [20, 70] and medians.tolist() == [3, 7]


def test_quick_picks_the_small_number_only_under_the_quick_setting(monkeypatch):
    monkeypatch.setattr(notebook, "QUICK", False)
    assert notebook.quick(1000, 10) == 1000
    monkeypatch.setattr(notebook, "QUICK", True)
    assert notebook.quick(1000, 10) == 10
    monkeypatch.setenv(notebook.QUICK_ENV, "1")
    assert notebook.is_quick()
    monkeypatch.setenv(notebook.QUICK_ENV, "0")
    assert not notebook.is_quick()


@pytest.mark.parametrize("name, old", [("Python", "3.9.18"), ("TensorFlow", "2.16.1"), ("NumPy", "1.26.4"),
                                       ("matplotlib", "3.8.4")])
def test_setup_refuses_a_version_older_than_its_minimum(monkeypatch, tmp_path, name, old):
    """Only the version setup() reads is patched; the refusal comes before setup() changes anything."""
    seen = {"Python": (platform, "python_version", lambda: old), "TensorFlow": (tf, "__version__", old),
            "NumPy": (np, "__version__", old), "matplotlib": (matplotlib, "__version__", old)}
    monkeypatch.setattr(*seen[name])
    monkeypatch.chdir(tmp_path)
    package, minimum = notebook.MINIMUM_VERSIONS[name]
    needed = ".".join(map(str, minimum))
    with pytest.raises(RuntimeError) as error:
        notebook.setup()
    message = str(error.value)
    assert "\n" not in message
    assert f"{name} {old} is too old" in message and f"need {name} {needed} or newer" in message
    if package:
        assert f'%pip install --upgrade "{package}>={needed}"' in message
    assert pathlib.Path.cwd() == tmp_path


def test_setup_accepts_its_minimum_versions_and_newer_ones():
    for name, (_, (major, minor)) in notebook.MINIMUM_VERSIONS.items():
        for version in (f"{major}.{minor}.0", f"{major}.{minor + 1}.0rc1", f"{major + 1}.0.0+local"):
            notebook.check_versions({name: version})


# Paths that tell where something was made: home folders, temporary folders, the run cache, this checkout.
MACHINE_PATHS = ("/root", "/home/", "/tmp/", "~/.cache", str(REPO))
# Text written for readers may name the documented run folder (~/.cache/ezgan/runs/main, `make train`'s)
# and /tmp/ in example commands; never a folder of the machine it was written on.
ABSOLUTE_MACHINE_PATHS = ("/root", "/home/", str(REPO))
PUBLISHED = ("pretrained", "docs", "notebooks")
BASE64_PICTURE = re.compile(r'\s*"image/(png|jpeg|gif)": "')   # how nbformat writes a picture output


def published_files():
    """The files under PUBLISHED that git tracks or would add (ignored ones, e.g. .ipynb_checkpoints/, are not)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", *PUBLISHED],
                            cwd=REPO, capture_output=True, text=True, check=True).stdout
    return [REPO / name for name in sorted(set(listed.split("\0"))) if name and (REPO / name).is_file()]


def machine_paths(text, paths=MACHINE_PATHS):
    return [path for path in paths if path in text]


@pytest.mark.parametrize("path", PATHS, ids=lambda path: path.stem)
def test_committed_notebook_outputs_show_no_machine_path(path):
    found = []
    for number, cell in enumerate(code_cells(read(path)), 1):
        for output in cell.outputs:
            data = output.get("data", {})
            for text in (output.get("text", ""), data.get("text/plain", ""), data.get("text/html", "")):
                # The checkout's own folder name is the machine's too ("the repository root (main/)").
                found += [f"code cell {number} (In [{cell.execution_count}]): {machine_path}"
                          for machine_path in machine_paths(text, (*MACHINE_PATHS, f"({REPO.name}/)"))]
    assert not found, f"{path.name}: machine paths in outputs (re-execute it: make notebooks): {found}"


@pytest.mark.parametrize("path", PATHS, ids=lambda path: path.stem)
def test_notebook_text_names_no_folder_of_a_machine(path):
    """A reader's own folders in example commands are relative ones (``my-conditional``), not /tmp/ or a home."""
    found = [f"cell {number}: {machine_path}" for number, cell in enumerate(read(path).cells)
             if cell.cell_type == "markdown" for machine_path in machine_paths(cell.source, ("/tmp/", *ABSOLUTE_MACHINE_PATHS))]
    assert not found, f"{path.name}: machine folders in its text: {found}"


TENSORFLOW_START_UP_NOTES = ("absl::InitializeLog", "I0000 ", "E0000 ", "oneDNN custom operations")


@pytest.mark.parametrize("path", PATHS, ids=lambda path: path.stem)
def test_committed_notebook_outputs_show_no_tensorflow_start_up_notes(path):
    found = [f"code cell {number}: {note}" for number, cell in enumerate(code_cells(read(path)), 1)
             for output in cell.outputs if output.get("name") == "stderr"
             for note in TENSORFLOW_START_UP_NOTES if note in output.get("text", "")]
    assert not found, f"{path.name}: TensorFlow's start-up notes in outputs (ezgan.notebook quiets them): {found}"


def test_published_text_files_show_no_machine_path():
    found = []
    for path in published_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue   # checkpoints, pictures: their metadata is the next test's
        for number, line in enumerate(text.splitlines(), 1):
            # A notebook's pictures are base64 lines: any five characters turn up in megabytes of them.
            if not BASE64_PICTURE.match(line):
                found += [f"{path.relative_to(REPO)}:{number}: {machine_path}"
                          for machine_path in machine_paths(line, ABSOLUTE_MACHINE_PATHS)]
    assert not found, f"machine paths in published files: {found}"


def test_published_pictures_show_no_machine_path_in_their_metadata():
    """PNG text chunks (matplotlib writes Software; a title or a source path could go there too)."""
    found = []
    for path in published_files():
        if path.suffix == ".png":
            with Image.open(path) as image:
                chunks = {**image.info, **image.text}
            found += [f"{path.relative_to(REPO)} {key}: {machine_path}" for key, value in chunks.items()
                      for machine_path in machine_paths(str(value))]
    assert not found, f"machine paths in picture metadata: {found}"
