"""Behaviour pinned from outside the code under test.

Every expected value here is a literal written in this file (learning rates, variable names, logged
iterations, the noise distribution, a NumPy model of the discriminator, stored golden digits): none is
read from ``ezgan.hparams`` or computed by the code being checked, so a wrong constant or a wrong op in
the code cannot make its own test agree with it.
"""
import pathlib

import numpy as np
import pytest
import tensorflow as tf

# The only entry points used here; a rename is one edit.
from ezgan.graph import build_graph
from ezgan.model import discriminator, generator
from ezgan.sample import Sampler, sample
from ezgan.runs.training import train

v1 = tf.compat.v1
REPO = pathlib.Path(__file__).resolve().parent.parent
PRETRAINED = REPO / "pretrained"
GOLDEN = pathlib.Path(__file__).resolve().parent / "golden" / "pretrained_seed0_n100.npz"

D_NAMES = ["d_w1", "d_b1", "d_w2", "d_b2", "d_w3", "d_b3", "d_w4", "d_b4"]
G_TRAINABLE_NAMES = ["g_w1", "g_b1", "g_b1/beta", "g_w2", "g_b2", "g_b2/beta",
                     "g_w3", "g_b3", "g_b3/beta", "g_w4", "g_b4"]
G_MODEL_NAMES = ["g_w1", "g_b1", "g_b1/beta", "g_b1/moving_mean", "g_b1/moving_variance",
                 "g_w2", "g_b2", "g_b2/beta", "g_b2/moving_mean", "g_b2/moving_variance",
                 "g_w3", "g_b3", "g_b3/beta", "g_b3/moving_mean", "g_b3/moving_variance",
                 "g_w4", "g_b4"]


def by_name(variables):
    return {v.op.name: v for v in variables}


def real_images(mnist, n):
    """The first n test images, shaped for the networks (read-only: no shared batch cursor moves)."""
    return mnist.test.images[:n].reshape(n, 28, 28, 1)


# --- 1. One Adam step moves each weight by about the trainer's own learning rate -------------------

@pytest.fixture(scope="module")
def fresh_graph():
    """One graph for the three trainers; each test starts from its initial values again."""
    g = build_graph(seed=0)
    with v1.Session(graph=g.graph) as sess:
        yield g, sess


@pytest.mark.parametrize("trainer, rate, moved_names, still_names", [
    ("d_trainer_real", 3e-4, D_NAMES, G_TRAINABLE_NAMES),
    ("d_trainer_fake", 3e-4, D_NAMES, G_TRAINABLE_NAMES),
    ("g_trainer", 1e-4, G_TRAINABLE_NAMES, D_NAMES),
], ids=["d_trainer_real", "d_trainer_fake", "g_trainer"])
def test_one_adam_step_moves_weights_by_the_learning_rate(fresh_graph, mnist, trainer, rate, moved_names,
                                                          still_names):
    """Adam's first step is lr * g / (|g| + 1e-8 / sqrt(1 - 0.999)) ~ lr * sign(g), never more than lr.

    D's gradients at init are large, so every D variable has some element that moves by ~lr. G's are
    tiny (D barely reacts to G at init), some comparable to Adam's effective epsilon ~3.2e-7, and the
    biases g_b2, g_b3 before per-channel batch norm get ~zero gradient: so for G the largest step over
    all of its variables is ~lr and no step exceeds it.
    """
    g, sess = fresh_graph
    assert [v.op.name for v in g.d_vars] == D_NAMES
    assert [v.op.name for v in g.g_vars] == G_TRAINABLE_NAMES
    variables = by_name(g.d_vars + g.g_vars)
    names = moved_names + still_names
    z = np.random.default_rng(1).normal(0, 1, (50, 100)).astype(np.float32)
    sess.run(g.init)  # fresh weights and fresh Adam state: this is the trainer's first step
    before = dict(zip(names, sess.run([variables[n] for n in names])))
    sess.run(getattr(g, trainer), {g.x: real_images(mnist, 50), g.z: z})
    after = dict(zip(names, sess.run([variables[n] for n in names])))
    step = {n: float(np.abs(after[n] - before[n]).max()) for n in names}
    for name in still_names:
        assert step[name] == 0.0, f"{trainer} moved {name} of the other network"
    for name in moved_names:
        assert step[name] <= 1.1 * rate, f"{trainer}: {name} moved by {step[name]:.3g} > 1.1 x {rate}"
    largest = max(step[n] for n in moved_names)
    assert 0.9 * rate <= largest <= 1.1 * rate, f"{trainer}: largest step {largest:.3g}, expected ~{rate}"
    if trainer.startswith("d_"):
        for name in moved_names:
            assert 0.9 * rate <= step[name], f"{trainer}: {name} moved by {step[name]:.3g}, expected ~{rate}"


