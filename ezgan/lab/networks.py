"""The networks beyond the tutorial's: variants of its discriminator, DCGAN's two networks, the conditional pair.

Every function has the signature of ``ezgan.model``'s network it can replace (``discriminator(images,
reuse_variables)``, ``generator(z, batch_size, z_dim)``), so ``ezgan.graph.build_graph`` can take
it. ``GENERATORS`` and ``DISCRIMINATORS`` name them: the one table the command line, the model
cards and the notebooks read.
"""
import tensorflow as tf

from ezgan.model import _check_images, _weights, _zeros, batch_norm, discriminator, generator

v1 = tf.compat.v1
LEAKY_SLOPE = 0.2


def leaky_relu(layer, slope=LEAKY_SLOPE):
    return tf.nn.leaky_relu(layer, slope)


def leaky_discriminator(images, reuse_variables=None, slope=LEAKY_SLOPE):
    """``ezgan.model.discriminator`` with leaky ReLUs (slope ``slope``): the same layers and variables d_w1 ... d_b4."""
    return discriminator(images, reuse_variables, activation=lambda layer: leaky_relu(layer, slope))


SPREAD_EPSILON = 1e-8   # under the square root: the gradient of sqrt is infinite at 0 (a batch of identical images)


def minibatch_stddev(maps):
    """``maps`` (batch, h, w, c) with one more map: the batch's spread, the same number at every position.

    The spread is the standard deviation over the batch of each of the h*w*c features, averaged
    (ProGAN's minibatch standard deviation, Karras et al. 2018). D judges a whole batch of real or
    of generated images at a time (``ezgan.graph``), so a generator that draws the same few digits
    over and over makes batches less varied than real ones, and D can see it: mode dropping
    becomes something D can punish, where one image at a time it cannot.
    """
    _, variance = tf.nn.moments(maps, axes=[0])
    spread = tf.reduce_mean(tf.sqrt(variance + SPREAD_EPSILON))
    return tf.concat([maps, tf.fill(tf.concat([tf.shape(maps)[:-1], [1]], 0), spread)], axis=-1)


def stddev_discriminator(images, reuse_variables=None, activation=tf.nn.relu):
    """The tutorial's discriminator with ``minibatch_stddev``'s map after its two conv layers (variables d_w1 ... d_b4).

    The layers are ``ezgan.model.discriminator``'s, but the fully connected layer takes 7x7x65
    inputs: d_w3 is (3185, 1024), not (3136, 1024), so its checkpoints do not restore into the
    tutorial's graph. With d_w3's rows of the extra map at zero it computes the tutorial's logits
    (a test pins this).
    """
    _check_images(images)
    with v1.variable_scope(v1.get_variable_scope(), reuse=reuse_variables):
        maps = images
        for layer, (channels_in, channels_out) in enumerate([(1, 32), (32, 64)], start=1):
            w, b = _weights(f"d_w{layer}", [5, 5, channels_in, channels_out]), _zeros(f"d_b{layer}", [channels_out])
            maps = activation(tf.nn.bias_add(tf.nn.conv2d(maps, w, strides=1, padding="SAME"), b))
            maps = tf.nn.avg_pool2d(maps, ksize=2, strides=2, padding="SAME")
        features = tf.reshape(minibatch_stddev(maps), [-1, 7 * 7 * 65])
        hidden = activation(tf.nn.bias_add(tf.matmul(features, _weights("d_w3", [7 * 7 * 65, 1024])),
                                           _zeros("d_b3", [1024])))
        return tf.nn.bias_add(tf.matmul(hidden, _weights("d_w4", [1024, 1])), _zeros("d_b4", [1]))


WIDE_D_MAPS = 256   # maps of the wide discriminator's third convolution


def dcgan_conv(maps, name, channels_out, normalise):
    """A 4x4 stride-2 convolution to ``channels_out`` maps (weights ``name``), batch norm or a bias, a leaky ReLU."""
    maps = tf.nn.conv2d(maps, _weights(name, [4, 4, maps.shape[-1], channels_out]), strides=2, padding="SAME")
    if normalise:
        return leaky_relu(batch_norm(maps, name.replace("_w", "_bn")))
    return leaky_relu(tf.nn.bias_add(maps, _zeros(name.replace("_w", "_b"), [channels_out])))


