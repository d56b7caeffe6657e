"""Digits on demand: training a conditional GAN, whose two networks both see the digit's label.

The networks are ``ezgan.lab.networks``'s ``conditional_generator`` and ``projection_discriminator``;
``ezgan.lab.graphs`` builds their graph, with a placeholder ``labels`` for the real images' digits
and ``fake_labels`` for the digits G is asked for (by default ``cycling_labels``: row i draws
i % 10, so every batch asks for every digit equally often). Here: the real batches' labels, handed
to the training step beside the images, and that step.
"""
from ezgan.train import TutorialSteps, summarize


class LabelledBatches:
    """The training data as the loop reads it (``next_batch``, ``seek``), remembering the digits of the last batch."""

    def __init__(self, data):
        self.data = data
        self.labels = None

    def next_batch(self, batch_size):
        images, self.labels = self.data.next_batch(batch_size)
        return images, self.labels

    def seek(self, examples_consumed):
        self.data.seek(examples_consumed)


class ConditionalSteps(TutorialSteps):
    """The tutorial's steps with the real batch's digits fed beside it (D judges image and digit together)."""

    def __init__(self, gan, data):
        super().__init__(gan)
        self.data = data   # a LabelledBatches: the loop's real batch is its last one

    def feed(self, real, z):
        return {self.gan.x: real, self.gan.z: z, self.gan.labels: self.data.labels}

    def pretrain(self, sess, real, noise):
        _, losses = sess.run([self.gan.d_trainer_real, [self.gan.d_loss_real, self.gan.d_loss_fake]],
                             self.feed(real, noise.d))
        sess.run(self.gan.increment_step)
        return losses

    def iterate(self, sess, real, noise):
        sess.run([self.gan.d_trainer_real, self.gan.d_loss_real, self.gan.d_loss_fake], self.feed(real, noise.d))
        sess.run(self.gan.g_trainer, {self.gan.z: noise.g})
        sess.run(self.gan.increment_step)

    def summary(self, sess, writer, real, noise, iteration):
        return summarize(sess, self.gan, writer, self.feed(real, noise.summary), iteration)
