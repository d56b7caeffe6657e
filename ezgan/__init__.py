"""ezgan: the O'Reilly tutorial "Generative Adversarial Networks for Beginners" on TensorFlow 2, TF1 style.

The tutorial's steps, one module each: ``mnist`` (1), ``model`` (2-3), ``graph`` (4-5),
``train`` (6), ``sample`` (7). ``fast`` holds the faster training step, ``checkpoints`` the
files a run writes, ``evaluate`` and ``metrics`` the measures of digit quality, ``cli`` the
``ezgan`` command.
"""
__version__ = "1.0.0"
