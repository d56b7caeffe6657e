"""The lab: what goes beyond the tutorial, built on it and on the run engine.

* ``recipes``: ``Recipe``, one switch of ``ezgan train`` per field, and ``RECIPES``, the named
  ones (the ablation's rows, the bundled models');
* ``networks``: the networks beyond the tutorial's (DCGAN's, the conditional pair) and the one
  table of network names; ``graphs``: a recipe's training graph from the tutorial's pieces;
* ``guided``: jonbruner/ezgan's guided controller; ``conditional``: digits on demand;
* ``training``: a recipe as the run engine's model; ``checkpoints``: any checkpoint's recipe,
  sampler and export;
* ``evaluate`` and ``metrics``: the measures of digit quality; ``pictures``: grids side by side.
"""
