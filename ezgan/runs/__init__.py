"""The run engine: what makes the tutorial's training durable and quick. It imports only the tutorial.

* ``training``: ``train()``, a run of the tutorial's loop with hooks: checkpoints, resume, the NaN
  guard, fixed-noise grids, progress (what ``ezgan train`` runs);
* ``folder``: the run folder and its lock; ``state``: run.json (``RunState``); ``checkpoints``:
  the checkpoints a run writes, finding, checking and restoring them;
* ``outputs``: files written whole or not at all, with the user's umask;
* ``fast``: the tutorial's iteration as one op, the same maths about 1.8x faster.
"""
