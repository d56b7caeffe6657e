"""Measuring generated digits with an MNIST classifier: the classifier, the evaluator, a quality curve.

The measures themselves (classifier score, Fréchet distance, digit shares) are plain NumPy in
``ezgan.lab.metrics``, whose docstring explains them; this module holds what they are computed from:
a small CNN in the project's TF1 style, its variables under ``classifier/``, that
``ezgan train-classifier`` (``make classifier``) trains into ``pretrained/classifier``. Reference
rows (the real test set, real training images, the untrained generator) put a checkpoint's numbers
in context (``ezgan evaluate --references``), and ``quality_curve`` measures every milestone
checkpoint of a training run (``ezgan curve``).
"""
import csv
import io
import json
import pathlib

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from ezgan import hparams
from ezgan.errors import CheckpointError, EzganError
from ezgan.graph import build_graph
from ezgan.lab.checkpoints import sample
from ezgan.lab.recipes import checkpoint_recipe
from ezgan.lab.metrics import (CONFIDENT, METRICS, SPLITS, check_images, feature_statistics, label_agreement,
                               metrics_row)
from ezgan.mnist import read_data_sets
from ezgan.paths import pretrained_dir
from ezgan.runs.checkpoints import milestone_checkpoints, resolve_checkpoint, restored_session
from ezgan.runs.outputs import atomic_output, write_json
from ezgan.runs.state import MILESTONES, RUN_STATE, RunState
from ezgan.sample import generate, normal_noise
from ezgan.tfsetup import session_config

v1 = tf.compat.v1
SCOPE = "classifier"                # variable scope of every classifier variable
CLASSIFIER_CHECKPOINT = "classifier.ckpt"
CLASSIFIER_INFO = "classifier.json"  # test accuracy, seed, schedule, command, TF version
FEATURES = 256                      # width of the penultimate layer: the features the Fréchet distance compares
DROPOUT_RATE = 0.5                  # on the penultimate features, in training only
LEARNING_RATE_DECAY = 0.7           # Adam's rate is multiplied by this after every epoch
PREDICT_BATCH = 500


def classifier_dir():
    """Where the committed classifier lives: ``pretrained/classifier`` of the checkout."""
    return pretrained_dir() / "classifier"


def check_n(n, maximum=None, what="a row"):
    """Refuse a number of images the metrics cannot use, naming the ``--n`` flag it comes from."""
    if n < SPLITS:
        raise EzganError(f"--n must be at least {SPLITS} (one image per split of the classifier score), got {n}")
    if maximum is not None and n > maximum:
        raise EzganError(f"--n must be at most {maximum:,} for {what}, got {n:,}")


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


