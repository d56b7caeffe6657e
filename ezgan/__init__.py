"""ezgan: the O'Reilly tutorial "Generative Adversarial Networks for Beginners" on TensorFlow 2, TF1 style.

Three layers, each importing only those above it in this list (``tests/test_layers.py`` holds this):

1. The tutorial, ``ezgan/*.py``: its steps one module each, ``mnist`` (1; ``mnist_files`` the
   files on disk), ``model`` (2-3), ``graph`` (4-5), ``train`` (6), ``sample`` (7), with
   ``hparams``, ``tfsetup``, ``errors`` and ``paths``.
2. The run engine, ``ezgan.runs``: what makes the tutorial's training durable and quick
   (checkpoints, resume, the run folder's lock, the NaN guard, the fast step).
3. The lab, ``ezgan.lab``: recipes beyond the tutorial, their networks, the guided controller,
   the conditional model, the measures of digit quality.

On top: ``cli`` (the ``ezgan`` command), ``notebook`` and ``diagrams`` (the notebooks' helpers),
and the maintainer's scripts in ``tools/``.
"""
__version__ = "1.0.0"
