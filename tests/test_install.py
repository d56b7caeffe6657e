"""The README's recipe for running a notebook outside the repository works.

The recipe: ``%pip install -e path/to/checkout`` into whatever environment the notebook's kernel
runs in, then ``from ezgan import notebook; notebook.setup()`` works from any folder, because the
editable install leaves the package in the checkout, beside ``MNIST_data/`` and ``pretrained/``
(``ezgan.paths``). The test makes such an environment: a fresh venv, the package installed into it
from this checkout, and notebook 1 executed in a kernel of that venv that starts in a folder
outside the repository, under the quick setting.

TensorFlow and the other dependencies are not installed again (minutes, and a network): a ``.pth``
file lets the fresh venv see the site-packages of the venv running the tests, after its own, so
ezgan is the only package installed into it.
"""
import importlib.metadata
import json
import pathlib
import subprocess
import sys
import sysconfig

import pytest

import nbformat
from nbclient import NotebookClient

from ezgan.paths import REPO
from tools import run_notebooks

KERNEL = "ezgan-fresh"
# Cells added around the notebook: where the kernel started and what it has installed (before setup()
# moves to the checkout, whose ezgan.egg-info the kernel's '' path entry would then find), and where
# its ezgan came from.
BEFORE = """import importlib.metadata, json, os, sys
print(json.dumps({'cwd': os.getcwd(), 'prefix': sys.prefix,
                  'distribution': str(importlib.metadata.distribution('ezgan').locate_file(''))}))"""
AFTER = """import json, sys
import ezgan
finders = [module.__file__ for name, module in sys.modules.items() if name.startswith('__editable__')]
print(json.dumps({'ezgan': ezgan.__file__, 'finders': finders}))"""


def run(*command):
    """Run a command; its stdout, or a failure showing its stderr."""
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(map(str, command))} failed:\n{result.stderr}"
    return result.stdout


def printed(cell):
    return json.loads("".join(output.get("text", "") for output in cell.outputs))


@pytest.mark.slow
def test_notebook_1_runs_in_a_fresh_venv_with_the_package_installed_from_the_checkout(tmp_path, monkeypatch):
    setuptools = importlib.metadata.version("setuptools")
    assert int(setuptools.split(".")[0]) >= 77, (f"setuptools {setuptools} cannot build ezgan (pyproject.toml's "
                                                 f"PEP 639 license needs 77 or newer): pip install 'setuptools>=77'")
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    # Without a pip of its own: ensurepip's brings (up to Python 3.11) a setuptools too old for
    # pyproject.toml that would shadow ours. pip and setuptools come through the .pth too, and pip
    # installs into the venv whose interpreter runs it.
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    installed = pathlib.Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").strip())
    ours = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (installed / "tests-venv.pth").write_text("".join(f"{path}\n" for path in ours))
    # --no-index: nothing to download; --no-build-isolation: the build uses the setuptools seen through the .pth.
    run(python, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-build-isolation", "-e", REPO)
    assert list(installed.glob("__editable__*ezgan*.pth")), f"no editable install of ezgan in {installed}"
    run(python, "-m", "ipykernel", "install", "--prefix", venv, "--name", KERNEL)
    monkeypatch.setenv("JUPYTER_PATH", str(venv / "share" / "jupyter"))   # where nbclient finds KERNEL

    nb = nbformat.read(run_notebooks.notebook_paths(["01"])[0], as_version=4)
    nb.cells = [nbformat.v4.new_code_cell(BEFORE), *nb.cells, nbformat.v4.new_code_cell(AFTER)]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert not elsewhere.resolve().is_relative_to(REPO)
    # PYTHONPATH dropped: the kernel sees its venv and what the .pth adds, nothing of this process.
    env = {key: value for key, value in run_notebooks.kernel_env(quick=True).items() if key != "PYTHONPATH"}
    NotebookClient(nb, kernel_name=KERNEL, timeout=run_notebooks.QUICK_TIMEOUT, allow_errors=False,
                   resources={"metadata": {"path": str(elsewhere)}}).execute(env=env)

    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert not [output for cell in code for output in cell.outputs if output.output_type == "error"]
    setup_output = "".join(output.get("text", "") for output in code[1].outputs)   # code[0] is BEFORE
    assert "EZGAN_QUICK=1" in setup_output, "the kernel did not get the quick setting"
    start, origin = printed(code[0]), printed(code[-1])
    assert pathlib.Path(start["cwd"]).resolve() == elsewhere.resolve()
    assert pathlib.Path(start["prefix"]).resolve() == venv.resolve()
    assert pathlib.Path(start["distribution"]).resolve() == installed.resolve()
    # The package is the checkout's, found by the fresh venv's editable finder (the tests' venv has
    # its own, whose .pth the fresh venv never runs).
    assert pathlib.Path(origin["ezgan"]).resolve() == (REPO / "ezgan" / "__init__.py").resolve()
    assert origin["finders"] and all(pathlib.Path(finder).parent.resolve() == installed.resolve()
                                     for finder in origin["finders"])
