"""Measuring generated digits: an MNIST classifier, the scores computed with it, a quality curve.

A GAN's losses say little about how good its digits look. This module judges them the way the
Inception Score and FID judge ImageNet samples, with a small MNIST classifier in the place of the
Inception network (which knows nothing useful about 28x28 digits):

* classifier score, exp(E_x[KL(p(y|x) || p(y))]): high when each image is plainly one digit and
  all ten digits occur; 10 at most, 1 for a set of identical images. Mean and std over 10 splits;
* Fréchet distance between the classifier's penultimate features of the images and of the real
  test set, with FID's formula: 0 for the test set itself, larger the further apart the two are;
* the share of each digit among the predicted labels, their KL divergence from uniform (a
  generator that collapses onto a few digits shows here) and the share of images labelled with
  probability >= 0.9.

The classifier is a small CNN in the project's TF1 style, its variables under ``classifier/``;
``python -m ezgan.evaluate train-classifier`` trains it into ``pretrained/classifier``. Reference
rows (the real test set, real training images, the untrained generator) put a checkpoint's numbers
in context, and ``curve`` measures every milestone checkpoint of a training run.
"""
import argparse
import csv
import json
import os
import pathlib
import re
import sys

if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF's start-up chatter would hide the table

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from ezgan import hparams  # noqa: E402
from ezgan.graph import build_graph, session_config  # noqa: E402
from ezgan.mnist import MnistError, read_data_sets  # noqa: E402
from ezgan.sample import (PRETRAINED_DIR, CheckpointError, generate,  # noqa: E402
                          resolve_checkpoint, restored_session, sample)
from ezgan.train import RUN_STATE, RunState  # noqa: E402

v1 = tf.compat.v1
SCOPE = "classifier"                # variable scope of every classifier variable
CLASSIFIER_DIR = PRETRAINED_DIR / "classifier"
CLASSIFIER_CHECKPOINT = "classifier.ckpt"
CLASSIFIER_INFO = "classifier.json"  # test accuracy, seed, schedule, command, TF version
FEATURES = 256                      # width of the penultimate layer: the features the Fréchet distance compares
DROPOUT_RATE = 0.5                  # on the penultimate features, in training only
LEARNING_RATE_DECAY = 0.7           # Adam's rate is multiplied by this after every epoch
SPLITS = 10                         # the classifier score's mean and std are over this many splits
CONFIDENT = 0.9                     # an image counts as confidently labelled from this probability on
PREDICT_BATCH = 500
METRICS = ("classifier_score", "classifier_score_std", "frechet_distance", "digit_kl", "confident_share")


def classifier_network(images, dropout_rate=None):
    """Images (batch, 28, 28, 1) in [0, 1] -> (logits (batch, 10), features (batch, FEATURES)).

    Two 5x5 convolutions (32 then 64 channels), each with ReLU and 2x2 max pooling, a fully
    connected ReLU layer of FEATURES (the penultimate features) and a last layer to ten logits.
    With ``dropout_rate`` (a float or a scalar tensor) dropout acts on the features, as in training.
    """
    if images.shape.rank != 4 or tuple(images.shape[1:]) != (28, 28, 1):
        raise ValueError(f"the classifier expects images shaped (batch, 28, 28, 1), got {images.shape}")
    with v1.variable_scope(SCOPE):
        pooled = _conv_relu_pool("conv1", images, 32)
        pooled = _conv_relu_pool("conv2", pooled, 64)
        features = tf.nn.relu(_dense("fc", tf.reshape(pooled, [-1, 7 * 7 * 64]), FEATURES))
        kept = features if dropout_rate is None else tf.nn.dropout(features, rate=dropout_rate)
        logits = _dense("logits", kept, 10)
    return logits, features


def _conv_relu_pool(scope, inputs, channels):
    with v1.variable_scope(scope):
        # get_variable's default initializer is Glorot-uniform, seeded by the graph's seed.
        weights = v1.get_variable("weights", [5, 5, inputs.shape[-1], channels])
        biases = v1.get_variable("biases", [channels], initializer=v1.zeros_initializer())
        conv = tf.nn.bias_add(tf.nn.conv2d(inputs, weights, strides=1, padding="SAME"), biases)
        return tf.nn.max_pool2d(tf.nn.relu(conv), ksize=2, strides=2, padding="SAME")


