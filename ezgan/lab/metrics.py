"""The measures of a set of generated digits, as plain NumPy on what a classifier says about them.

A GAN's losses say little about how good its digits look. These measures judge them the way the
Inception Score and FID judge ImageNet samples, with a small MNIST classifier (``ezgan.lab.evaluate``)
in the place of the Inception network (which knows nothing useful about 28x28 digits). They take
the classifier's outputs, log p(y|x) (n, 10) and its penultimate features (n, d), and nothing else:

* classifier score, exp(E_x[KL(p(y|x) || p(y))]): high when each image is plainly one digit and
  all ten digits occur; 10 at most, 1 for a set of identical images. Mean and std over SPLITS splits;
* Fréchet distance between the classifier's penultimate features of the images and of the real
  test set, with FID's formula: 0 for the test set itself, larger the further apart the two are;
* the share of each digit among the predicted labels, their KL divergence from uniform (a
  generator that collapses onto a few digits shows here) and the share of images labelled with
  probability >= CONFIDENT.

``metrics_row`` computes all of them at once: one row of the tables ``ezgan evaluate`` prints.
``quality_targets`` says which of the bars of a good model (near the real rows) a row clears.
Wrong input (a shape, too few images) raises ValueError. This module imports no TensorFlow.
"""
import numpy as np

SPLITS = 10                         # the classifier score's mean and std are over this many splits
CONFIDENT = 0.9                     # an image counts as confidently labelled from this probability on
METRICS = ("classifier_score", "classifier_score_std", "frechet_distance", "digit_kl", "confident_share")


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


def classifier_score(log_probabilities, splits=SPLITS):
    """exp(E_x[KL(p(y|x) || p(y))]) on each of ``splits`` equal parts: (mean, std) over the parts.

    p(y) is the split's mean of p(y|x). Log-probabilities are floored at the log of the smallest
    normal double: a probability of exactly 0 (log -inf) then adds a vanishing term to the KL
    instead of NaN (from -inf minus -inf).
    """
    log_probabilities = np.maximum(np.asarray(log_probabilities, np.float64), np.log(np.finfo(np.float64).tiny))
    if log_probabilities.ndim != 2:
        raise ValueError(f"log-probabilities must be shaped (n, classes), got {log_probabilities.shape}")
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
    """The square root of a symmetric positive semi-definite matrix (eigenvalues rounded below 0 count as 0)."""
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


def label_agreement(log_probabilities, asked):
    """How often the classifier names the digit a conditional generator was asked for: (share of all images,
    [share among the images asked for d, for d in 0..9] (NaN for a digit never asked for))."""
    predicted = np.asarray(log_probabilities).argmax(axis=1)
    asked = np.asarray(asked)
    per_digit = [float(np.mean(predicted[asked == digit] == digit)) if np.any(asked == digit) else float("nan")
                 for digit in range(10)]
    return float(np.mean(predicted == asked)), per_digit


def metrics_row(log_probabilities, features, reference_statistics):
    """Every measure of one set of images: a dict of METRICS plus n and digit_shares (a list of 10).

    ``log_probabilities`` (n, 10) and ``features`` (n, d) are the classifier's outputs on the n
    images, n >= SPLITS; ``reference_statistics`` is ``feature_statistics`` of the set the Fréchet
    distance measures against (the real test set).
    """
    score, score_std = classifier_score(log_probabilities)
    shares, digit_kl, confident_share = label_statistics(log_probabilities)
    return dict(n=len(log_probabilities), classifier_score=score, classifier_score_std=score_std,
                frechet_distance=frechet_distance(feature_statistics(features), reference_statistics),
                digit_kl=digit_kl, confident_share=confident_share, digit_shares=shares.tolist())


# Issue #12's bar for "a classifier cannot tell them from real digits", each against a reference row.
SCORE_SHARE_OF_REAL = 0.95        # classifier score: at least this share of the real test set's
DIGIT_SHARE_RANGE = (0.07, 0.13)  # every digit's share of the generated digits (real: about 0.10 each)
MAX_DIGIT_KL = 0.02               # KL(digit shares || uniform)
FRECHET_TIMES_REAL = 3            # Fréchet distance: at most this many times real training images' to the test set


def shares_in_range(row):
    """Whether every digit's share in ``row`` (a metrics row) lies within DIGIT_SHARE_RANGE, its ends included."""
    low, high = DIGIT_SHARE_RANGE
    shares = np.asarray(row["digit_shares"])
    return bool(low <= shares.min() and shares.max() <= high)


def shares_in_range_since(rows):
    """The iteration of the first milestone of a quality curve's ``rows`` from which every milestone has every
    digit's share within DIGIT_SHARE_RANGE; None if the last milestone's are not."""
    since = None
    for row in rows:
        since = (since or row["iteration"]) if shares_in_range(row) else None
    return since


def quality_targets(row, references):
    """[(target, measured, met)] for a row of generated digits: the bar above, in words, against ``references``.

    ``references`` are ``Evaluator.reference_rows``' rows (their names start "real test set" and
    "real training images").
    """
    def reference(start):
        return next(row for name, row in references.items() if name.startswith(start))

    test, training = reference("real test set"), reference("real training images")
    score_bar = SCORE_SHARE_OF_REAL * test["classifier_score"]
    low, high = DIGIT_SHARE_RANGE
    shares = np.asarray(row["digit_shares"])
    distance_bar = FRECHET_TIMES_REAL * training["frechet_distance"]
    return [
        (f"classifier score ≥ {SCORE_SHARE_OF_REAL:.0%} of the real test set's ({score_bar:.2f})",
         f"{row['classifier_score']:.2f}", row["classifier_score"] >= score_bar),
        (f"every digit's share between {low:.0%} and {high:.0%}",
         f"{shares.min():.1%} (digit {shares.argmin()}) to {shares.max():.1%} (digit {shares.argmax()})",
         shares_in_range(row)),
        (f"KL(digit shares ‖ uniform) ≤ {MAX_DIGIT_KL}", f"{row['digit_kl']:.4f}", row["digit_kl"] <= MAX_DIGIT_KL),
        (f"Fréchet distance ≤ {FRECHET_TIMES_REAL}× real training images' ({distance_bar:.2f})",
         f"{row['frechet_distance']:.2f}", row["frechet_distance"] <= distance_bar),
    ]