# --- 2. The discriminator against a NumPy model --------------------------------------------------

def np_conv_same_5x5(x, w):
    """SAME 5x5 convolution, stride 1, NHWC x and HWIO w, in float64."""
    padded = np.pad(x, [(0, 0), (2, 2), (2, 2), (0, 0)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, (5, 5), axis=(1, 2))  # n, h, w, c, 5, 5
    return np.einsum("nhwcij,ijco->nhwo", windows, w)


def np_avg_pool_2x2(x):
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def np_discriminator(images, p):
    relu = lambda a: np.maximum(a, 0)  # noqa: E731
    h = np_avg_pool_2x2(relu(np_conv_same_5x5(images, p["d_w1"]) + p["d_b1"]))
    h = np_avg_pool_2x2(relu(np_conv_same_5x5(h, p["d_w2"]) + p["d_b2"]))
    h = relu(h.reshape(len(h), 7 * 7 * 64) @ p["d_w3"] + p["d_b3"])
    return h @ p["d_w4"] + p["d_b4"]


def test_discriminator_matches_a_numpy_model(mnist):
    rng = np.random.default_rng(0)
    shapes_and_scales = {"d_w1": ([5, 5, 1, 32], 0.2), "d_b1": ([32], 0.05),
                         "d_w2": ([5, 5, 32, 64], 0.05), "d_b2": ([64], 0.05),
                         "d_w3": ([3136, 1024], 0.02), "d_b3": ([1024], 0.05),
                         "d_w4": ([1024, 1], 0.05), "d_b4": ([1], 0.05)}
    params = {name: (scale * rng.normal(size=shape)).astype(np.float32)
              for name, (shape, scale) in shapes_and_scales.items()}
    images = real_images(mnist, 6)
    with tf.Graph().as_default() as graph:
        x = v1.placeholder(tf.float32, [None, 28, 28, 1])
        logits = discriminator(x)
        variables = by_name(v1.global_variables())
        assert sorted(variables) == sorted(D_NAMES)
        with v1.Session(graph=graph) as sess:
            for name, value in params.items():
                variables[name].load(value, sess)
            got = sess.run(logits, {x: images})
    expected = np_discriminator(images.astype(np.float64), {k: v.astype(np.float64) for k, v in params.items()})
    assert got.shape == (6, 1)
    assert np.ptp(expected) > 0.1, "the weights give nearly equal logits: the comparison would be weak"
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


# --- 3. Summaries every 10 iterations by default -------------------------------------------------

@pytest.mark.slow
def test_default_train_logs_every_ten_iterations(tmp_path):
    history = train(iterations=21, pretrain_steps=1, seed=0, logdir=None, checkpoint_dir=str(tmp_path / "ckpt"),
                    checkpoint_every=1000, progress=False)
    assert [row["iteration"] for row in history] == [0, 10, 20]


# --- 4. Pre-training never touches the generator -------------------------------------------------

PRETRAIN_SEED = 7


@pytest.fixture(scope="module")
def initial_values():
    """The model variables of a fresh graph built with PRETRAIN_SEED, by name."""
    g = build_graph(seed=PRETRAIN_SEED)
    names = G_MODEL_NAMES + D_NAMES
    variables = by_name(g.model_variables)
    with v1.Session(graph=g.graph) as sess:
        sess.run(g.init)
        return dict(zip(names, sess.run([variables[n] for n in names])))


@pytest.mark.parametrize("literal", [False, True], ids=["fast", "literal"])
def test_pretraining_only_leaves_the_generator_at_its_initial_values(tmp_path, initial_values, literal):
    """Three D-only steps and no iteration: every g_* variable is still its seed's initial value."""
    checkpoint_dir = tmp_path / "ckpt"
    train(iterations=0, pretrain_steps=3, seed=PRETRAIN_SEED, logdir=None, checkpoint_dir=str(checkpoint_dir),
          checkpoint_every=1000, progress=False, literal=literal)
    prefix = tf.train.latest_checkpoint(str(checkpoint_dir))
    assert prefix is not None, "train() wrote no checkpoint"
    assert set(G_MODEL_NAMES + D_NAMES + ["global_step"]) <= {name for name, _ in tf.train.list_variables(prefix)}
    reader = tf.train.load_checkpoint(prefix)
    assert int(reader.get_tensor("global_step")) == 3
    for name in G_MODEL_NAMES:
        np.testing.assert_array_equal(reader.get_tensor(name), initial_values[name], err_msg=f"{name} changed")
    # ... while the discriminator did train (so the comparison above is about a real run).
    for name in D_NAMES:
        assert not np.array_equal(reader.get_tensor(name), initial_values[name]), f"{name} did not move"


# --- 5. The sampler's noise is the documented normal draw ----------------------------------------

@pytest.fixture(scope="module")
def pretrained_sampler():
    sampler = Sampler(PRETRAINED)
    yield sampler
    sampler.close()


@pytest.mark.parametrize("n, rows", [(1, 50), (7, 50), (50, 50), (51, 100), (120, 150)])
def test_sampler_noise_is_a_standard_normal_draw_in_whole_batches(pretrained_sampler, n, rows):
    seed = 11
    expected = np.random.default_rng(seed).normal(0, 1, (rows, 100)).astype(np.float32)[:n]
    np.testing.assert_array_equal(pretrained_sampler.noise(n, seed), expected)


def test_sample_is_the_generator_restored_from_the_checkpoint_on_that_draw():
    seed = 3
    z = np.random.default_rng(seed).normal(0, 1, (50, 100)).astype(np.float32)
    with tf.Graph().as_default() as graph:
        placeholder = v1.placeholder(tf.float32, [None, 100])
        images = generator(placeholder, 50, 100)
        variables = v1.global_variables()
        assert sorted(v.op.name for v in variables) == sorted(G_MODEL_NAMES)
        saver = v1.train.Saver(var_list=variables)
        with v1.Session(graph=graph) as sess:
            saver.restore(sess, tf.train.latest_checkpoint(str(PRETRAINED)))
            expected = sess.run(images, {placeholder: z})[..., 0]
    np.testing.assert_allclose(sample(50, seed, PRETRAINED), expected, rtol=0, atol=1e-6)


# --- 6. Golden digits from the committed checkpoint ----------------------------------------------

def test_pretrained_digits_match_the_golden_file():
    """sample(100, seed=0) from pretrained/ (two full batches of 50) equals the stored digits.

    The golden file holds the 100 digits as float32 (100, 28, 28). Regenerate it only when a change
    of the generated digits is intended (and say so in the commit), from the repository root:

        python - <<'EOF'
        import numpy as np, tensorflow as tf
        tf.compat.v1.disable_eager_execution()
        from ezgan.sample import sample
        digits = sample(100, seed=0, checkpoint="pretrained").astype(np.float32)
        np.savez_compressed("tests/golden/pretrained_seed0_n100.npz", digits=digits)
        EOF

    (About 300 KB. atol 1e-5 leaves room for rounding that differs between TF builds and CPUs.)
    """
    golden = np.load(GOLDEN)["digits"]
    assert golden.shape == (100, 28, 28) and golden.dtype == np.float32
    np.testing.assert_allclose(sample(100, seed=0, checkpoint=PRETRAINED), golden, rtol=0, atol=1e-5)