def _dense(scope, inputs, units):
    with v1.variable_scope(scope):
        weights = v1.get_variable("weights", [inputs.shape[-1], units])
        biases = v1.get_variable("biases", [units], initializer=v1.zeros_initializer())
        return tf.nn.bias_add(tf.matmul(inputs, weights), biases)


def train_classifier(out_dir=CLASSIFIER_DIR, epochs=6, batch_size=100, learning_rate=1e-3, seed=0,
                     data=None, progress=True):
    """Train the classifier on MNIST's 55,000 training images and save it in ``out_dir``.

    Adam, its rate decayed by LEARNING_RATE_DECAY every epoch; ``seed`` fixes the initial weights,
    the dropout masks and the order of the images. Only the model's variables are saved (no
    optimizer state), next to CLASSIFIER_INFO; returns that file's contents, test accuracy included.
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be positive, got {epochs} and {batch_size}")
    data = data or read_data_sets(seed=seed)
    steps_per_epoch = data.train.num_examples // batch_size
    graph = tf.Graph()
    with graph.as_default():
        v1.set_random_seed(seed)
        images = v1.placeholder(tf.float32, [None, 28, 28, 1], name="images")
        labels = v1.placeholder(tf.int64, [None], name="labels")
        dropout_rate = v1.placeholder_with_default(0.0, [], name="dropout_rate")
        logits, _ = classifier_network(images, dropout_rate)
        model_variables = v1.trainable_variables(SCOPE)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        step = v1.train.get_or_create_global_step()
        rate = v1.train.exponential_decay(learning_rate, step, steps_per_epoch, LEARNING_RATE_DECAY, staircase=True)
        train_op = v1.train.AdamOptimizer(rate).minimize(loss, global_step=step)
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, 1), labels), tf.int32))
        # Relative paths in the `checkpoint` index file: the folder still works once moved or cloned.
        saver = v1.train.Saver(var_list=model_variables, save_relative_paths=True)
        init = v1.global_variables_initializer()

    def accuracy(sess, dataset):
        right = sum(sess.run(correct, {images: dataset.images[start:start + PREDICT_BATCH].reshape(-1, 28, 28, 1),
                                       labels: dataset.labels[start:start + PREDICT_BATCH]})
                    for start in range(0, dataset.num_examples, PREDICT_BATCH))
        return right / dataset.num_examples

    out_dir = pathlib.Path(out_dir)
    with v1.Session(graph=graph, config=session_config()) as sess:
        sess.run(init)
        with tqdm(total=epochs * steps_per_epoch, disable=not progress, unit="step", dynamic_ncols=True,
                  mininterval=1.0, desc="training classifier") as bar:
            for epoch in range(epochs):
                for _ in range(steps_per_epoch):
                    batch_images, batch_labels = data.train.next_batch(batch_size)
                    _, batch_loss = sess.run([train_op, loss], {images: batch_images.reshape(-1, 28, 28, 1),
                                                                labels: batch_labels, dropout_rate: DROPOUT_RATE})
                    bar.update()
                    bar.set_postfix(loss=f"{batch_loss:.4f}", refresh=False)
                validation_accuracy = accuracy(sess, data.validation)
                bar.write(f"epoch {epoch + 1}/{epochs}: validation accuracy {validation_accuracy:.2%}")
        test_accuracy = accuracy(sess, data.test)
        out_dir.mkdir(parents=True, exist_ok=True)
        saver.save(sess, str(out_dir / CLASSIFIER_CHECKPOINT), write_meta_graph=False)
    info = dict(
        test_accuracy=test_accuracy, validation_accuracy=validation_accuracy, seed=seed, epochs=epochs,
        batch_size=batch_size, learning_rate=learning_rate, learning_rate_decay=LEARNING_RATE_DECAY,
        dropout_rate=DROPOUT_RATE, features=FEATURES, training_images=data.train.num_examples,
        command=(f"python -m ezgan.evaluate train-classifier --out {out_dir} --epochs {epochs} "
                 f"--batch-size {batch_size} --learning-rate {learning_rate} --seed {seed}"),
        tensorflow=tf.__version__,
    )
    (out_dir / CLASSIFIER_INFO).write_text(json.dumps(info, indent=1) + "\n")
    return info


def check_images(images):
    """``images`` as float32 (n, 28, 28) in [0, 1], or a ValueError saying what is wrong with them."""
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) == 0:
        raise ValueError(f"images must be shaped (n, 28, 28) with n >= 1, got {images.shape}")
    if not np.issubdtype(images.dtype, np.number):
        raise ValueError(f"images must be numbers, got dtype {images.dtype}")
    images = images.astype(np.float32)
    if not np.isfinite(images).all():
        raise ValueError("images contain NaN or infinite values")
    low, high = images.min(), images.max()
    if low < 0 or high > 1:
        raise ValueError(f"images must lie in [0, 1] (white digits on black, as in MNIST), "
                         f"found values from {low:g} to {high:g}")
    return images


class Classifier:
    """The trained classifier restored from a checkpoint, kept open to classify many image sets."""

    def __init__(self, checkpoint=CLASSIFIER_DIR):
        try:
            prefix = resolve_checkpoint(checkpoint)
        except CheckpointError as error:
            raise CheckpointError(f"{error}; train the classifier with "
                                  "`python -m ezgan.evaluate train-classifier`") from None
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.images = v1.placeholder(tf.float32, [None, 28, 28, 1], name="images")
            logits, self.features = classifier_network(self.images)
            self.log_probabilities = tf.nn.log_softmax(logits)
        self.sess = restored_session(self.graph, prefix)
        self.checkpoint = prefix
        info = pathlib.Path(prefix).parent / CLASSIFIER_INFO
        self.info = json.loads(info.read_text()) if info.exists() else {}

    def predict(self, images):
        """log p(y|x) (n, 10) and the penultimate features (n, FEATURES), both float64."""
        images = check_images(images)[..., np.newaxis]
        log_probabilities, features = [], []
        for start in range(0, len(images), PREDICT_BATCH):
            batch_log_probabilities, batch_features = self.sess.run(
                [self.log_probabilities, self.features], {self.images: images[start:start + PREDICT_BATCH]})
            log_probabilities.append(batch_log_probabilities)
            features.append(batch_features)
        return np.concatenate(log_probabilities).astype(np.float64), np.concatenate(features).astype(np.float64)

    def close(self):
        self.sess.close()


def classifier_score(log_probabilities, splits=SPLITS):
    """exp(E_x[KL(p(y|x) || p(y))]) on each of ``splits`` equal parts: (mean, std) over the parts.

    p(y) is the split's mean of p(y|x). Log-probabilities are floored at the log of the smallest
    normal double: a probability of exactly 0 (log -inf) then adds a vanishing term to the KL
    instead of NaN (from -inf minus -inf).
    """
    log_probabilities = np.maximum(np.asarray(log_probabilities, np.float64), np.log(np.finfo(np.float64).tiny))
    if len(log_probabilities) < splits:
        raise ValueError(f"the classifier score needs at least {splits} images (one per split), "
                         f"got {len(log_probabilities)}")
    scores = []
    for part in np.array_split(log_probabilities, splits):
        peak = part.max(axis=0)
        log_marginal = peak + np.log(np.exp(part - peak).mean(axis=0))
        kl = (np.exp(part) * (part - log_marginal)).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def feature_statistics(features):
    """Mean and covariance of features (n, d), n >= 2: what the Fréchet distance compares."""
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"feature statistics need features shaped (n, d) with n >= 2, got {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _symmetric_sqrt(matrix):
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))) @ eigenvectors.T


def frechet_distance(statistics_a, statistics_b):
    """FID's formula: |m_a - m_b|^2 + Tr(C_a + C_b - 2 (C_a C_b)^(1/2)) for (mean, covariance) pairs.

    Tr (C_a C_b)^(1/2) is computed as the sum of the square roots of the eigenvalues of
    C_a^(1/2) C_b C_a^(1/2): that matrix has the eigenvalues of C_a C_b but is symmetric, so numpy's
    eigh handles it stably and no general matrix square root (scipy's sqrtm) is needed.
    """
    mean_a, covariance_a = statistics_a
    mean_b, covariance_b = statistics_b
    root_a = _symmetric_sqrt(covariance_a)
    middle = root_a @ covariance_b @ root_a
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    distance = np.sum((mean_a - mean_b) ** 2) + np.trace(covariance_a) + np.trace(covariance_b) - 2 * trace_root
    # Rounding can leave the distance of a set to itself a hair below zero.
    return max(float(distance), 0.0)


def label_statistics(log_probabilities):
    """(share of each digit among the predicted labels (10,), KL(shares || uniform), share labelled >= CONFIDENT)."""
    log_probabilities = np.asarray(log_probabilities, np.float64)
    predicted = log_probabilities.argmax(axis=1)
    shares = np.bincount(predicted, minlength=10) / len(predicted)
    present = shares > 0
    digit_kl = float(np.sum(shares[present] * np.log(shares[present] * 10)))
    confident_share = float(np.mean(log_probabilities.max(axis=1) >= np.log(CONFIDENT)))
    return shares, digit_kl, confident_share


class Evaluator:
    """A classifier plus the real test set's feature statistics: turns a set of images into a row of metrics."""

    def __init__(self, classifier=CLASSIFIER_DIR, data=None):
        self.classifier = Classifier(classifier)
        try:
            self.data = data or read_data_sets()
            self.test_predictions = self.classifier.predict(self.data.test.images.reshape(-1, 28, 28))
        except BaseException:
            self.classifier.close()
            raise
        self.test_statistics = feature_statistics(self.test_predictions[1])

    def metrics(self, log_probabilities, features):
        score, score_std = classifier_score(log_probabilities)
        shares, digit_kl, confident_share = label_statistics(log_probabilities)
        return dict(n=len(log_probabilities), classifier_score=score, classifier_score_std=score_std,
                    frechet_distance=frechet_distance(feature_statistics(features), self.test_statistics),
                    digit_kl=digit_kl, confident_share=confident_share, digit_shares=shares.tolist())

    def evaluate(self, images):
        """The metrics of images (n, 28, 28) in [0, 1], n >= SPLITS: a dict (see METRICS, plus n, digit_shares)."""
        return self.metrics(*self.classifier.predict(images))

    def reference_rows(self, n, seed):
        """What the metrics mean: {name: row} for the real test set, n real training images, the untrained generator.

        The training images (drawn with ``seed``) are another sample of the same distribution as
        the test set: their distance is the floor that n images can reach. The untrained generator
        is the one ``python -m ezgan train --seed SEED`` starts from, fed the noise a checkpoint
        row gets from the same seed.
        """
        if not SPLITS <= n <= self.data.train.num_examples:
            raise ValueError(f"n must be in {SPLITS}..{self.data.train.num_examples} for the reference rows, got {n}")
        chosen = np.random.default_rng(seed).choice(self.data.train.num_examples, n, replace=False)
        return {
            f"real test set ({self.data.test.num_examples:,}) vs itself": self.metrics(*self.test_predictions),
            f"real training images ({n:,})": self.evaluate(self.data.train.images[np.sort(chosen)].reshape(-1, 28, 28)),
            f"untrained generator (seed {seed})": self.evaluate(untrained_generator_images(n, seed)),
        }

    def close(self):
        self.classifier.close()


def untrained_generator_images(n, seed):
    """n digits (n, 28, 28) from the freshly initialised generator of ``build_graph(seed=seed)``.

    Generated in batches of the training batch size, since batch norm uses the batch's statistics.
    """
    g = build_graph(seed=seed)
    # The same noise as Sampler.sample(n, seed): one stream, cut into batches.
    z = np.random.default_rng(seed).normal(0, 1, (n, g.z_dim)).astype(np.float32)
    with v1.Session(graph=g.graph, config=session_config()) as sess:
        sess.run(g.init)
        return generate(sess, g, z)


def format_table(rows):
    """One line per row: name, classifier score, Fréchet distance, digit KL, confident share, digit shares."""
    width = max(len("row"), *(len(name) for name in rows))
    lines = [f"{'row':<{width}}  {'score':>13}  {'Fréchet':>8}  {'KL(digits)':>10}  {f'p>={CONFIDENT}':>6}  "
             f"digit shares (%) 0 1 2 ... 9"]
    for name, row in rows.items():
        shares = " ".join(f"{100 * share:4.1f}" for share in row["digit_shares"])
        lines.append(f"{name:<{width}}  {row['classifier_score']:6.3f} ± {row['classifier_score_std']:<4.3f}  "
                     f"{row['frechet_distance']:8.3f}  {row['digit_kl']:10.4f}  {row['confident_share']:6.3f}  "
                     f"{shares}")
    return "\n".join(lines)


def milestone_checkpoints(directory):
    """[(global step, checkpoint prefix)] of every NAME-STEP.index checkpoint in ``directory``, by step.

    The folder's own `checkpoint` index file holds absolute paths, which break when a run is
    moved; the .index files are always where the checkpoints are.
    """
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no such milestones folder")
    found = []
    for index in directory.glob("*.index"):
        numbered = re.fullmatch(r".*-(\d+)", index.stem)
        if numbered:
            found.append((int(numbered.group(1)), str(index.with_suffix(""))))
    if not found:
        raise CheckpointError(f"{directory}: no checkpoints here (files NAME-STEP.index)")
    return sorted(found)


def run_pretrain_steps(milestones):
    """The pre-training steps of the run the milestones belong to: from its run state, else the tutorial's."""
    run_dir = pathlib.Path(milestones).parent
    if (run_dir / RUN_STATE).exists():
        return RunState.load(run_dir).pretrain_steps
    return hparams.PRETRAIN_STEPS


def quality_curve(milestones, out, evaluator, n=10_000, seed=0, pretrain_steps=None, progress=True,
                  references=None, name=None):
    """Evaluate every milestone checkpoint; write OUT.csv, OUT.png (metrics against iterations) and OUT.json.

    Every checkpoint gets the same noise (``seed``), so the curve shows the generator changing, not
    the noise. Iteration = global step - pre-training steps. Returns (rows, reference rows).
    ``references``: reference rows already computed with the same n and seed (else computed here).
    ``name``: how the milestones folder is written in the title and the JSON (default: its path),
    e.g. ``~/...`` rather than a home directory's absolute path in files that get published.
    """
    checkpoints = milestone_checkpoints(milestones)
    pretrain_steps = run_pretrain_steps(milestones) if pretrain_steps is None else pretrain_steps
    references = evaluator.reference_rows(n, seed) if references is None else references
    rows = []
    for step, prefix in tqdm(checkpoints, disable=not progress, unit="checkpoint", desc="evaluating"):
        shown = prefix if name is None else str(pathlib.PurePath(name) / pathlib.Path(prefix).name)
        rows.append(dict(iteration=step - pretrain_steps, step=step, checkpoint=shown,
                         **evaluator.evaluate(sample(n, seed, prefix))))
    name = str(milestones) if name is None else str(name)
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_curve_csv(rows, out.with_suffix(".csv"))
    plot_curve(rows, references, out.with_suffix(".png"),
               title=f"{name}: {n:,} digits per point, noise seed {seed}")
    out.with_suffix(".json").write_text(json.dumps(
        dict(milestones=name, n=n, seed=seed, pretrain_steps=pretrain_steps,
             classifier_test_accuracy=evaluator.classifier.info.get("test_accuracy"), references=references,
             rows=rows),
        indent=1) + "\n")
    return rows, references


def write_curve_csv(rows, path):
    columns = ["iteration", "step", *METRICS, *(f"share_{digit}" for digit in range(10))]
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row["iteration"], row["step"], *(f"{row[name]:.6g}" for name in METRICS),
                             *(f"{share:.4f}" for share in row["digit_shares"])])