def dcgan_features(images, spread=False, wide=False, normalise=True):
    """``dcgan_discriminator``'s layers before its dense one: (batch, features) for images (batch, 28, 28, 1).

    ``wide``: a third convolution, to 4x4x256 (variables d_dc_wc3 and d_dc_bnc3). ``normalise``
    False: biases (d_dc_b2, d_dc_bc3) in place of batch norm, which a gradient penalty on D
    (``Recipe.r1_penalty``) replaces.
    """
    d1 = tf.nn.conv2d(images, _weights("d_dc_w1", [4, 4, 1, 64]), strides=2, padding="SAME")
    maps = dcgan_conv(leaky_relu(tf.nn.bias_add(d1, _zeros("d_dc_b1", [64]))), "d_dc_w2", 128, normalise)
    if wide:
        maps = dcgan_conv(maps, "d_dc_wc3", WIDE_D_MAPS, normalise)
    if spread:
        maps = minibatch_stddev(maps)
    return tf.reshape(maps, [-1, maps.shape[1] * maps.shape[2] * maps.shape[3]])


def dcgan_logit(features):
    """``dcgan_discriminator``'s dense layer: one logit per row of features."""
    return tf.nn.bias_add(tf.matmul(features, _weights("d_dc_w3", [features.shape[-1], 1])), _zeros("d_dc_b3", [1]))


def dcgan_discriminator(images, reuse_variables=None, spread=False, wide=False, normalise=True):
    """Images (batch, 28, 28, 1) -> one logit per image, DCGAN style (variables d_dc_*).

    A 4x4 stride-2 convolution to 14x14x64 and a leaky ReLU; a 4x4 stride-2 convolution to 7x7x128,
    batch norm (``ezgan.model.batch_norm``: the batch's own statistics; D sees real and generated
    batches apart, as DCGAN's does) and a leaky ReLU; a dense layer to one logit. Strided
    convolutions instead of average pooling, and no 1024-unit layer: a tenth of the tutorial
    discriminator's weights. ``spread``: ``minibatch_stddev``'s map before the dense layer;
    ``wide`` and ``normalise``: ``dcgan_features``'s.
    """
    _check_images(images)
    with v1.variable_scope(v1.get_variable_scope(), reuse=reuse_variables):
        return dcgan_logit(dcgan_features(images, spread, wide, normalise))


def wide_dcgan_discriminator(images, reuse_variables=None, spread=False):
    """``dcgan_discriminator`` with a third convolution, to 4x4x256 maps."""
    return dcgan_discriminator(images, reuse_variables, spread, wide=True)


def wide_unnormalised_dcgan_discriminator(images, reuse_variables=None, spread=False):
    """``wide_dcgan_discriminator`` without batch norm: for a gradient penalty (``Recipe.r1_penalty``) instead."""
    return dcgan_discriminator(images, reuse_variables, spread, wide=True, normalise=False)


DCGAN_CHANNELS = 64   # maps of the 7x7 layer (DCGAN's MNIST models use 128; 64 keeps G about as cheap as D on a CPU)


