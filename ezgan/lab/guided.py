"""jonbruner/ezgan's guided training (its ``gan-controlled.py``): each update only while its loss says it is needed.

No pre-training; each iteration, in this order, one D step on generated images if the last known
D fake loss is above 0.7, one G step if the last known G loss is above 0.5, one D step on real
images if the last known D real loss is above 0.45 (``guided_updates``). Every one of these
``sess.run`` calls also fetches the three losses of that same run, computed before its update
(``ezgan.lab.graphs`` makes every trainer wait for them): they become the last known ones. How
many updates of each kind ran since the last summary goes to TensorBoard (``d_real_count``,
``d_fake_count``, ``g_count``). The last known losses and those counts are variables, so
``--resume`` carries on exactly.
"""
import dataclasses
import typing

import tensorflow as tf

from ezgan.train import TutorialSteps

v1 = tf.compat.v1
D_FAKE_THRESHOLD = 0.7    # a D step on generated images when the last known D fake loss is above this
G_THRESHOLD = 0.5         # a G step when the last known G loss is above this
D_REAL_THRESHOLD = 0.45   # a D step on real images when the last known D real loss is above this
UPDATE_ORDER = ("d_fake", "g", "d_real")   # the order of the three within an iteration
INITIAL_LOSSES = (0.0, 0.0, 1.0)           # last known (d_loss_real, d_loss_fake, g_loss) before the first run


class GuidedUpdates(typing.NamedTuple):
    d_fake: bool
    g: bool
    d_real: bool


def guided_updates(d_loss_fake, g_loss, d_loss_real):
    """Which updates the controller's thresholds call for, given the last known losses (each a strict >).

    The controller asks again before each update of an iteration, in ``UPDATE_ORDER``, with the
    losses its previous update fetched. At least one update always runs: G loss <= 0.5 and D fake
    loss <= 0.7 cannot both hold, since -log p - log(1 - p) >= 2 log 2 for every image.
    """
    return GuidedUpdates(d_fake=d_loss_fake > D_FAKE_THRESHOLD, g=g_loss > G_THRESHOLD,
                         d_real=d_loss_real > D_REAL_THRESHOLD)


@dataclasses.dataclass
class GuidedOps:
    """The guided controller's part of the graph (``build_recipe_graph`` adds it to a guided recipe's graph)."""
    losses: tf.Tensor             # (d_loss_real, d_loss_fake, g_loss) stacked: what every update fetches
    last_known: tf.Variable       # the losses the last update fetched (saved with the run, for --resume)
    counts: tf.Variable           # updates of each kind (UPDATE_ORDER) since the last summary
    updates: dict                 # UPDATE_ORDER kind -> op: that trainer, then last_known and counts updated
    counts_snapshot: tf.Tensor
    counts_summary: tf.Tensor     # the scalars d_fake_count, g_count, d_real_count
    reset_counts: tf.Operation    # runs after the snapshot and the summary were taken


def add_guided_ops(losses, trainers):
    with v1.variable_scope("guided"):
        last_known = v1.get_variable("last_known_losses", initializer=tf.constant(INITIAL_LOSSES), trainable=False)
        counts = v1.get_variable("update_counts", initializer=tf.zeros([len(UPDATE_ORDER)]), trainable=False)
    updates = {}
    for k, kind in enumerate(UPDATE_ORDER):
        # `losses` were computed before the trainer's update (its control dependency); record them after it.
        with tf.control_dependencies([trainers[kind]]):
            updates[kind] = tf.group(v1.assign(last_known, losses),
                                     v1.assign_add(counts, tf.one_hot(k, len(UPDATE_ORDER))), name=f"guided_{kind}")
    snapshot = tf.identity(counts.read_value())
    counts_summary = v1.summary.merge([v1.summary.scalar(f"{kind}_count", snapshot[k])
                                       for k, kind in enumerate(UPDATE_ORDER)])
    with tf.control_dependencies([snapshot, counts_summary]):
        reset_counts = v1.assign(counts, tf.zeros([len(UPDATE_ORDER)])).op
    return GuidedOps(losses, last_known, counts, updates, snapshot, counts_summary, reset_counts)


class GuidedSteps(TutorialSteps):
    """The guided iteration in place of the tutorial's; each summary also logs the updates of each kind since the last."""

    def __init__(self, gan):
        super().__init__(gan)
        self.ops = gan.guided_ops
        self.last_known = None      # (d_loss_real, d_loss_fake, g_loss); read from the graph on the first iteration

    def iterate(self, sess, real, noise):
        """One iteration; each update gets its own noise batch (the original drew fresh noise for every run):
        D on generated images the step's D noise, G its G noise, D on real images its summary noise."""
        if self.last_known is None:   # INITIAL_LOSSES in a new run, the saved ones in a resumed run
            self.last_known = tuple(sess.run(self.ops.last_known))
        noise_of = {"d_fake": noise.d, "g": noise.g, "d_real": noise.summary}
        for kind in UPDATE_ORDER:
            d_loss_real, d_loss_fake, g_loss = self.last_known
            if getattr(guided_updates(d_loss_fake, g_loss, d_loss_real), kind):
                _, losses = sess.run([self.ops.updates[kind], self.ops.losses], self.feed(real, noise_of[kind]))
                self.last_known = tuple(losses)
        sess.run(self.gan.increment_step)

    def summary(self, sess, writer, real, noise, iteration):
        """The tutorial's summary, then the counts of each update since the last one (to TensorBoard, reset)."""
        row = super().summary(sess, writer, real, noise, iteration)
        summary, counts, _ = sess.run([self.ops.counts_summary, self.ops.counts_snapshot, self.ops.reset_counts])
        if writer is not None:
            writer.add_summary(summary, iteration)
        return {**row, **{f"{kind}_count": int(count) for kind, count in zip(UPDATE_ORDER, counts)}}