def plot_curve(rows, references, path, title=None):
    """Each metric against iterations, the reference rows as horizontal lines."""
    from matplotlib.figure import Figure

    panels = [("classifier_score", "classifier score (10 at most)", "linear"),
              ("frechet_distance", "Fréchet distance to the test set", "log"),
              ("digit_kl", "KL(digit shares || uniform)", "linear"),
              ("confident_share", f"share labelled with p >= {CONFIDENT}", "linear")]
    iterations = [row["iteration"] for row in rows]
    figure = Figure(figsize=(11, 7.5), layout="constrained")
    axes = figure.subplots(2, 2).ravel()
    if title:
        figure.suptitle(title)
    for ax, (metric, panel_title, scale) in zip(axes, panels):
        values = np.array([row[metric] for row in rows])
        ax.plot(iterations, values, "o-", color="black", label="checkpoints")
        if metric == "classifier_score":
            spread = np.array([row["classifier_score_std"] for row in rows])
            ax.fill_between(iterations, values - spread, values + spread, color="black", alpha=0.2, linewidth=0)
        for number, (name, reference) in enumerate(references.items()):
            # A distance of 0 (the test set to itself) has no place on a log axis.
            if scale != "log" or reference[metric] > 0:
                ax.axhline(reference[metric], linestyle=("--", ":", "-.")[number % 3], color=f"C{number}", label=name)
        ax.set_yscale(scale)
        ax.set_title(panel_title)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    figure.savefig(path, dpi=100)