def dcgan_generator(z, batch_size, z_dim, channels=DCGAN_CHANNELS):
    """Noise z (batch, z_dim) -> images (batch, 28, 28, 1) in (0, 1), DCGAN style (variables g_dc_*).

    A dense layer to 7x7 maps of ``channels``, batch norm, ReLU; a 4x4 stride-2 transposed
    convolution to 14x14 (half the maps), batch norm, ReLU; a 4x4 stride-2 transposed convolution
    to 28x28x1 and a sigmoid. 4x4 kernels, a multiple of the stride, overlap evenly: no
    checkerboard (Odena et al. 2016). No biases before batch norm (its beta is the bias).

    Batch norm is the tutorial's (``ezgan.model.batch_norm``): it normalises with the statistics of
    the batch in hand, in training and in sampling alike. So sampling keeps the tutorial's rule of
    whole batches (``ezgan.sample``) and needs nothing else; no update ops need wiring into the
    trainers; and with the moving average of the weights (``ema_decay``) the statistics are always
    those of the weights in use, where moving statistics would have been gathered with the raw
    weights, not with their average. The signature is the tutorial generator's.
    """
    if z.shape.rank != 2 or z.shape[-1] != z_dim:
        raise ValueError(f"generator expects z shaped (batch, {z_dim}), got {z.shape}")
    batch = tf.shape(z)[0]
    g_dc_w1 = _weights("g_dc_w1", [z_dim, 7 * 7 * channels])
    g1 = tf.nn.relu(batch_norm(tf.reshape(tf.matmul(z, g_dc_w1), [-1, 7, 7, channels]), "g_dc_bn1"))
    g_dc_w2 = _weights("g_dc_w2", [4, 4, channels // 2, channels])   # transposed: [height, width, out, in]
    g2 = tf.nn.conv2d_transpose(g1, g_dc_w2, tf.stack([batch, 14, 14, channels // 2]), strides=2, padding="SAME")
    g2 = tf.nn.relu(batch_norm(tf.reshape(g2, [-1, 14, 14, channels // 2]), "g_dc_bn2"))
    g_dc_w3, g_dc_b3 = _weights("g_dc_w3", [4, 4, 1, channels // 2]), _zeros("g_dc_b3", [1])
    g3 = tf.nn.conv2d_transpose(g2, g_dc_w3, tf.stack([batch, 28, 28, 1]), strides=2, padding="SAME")
    return tf.sigmoid(tf.nn.bias_add(tf.reshape(g3, [-1, 28, 28, 1]), g_dc_b3))


DCGAN_WIDTHS = {"dcgan": DCGAN_CHANNELS, "dcgan-wide": 2 * DCGAN_CHANNELS, "dcgan-wider": 4 * DCGAN_CHANNELS}


def wide_dcgan_generator(z, batch_size, z_dim):
    """``dcgan_generator`` with twice the maps, DCGAN's own width for MNIST: more room to draw clean strokes."""
    return dcgan_generator(z, batch_size, z_dim, channels=2 * DCGAN_CHANNELS)


def wider_dcgan_generator(z, batch_size, z_dim):
    """``dcgan_generator`` with four times the maps: 7x7x256, then 14x14x128."""
    return dcgan_generator(z, batch_size, z_dim, channels=4 * DCGAN_CHANNELS)


# name -> (function, what it is): what ``--generator`` and ``--discriminator`` offer, and the model cards say.
GENERATORS = {
    "tutorial": (generator, "the tutorial's: dense to 56x56, two stride-2 3x3 convolutions with batch norm and "
                            "bilinear resizes, a 1x1 stride-2 convolution to 28x28"),
    "dcgan": (dcgan_generator, f"DCGAN's: dense to 7x7x{DCGAN_CHANNELS} maps, batch norm, two 4x4 stride-2 transposed "
                               f"convolutions to 28x28 (variables g_dc_*)"),
    "dcgan-wide": (wide_dcgan_generator, f"DCGAN's with twice the maps, 7x7x{2 * DCGAN_CHANNELS}, DCGAN's own width for "
                                         f"MNIST (variables g_dc_*)"),
    "dcgan-wider": (wider_dcgan_generator, f"DCGAN's with four times the maps, 7x7x{4 * DCGAN_CHANNELS} then "
                                           f"14x14x{2 * DCGAN_CHANNELS} (variables g_dc_*)"),
}
DISCRIMINATORS = {
    "tutorial": (discriminator, "the tutorial's: two 5x5 convolutions with average pooling, a 1024-unit dense layer"),
    "dcgan": (dcgan_discriminator, "DCGAN's: two 4x4 stride-2 convolutions with leaky ReLUs and batch norm, one dense "
                                   "layer (variables d_dc_*)"),
    "dcgan-wide": (wide_dcgan_discriminator, f"DCGAN's with a third 4x4 stride-2 convolution, to 4x4x{WIDE_D_MAPS} "
                                             "maps, with batch norm (variables d_dc_*)"),
    "dcgan-wide-no-bn": (wide_unnormalised_dcgan_discriminator,
                         f"DCGAN's with a third 4x4 stride-2 convolution, to 4x4x{WIDE_D_MAPS} maps, and biases in "
                         "place of batch norm, for a gradient penalty (variables d_dc_*)"),
}


# Digits on demand: the conditional pair --------------------------------------------------------------

DIGITS = 10


def cycling_labels(z):
    """The digits of a batch of noise when none are asked for: row i draws i % 10, every digit equally often."""
    return tf.range(tf.shape(z)[0]) % DIGITS


def conditional_generator(z, batch_size, z_dim, labels=None, channels=2 * DCGAN_CHANNELS):
    """``dcgan_generator`` told which digit to draw: the label, one-hot, joined to the noise (variables g_dc_*).

    ``labels`` (batch,) int digits; None: ``cycling_labels``. Only the first layer differs from
    the unconditional generator's: g_dc_w1 has ten more rows, one per digit.
    """
    if z.shape.rank != 2 or z.shape[-1] != z_dim:
        raise ValueError(f"generator expects z shaped (batch, {z_dim}), got {z.shape}")
    labels = cycling_labels(z) if labels is None else labels
    return dcgan_generator(tf.concat([z, tf.one_hot(labels, DIGITS)], axis=1), batch_size, z_dim + DIGITS, channels)


def projection_discriminator(images, labels, reuse_variables=None):
    """``dcgan_discriminator`` judging image and digit together: a projection discriminator (Miyato & Koyama 2018).

    The logit is the unconditional one plus the inner product of the image's features with a
    learned vector for its digit (d_dc_embed, one row per digit): a 7 drawn for "3" can look
    real and still be called fake.
    """
    _check_images(images)
    with v1.variable_scope(v1.get_variable_scope(), reuse=reuse_variables):
        features = dcgan_features(images)
        embedding = _weights("d_dc_embed", [DIGITS, features.shape[-1]])
        projection = tf.reduce_sum(tf.gather(embedding, labels) * features, axis=1, keepdims=True)
        return dcgan_logit(features) + projection