def train_classifier(out_dir=None, epochs=6, batch_size=100, learning_rate=1e-3, seed=0,
                     data=None, progress=True):
    """Train the classifier on MNIST's 55,000 training images and save it in ``out_dir``.

    Adam, its rate decayed by LEARNING_RATE_DECAY every epoch; ``seed`` fixes the initial weights,
    the dropout masks and the order of the images. Only the model's variables are saved (no
    optimizer state), next to CLASSIFIER_INFO; returns that file's contents, test accuracy included.
    ``out_dir`` None: ``pretrained/classifier``.
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

    out_dir = pathlib.Path(classifier_dir() if out_dir is None else out_dir)
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
        command=(f"ezgan train-classifier --out {out_dir} --epochs {epochs} "
                 f"--batch-size {batch_size} --learning-rate {learning_rate} --seed {seed}"),
        tensorflow=tf.__version__,
    )
    write_json(out_dir / CLASSIFIER_INFO, info)
    return info


class Classifier:
    """The trained classifier restored from a checkpoint, kept open to classify many image sets."""

    def __init__(self, checkpoint=None):
        """``checkpoint``: a folder or a prefix; None: ``pretrained/classifier``."""
        try:
            prefix = resolve_checkpoint(classifier_dir() if checkpoint is None else checkpoint)
        except CheckpointError as error:
            raise CheckpointError(f"{error}; train the classifier with `ezgan train-classifier` "
                                  "(or `make classifier`)") from None
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


class Evaluator:
    """A classifier plus the real test set's feature statistics: turns a set of images into a row of metrics."""

    def __init__(self, classifier=None, data=None):
        """``classifier``: its checkpoint folder or prefix (None: ``pretrained/classifier``); ``data``: MNIST."""
        self.classifier = Classifier(classifier)
        try:
            self.data = data or read_data_sets()
            self.test_predictions = self.classifier.predict(self.data.test.images.reshape(-1, 28, 28))
        except BaseException:
            self.classifier.close()
            raise
        self.test_statistics = feature_statistics(self.test_predictions[1])

    def metrics(self, log_probabilities, features):
        """``ezgan.lab.metrics.metrics_row`` against the real test set."""
        return metrics_row(log_probabilities, features, self.test_statistics)

    def evaluate(self, images, asked=None):
        """The metrics of images (n, 28, 28) in [0, 1], n >= SPLITS: a dict (see METRICS, plus n, digit_shares).

        ``asked``: the digit a conditional generator was asked for in each image; adds ``label_agreement``
        and ``label_agreement_per_digit`` (``ezgan.lab.metrics.label_agreement``).
        """
        log_probabilities, features = self.classifier.predict(images)
        row = self.metrics(log_probabilities, features)
        if asked is not None:
            row["label_agreement"], row["label_agreement_per_digit"] = label_agreement(log_probabilities, asked)
        return row

    def reference_rows(self, n, seed):
        """What the metrics mean: {name: row} for the real test set, n real training images, the untrained generator.

        The training images (drawn with ``seed``) are another sample of the same distribution as
        the test set: their distance is the floor that n images can reach. The untrained generator
        is the one ``ezgan train --seed SEED`` starts from, fed the noise a checkpoint row gets from
        the same seed.
        """
        check_n(n, self.data.train.num_examples, "the reference rows (real training images drawn)")
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

    The noise is ``Sampler.sample(n, seed)``'s: ``normal_noise(n, seed)``, whole batches of the
    training batch size (batch norm uses the batch's statistics), the extra digits dropped.
    """
    g = build_graph(seed=seed)
    z = normal_noise(n, seed, g.z_dim, g.batch_size)
    with v1.Session(graph=g.graph, config=session_config()) as sess:
        sess.run(g.init)
        return generate(sess, g, z)[:n]


def asked_digits(prefix, n):
    """The digits a conditional checkpoint's ``sample(n, ...)`` asks for (image i: i % 10); None for any other."""
    return np.arange(n) % 10 if checkpoint_recipe(prefix).conditional else None


def evaluate_checkpoint(prefix, n, seed, classifier=None, references=False):
    """What ``ezgan evaluate`` prints: ({name: row}, the classifier used, closed).

    The rows: ``prefix`` (a generator checkpoint) for ``sample(n, seed, prefix)``, then with
    ``references`` the reference rows of ``Evaluator.reference_rows(n, seed)``. The classifier
    (None: ``pretrained/classifier``) is returned for its ``.checkpoint`` and ``.info``.
    """
    check_n(n)
    evaluator = Evaluator(classifier)
    try:
        # The reference rows first: they refuse an n too large before the checkpoint is sampled.
        reference = evaluator.reference_rows(n, seed) if references else {}
        rows = {prefix: evaluator.evaluate(sample(n, seed, prefix), asked_digits(prefix, n)), **reference}
    finally:
        evaluator.close()
    return rows, evaluator.classifier


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


def run_pretrain_steps(milestones):
    """The pre-training steps of the run the milestones belong to: from its run state, else the tutorial's."""
    run_dir = pathlib.Path(milestones).parent
    if (run_dir / RUN_STATE).exists():
        return RunState.read(run_dir).pretrain_steps
    return hparams.PRETRAIN_STEPS


def curve_files(out):
    """OUT.csv, OUT.png and OUT.json: each suffix added to ``out`` as given (``curve.v2`` -> ``curve.v2.csv``)."""
    return [pathlib.Path(f"{out}{suffix}") for suffix in (".csv", ".png", ".json")]


def quality_curve(milestones, out, evaluator, n=10_000, seed=0, pretrain_steps=None, progress=True,
                  references=None, name=None):
    """Evaluate every milestone checkpoint; write OUT.csv, OUT.png (metrics against iterations) and OUT.json
    (``curve_files``).

    Every checkpoint gets the same noise (``seed``), so the curve shows the generator changing, not
    the noise. Iteration = global step - pre-training steps. Returns (rows, reference rows).
    ``references``: reference rows already computed with the same n and seed (else computed here).
    ``name``: how the milestones folder is written in the JSON (default: its path), e.g. ``~/...``
    rather than a home directory's absolute path in files that get published; the title names the run.
    """
    check_n(n)
    checkpoints = milestone_checkpoints(milestones)
    pretrain_steps = run_pretrain_steps(milestones) if pretrain_steps is None else pretrain_steps
    references = evaluator.reference_rows(n, seed) if references is None else references
    rows = []
    for step, prefix in tqdm(checkpoints, disable=not progress, unit="checkpoint", desc="evaluating"):
        shown = prefix if name is None else str(pathlib.PurePath(name) / pathlib.Path(prefix).name)
        rows.append(dict(iteration=step - pretrain_steps, step=step, checkpoint=shown,
                         **evaluator.evaluate(sample(n, seed, prefix))))
    name = str(milestones) if name is None else str(name)
    csv_file, _, json_file = curve_files(out)
    write_curve_csv(rows, csv_file)
    write_json(json_file, dict(
        milestones=name, n=n, seed=seed, pretrain_steps=pretrain_steps,
        classifier_test_accuracy=evaluator.classifier.info.get("test_accuracy"), references=references, rows=rows))
    plot_saved_curve(json_file)
    return rows, references


def run_name(milestones):
    """The run a milestones folder belongs to, by its folder's name alone: ``main`` for
    ``~/.cache/ezgan/runs/main/milestones``. Pictures get published, and a path would show a machine."""
    folder = pathlib.PurePath(milestones)
    return folder.parent.name if folder.name == MILESTONES and folder.parent.name else folder.name


def plot_saved_curve(path):
    """Draw OUT.png from OUT.json (``quality_curve``'s), the one way the curve's picture is made: from the
    saved numbers alone, so it can be redrawn without measuring every checkpoint again."""
    path = pathlib.Path(path)
    curve = json.loads(path.read_text())
    title = f"run {run_name(curve['milestones'])}: {curve['n']:,} digits per point, noise seed {curve['seed']}"
    plot_curve(curve["rows"], curve["references"], path.with_suffix(".png"), title=title)


def write_curve_csv(rows, path):
    columns = ["iteration", "step", *METRICS, *(f"share_{digit}" for digit in range(10))]
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row["iteration"], row["step"], *(f"{row[name]:.6g}" for name in METRICS),
                         *(f"{share:.4f}" for share in row["digit_shares"])])
    with atomic_output(path) as file:
        file.write(text.getvalue().encode())


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
    with atomic_output(path) as file:
        figure.savefig(file, format="png", dpi=100)