def configure_parser(parser):
    """Options of ``evaluate`` itself, and its subcommands ``train-classifier`` and ``curve``."""
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.add_argument("--checkpoint", default="pretrained", help="generator checkpoint: directory or prefix")
    add_measure_options(parser)
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    parser.add_argument("--references", action="store_true",
                        help="add the reference rows: real test set, real training images, untrained generator")
    commands = parser.add_subparsers(dest="evaluate_command", metavar="{train-classifier,curve}",
                                     title="other commands")
    train = commands.add_parser("train-classifier", help="train the MNIST classifier the metrics use",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    train.add_argument("--out", default="pretrained/classifier", help="folder for the checkpoint and its JSON")
    train.add_argument("--epochs", type=int, default=6, help="passes over the 55,000 training images")
    train.add_argument("--batch-size", type=int, default=100, help="images per Adam step")
    train.add_argument("--learning-rate", type=float, default=1e-3,
                       help=f"Adam's initial rate, multiplied by {LEARNING_RATE_DECAY} after every epoch")
    train.add_argument("--seed", type=int, default=0, help="seed of the initial weights, dropout and data order")
    curve = commands.add_parser("curve", help="evaluate every milestone checkpoint of a run; CSV and PNG",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    curve.add_argument("--milestones", required=True, help="a run's milestones folder (model.ckpt-STEP files)")
    curve.add_argument("--out", default="pretrained/quality_curve", help="writes OUT.csv, OUT.png and OUT.json")
    curve.add_argument("--pretrain-steps", type=int, default=None,
                       help="pre-training steps to subtract from each global step; "
                            "None: the run's own (its run.json), else 300")
    add_measure_options(curve)


def add_measure_options(parser):
    parser.add_argument("--classifier", default="pretrained/classifier", help="classifier checkpoint folder")
    parser.add_argument("--n", type=int, default=10_000, help=f"images per row (at least {SPLITS})")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the noise, of the real training images drawn and of the untrained generator")


def add_arguments(subparsers):
    """Add the ``evaluate`` command to ``python -m ezgan``'s subparsers."""
    parser = subparsers.add_parser("evaluate", help="score a checkpoint's digits with an MNIST classifier",
                                   description=__doc__)
    configure_parser(parser)
    return parser


def run(args):
    """Carry out parsed ``evaluate`` arguments; errors are raised (ValueError, CheckpointError, ...)."""
    command = getattr(args, "evaluate_command", None)
    if command == "train-classifier":
        info = train_classifier(args.out, args.epochs, args.batch_size, args.learning_rate, args.seed)
        print(f"test accuracy {info['test_accuracy']:.2%}; wrote {pathlib.Path(args.out) / CLASSIFIER_CHECKPOINT} "
              f"and {CLASSIFIER_INFO}")
    elif command == "curve":
        evaluator = Evaluator(args.classifier)
        try:
            rows, references = quality_curve(args.milestones, args.out, evaluator, args.n, args.seed,
                                             args.pretrain_steps)
        finally:
            evaluator.close()
        print(format_table({**{f"iteration {row['iteration']}": row for row in rows}, **references}))
        out = pathlib.Path(args.out)
        print(f"wrote {out.with_suffix('.csv')}, {out.with_suffix('.png')} and {out.with_suffix('.json')}")
    else:
        run_evaluate(args)


def run_evaluate(args):
    if args.n < SPLITS:
        raise ValueError(f"--n must be at least {SPLITS} (one image per split of the classifier score), got {args.n}")
    prefix = resolve_checkpoint(args.checkpoint)
    evaluator = Evaluator(args.classifier)
    try:
        rows = {prefix: evaluator.evaluate(sample(args.n, args.seed, prefix))}
        if args.references:
            rows.update(evaluator.reference_rows(args.n, args.seed))
        classifier = evaluator.classifier
    finally:
        evaluator.close()
    print(format_table(rows))
    if args.json:
        out = pathlib.Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(dict(checkpoint=prefix, n=args.n, seed=args.seed, classifier=classifier.checkpoint,
                                       classifier_test_accuracy=classifier.info.get("test_accuracy"), rows=rows),
                                  indent=1) + "\n")
        print(f"wrote {out}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m ezgan.evaluate", description=__doc__)
    configure_parser(parser)
    args = parser.parse_args(argv)
    tf.get_logger().setLevel("ERROR")
    v1.disable_eager_execution()
    try:
        run(args)
    except (MnistError, CheckpointError, FileNotFoundError, ValueError) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
