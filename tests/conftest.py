"""Shared fixtures. Every graph here is built into its own tf.Graph, in graph (TF1) mode."""
import contextlib
import io
import subprocess

import pytest

from ezgan.tfsetup import tensorflow

tf = tensorflow()

from ezgan.mnist import read_data_sets  # noqa: E402
from ezgan.runs.training import train  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a GPU that TensorFlow can see; skipped without one")


def pytest_collection_modifyitems(config, items):
    if tf.config.list_physical_devices("GPU"):
        return
    skip = pytest.mark.skip(reason="no GPU visible to TensorFlow")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def mnist():
    return read_data_sets(seed=0)


@pytest.fixture(scope="session")
def short_run(tmp_path_factory):
    """A real, short training run: its TensorBoard folder, checkpoint folder and history."""
    root = tmp_path_factory.mktemp("short_run")
    history = train(iterations=20, pretrain_steps=3, seed=1, logdir=str(root / "tb"),
                    checkpoint_dir=str(root / "ckpt"), checkpoint_every=10, summary_every=5, progress=False)
    return root / "tb", root / "ckpt", history


def run_ezgan(*args, cwd="."):
    """``ezgan ARGS`` run in this process (``ezgan.cli.main``, no new Python and TensorFlow to start), in ``cwd``:
    its exit status, stdout and stderr, as ``subprocess.run`` reports a command's."""
    from ezgan import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli.main([str(arg) for arg in args])
            status = 0
        except SystemExit as exit:
            status = exit.code if isinstance(exit.code, int) else int(exit.code is not None)
    return subprocess.CompletedProcess(args, status, out.getvalue(), err.getvalue())
