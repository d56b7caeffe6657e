"""Publish a training run: what ``pretrained/`` and ``tensorboard/tutorial-run/`` ship.

    python tools/publish.py [--run DIR] [--n 10000] [--seed 0] [--skip-curve]     (or: make publish)

From the run folder (a training run's ``--checkpoint-dir``, only read: the run may still be
training), in order, each step a function here so that the tests can run them on a tiny run:

1. ``export_latest``: the run's latest model checkpoint -> ``pretrained/``, model variables only,
   with its run.json (``ezgan.checkpoints.export_model``, what ``ezgan export`` runs);
2. ``write_samples``: the run's fixed-noise grid, drawn by that checkpoint -> ``pretrained/samples.png``;
3. ``training_gif``: the run's fixed-noise grids across training, labelled by iteration ->
   ``pretrained/training.gif``;
4. ``thin_events`` + ``write_events``: the run's TensorBoard events -> ``tensorboard/tutorial-run/``,
   every scalar, the graph, the images every ``IMAGE_EVERY`` iterations, orphaned steps purged;
5. ``evaluate_checkpoint`` (what ``ezgan evaluate --references`` measures) and, without
   ``--skip-curve``, ``ezgan.evaluate.quality_curve`` (what ``ezgan curve`` measures) ->
   ``pretrained/evaluation.json``, ``pretrained/quality_curve.{csv,png,json}``;
6. ``render_model_card``: ``pretrained/MODEL_CARD.md``, every number read from the files above and
   from ``pretrained/publish.json`` (the facts of the publication: machine, run, GIF, events).
"""
import argparse
import collections
import datetime
import io
import json
import os
import pathlib
import platform
import re
import shutil
import sys
import time

from ezgan.tfsetup import tensorflow

tf = tensorflow()

import numpy as np  # noqa: E402

from ezgan import evaluate, hparams, metrics, recipes  # noqa: E402
from ezgan.checkpoints import (GRIDS, MILESTONES, RUN_STATE, checkpoint_step, export_model,  # noqa: E402
                               read_run_state, resolve_checkpoint)
from ezgan.errors import EzganError  # noqa: E402
from ezgan.recipes import RECIPES, TUTORIAL, run_recipe, uses_fast_step  # noqa: E402
from ezgan.paths import REPO, pretrained_dir  # noqa: E402
from ezgan.sample import Sampler, save_grid, under_label  # noqa: E402
from ezgan.train import fixed_noise  # noqa: E402

v1 = tf.compat.v1
DEFAULT_RUN = "~/.cache/ezgan/runs/main"   # `make train`'s run (the Makefile's RUN_DIR)
TENSORBOARD_COPY = REPO / "tensorboard" / "tutorial-run"
# (make target, run, published folder, TensorBoard copy) of the two bundled models, as the card shows them.
PUBLISH_TARGETS = (("publish", DEFAULT_RUN, "pretrained", "tensorboard/tutorial-run"),
                   ("publish-improved", "~/.cache/ezgan/runs/improved", "pretrained/improved",
                    "tensorboard/improved-run"))
PUBLISH_INFO = "publish.json"   # the facts of a publication that no other shipped file holds
MODEL_CARD = "MODEL_CARD.md"
IMAGE_EVERY = 1000              # image summaries kept in the TensorBoard copy: every this many iterations
TENSORBOARD_MAX_BYTES = 10 * 1024 * 1024
MAX_FRAMES = 40
GIF_MAX_BYTES = 3_000_000
GIF_FRAME_MS = 200
GIF_LAST_FRAME_MS = 3000
GIF_SCALES = (2 / 3, 1 / 2, 1 / 3)  # of the grids' size (3 screen pixels per digit pixel): largest that fits
GIF_GRAY_LEVELS = 32               # grays in a frame: LZW packs 32 levels into half the bytes of 256
GRID_NAME = re.compile(r"step(\d+)\.png")   # the run's grids/ (ezgan.train names them): not checkpoints


class PublishError(EzganError):
    """The run cannot be published as it is (files missing or inconsistent, a size limit); the message says why."""


def shown_path(path):
    """``path`` as published files should show it: relative to the repository, else ``~/...``, else absolute."""
    path = pathlib.Path(path).expanduser().absolute()
    for root, prefix in ((REPO, ""), (pathlib.Path.home(), "~/")):
        try:
            return prefix + str(path.relative_to(root))
        except ValueError:
            pass
    return str(path)


# 1. Export ---------------------------------------------------------------------------------------

def latest_checkpoint_and_state(run_dir, attempts=20, wait=0.5):
    """(prefix, run state) of the run's latest model checkpoint, the run.json written with it.

    A training run saves its checkpoints first and run.json last: while it is between the two the
    step numbers differ, so this waits for them to agree (then the wall time in run.json is the
    checkpoint's own).
    """
    run_dir = pathlib.Path(run_dir).expanduser()
    if not (run_dir / RUN_STATE).exists():
        raise PublishError(f"{run_dir}: no {RUN_STATE} here; is this a training run's --checkpoint-dir?")
    for _ in range(attempts):
        prefix = resolve_checkpoint(run_dir)
        state = read_run_state(run_dir)
        if state["step"] == checkpoint_step(prefix):
            return prefix, state
        time.sleep(wait)
    raise PublishError(f"{run_dir}: {RUN_STATE} (step {state['step']}) does not match the latest "
                       f"checkpoint {prefix}")


def export_latest(run_dir, out_dir):
    """Export the run's latest model checkpoint to ``out_dir``; returns (exported prefix, the run's state).

    ``export_model`` writes ``out_dir/run.json`` from the run's run.json as it finds it; should
    the run have saved a newer checkpoint in between, the wall time written is set back to the
    exported checkpoint's.
    """
    source, state = latest_checkpoint_and_state(run_dir)
    saved = export_model(source, out_dir, overwrite=True)   # publishing replaces the model there, on purpose
    exported = pathlib.Path(out_dir) / RUN_STATE
    written = json.loads(exported.read_text())
    if written["elapsed_seconds"] != state["elapsed_seconds"]:
        written["elapsed_seconds"] = state["elapsed_seconds"]
        exported.write_text(json.dumps(written, indent=1))
    return saved, dict(state, checkpoint=source)


# 2. Samples --------------------------------------------------------------------------------------

def write_samples(sampler, seed, out):
    """The run's fixed-noise grid (10 x 10, the noise of every grid in its grids/) from ``sampler``'s checkpoint."""
    images = sampler.generate(fixed_noise(seed, sampler.z_dim))
    save_grid(images, out, columns=10)
    return images


# 3. GIF ------------------------------------------------------------------------------------------

def grid_files(grids_dir, until_step=None):
    """[(global step, path)] of the run's ``grids/stepNNNNNNN.png``, by step, up to ``until_step``."""
    found = []
    for path in pathlib.Path(grids_dir).expanduser().glob("step*.png"):
        match = GRID_NAME.fullmatch(path.name)
        if match and (until_step is None or int(match.group(1)) <= until_step):
            found.append((int(match.group(1)), path))
    if not found:
        raise PublishError(f"{grids_dir}: no grids (stepNNNNNNN.png) here")
    return sorted(found)


def select_frames(items, max_frames=MAX_FRAMES):
    """At most ``max_frames`` of ``items``, evenly spread, always the first and the last."""
    items = list(items)
    if max_frames < 2:
        raise ValueError(f"max_frames must be at least 2 (the first and the last), got {max_frames}")
    if len(items) <= max_frames:
        return items
    indices = np.unique(np.round(np.linspace(0, len(items) - 1, max_frames)).astype(int))
    return [items[index] for index in indices]


def labelled_frame(path, label, scale, levels=GIF_GRAY_LEVELS):
    """A grid image scaled by ``scale`` and reduced to ``levels`` grays, under a white band carrying ``label``.

    Nearest-neighbour scaling: at 2/3 or 1/3 of a grid saved with 3 pixels per digit pixel, every
    digit pixel becomes exactly 2 or 1 pixels, as sharp as the grid.
    """
    from PIL import Image

    with Image.open(path) as image:
        grid = image.convert("L")
    top = levels - 1
    grid = grid.resize((round(grid.width * scale), round(grid.height * scale)), Image.NEAREST).point(
        [round(round(value * top / 255) * 255 / top) for value in range(256)])
    return under_label(grid, label)


def training_gif(grids_dir, out, pretrain_steps, until_step=None, max_frames=MAX_FRAMES, max_bytes=GIF_MAX_BYTES,
                 scales=GIF_SCALES, frame_ms=GIF_FRAME_MS, last_frame_ms=GIF_LAST_FRAME_MS):
    """The fixed-noise grid across training as an animated GIF, each frame labelled with its iteration.

    The largest of ``scales`` whose GIF stays under ``max_bytes`` is used; the last frame is held
    ``last_frame_ms``. Returns a description (frames, iterations, scale, size in bytes).
    """
    available = grid_files(grids_dir, until_step)
    chosen = select_frames(available, max_frames)
    iterations = [step - pretrain_steps for step, _ in chosen]
    durations = [frame_ms] * (len(chosen) - 1) + [last_frame_ms]
    for scale in scales:
        frames = [labelled_frame(path, f"iteration {iteration:,}", scale)
                  for iteration, (_, path) in zip(iterations, chosen)]
        buffer = io.BytesIO()
        frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=durations,
                       loop=0, optimize=True)
        if buffer.tell() <= max_bytes:
            out = pathlib.Path(out)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(buffer.getvalue())
            return dict(frames=len(chosen), grids=len(available), iterations=iterations, scale=round(scale, 4),
                        width=frames[0].width, height=frames[0].height, bytes=buffer.tell(),
                        frame_ms=frame_ms, last_frame_ms=last_frame_ms)
    raise PublishError(f"{out}: even at scale {scales[-1]:.2f} the GIF of {len(chosen)} frames takes "
                       f"{buffer.tell():,} bytes, more than {max_bytes:,}; lower max_frames")


# 4. TensorBoard events ---------------------------------------------------------------------------

def event_files(logdir):
    """A logdir's event files in the order TensorBoard reads them (by name: the start time comes first)."""
    files = sorted(pathlib.Path(logdir).expanduser().glob("*tfevents*"))
    if not files:
        raise PublishError(f"{logdir}: no TensorBoard event files here")
    return files


def read_events(path, problems=None):
    """The events of one file. A truncated last record (a run still writing, or killed mid-write)
    ends the file instead of failing; it is noted in ``problems`` (a list) when given."""
    iterator = v1.train.summary_iterator(str(path))
    while True:
        try:
            yield next(iterator)
        except StopIteration:
            return
        except tf.errors.DataLossError as error:
            if problems is not None:
                problems.append(f"{pathlib.Path(path).name}: {error.message.strip()}")
            return


def is_image(value):
    return value.WhichOneof("value") == "image" or value.metadata.plugin_data.plugin_name == "images"


def thin_summary(event, image_every):
    """The event itself at a multiple of ``image_every``, else a copy without its images (None if nothing is left)."""
    if event.step % image_every == 0 or not any(is_image(value) for value in event.summary.value):
        return event
    kept = [value for value in event.summary.value if not is_image(value)]
    if not kept:
        return None
    thinned = v1.Event()
    thinned.CopyFrom(event)
    del thinned.summary.value[:]
    thinned.summary.value.extend(kept)
    return thinned


def thin_events(files, image_every=IMAGE_EVERY, until=None):
    """The events of a run's event files as the TensorBoard copy keeps them; returns (events, statistics).

    * every scalar; image summaries only at steps that are multiples of ``image_every``;
    * the first graph and the first meta graph; no file_version (the writer adds its own) and no
      session logs (their work is done here);
    * a SessionLog START at step s (written when a run resumes) drops the summaries kept so far at
      steps >= s, as TensorBoard does (its ``_Purge`` keeps ``step < s``): the orphans a killed
      run logged after its last checkpoint, which the resumed run logs again;
    * ``until``: summaries at steps >= until are dropped too (the copy then ends where a run
      stopped at that iteration and resumed from there would).

    The summaries left must have strictly increasing steps, or a ValueError says where not.
    """
    kept, graphs, problems = [], set(), []
    stats = collections.Counter(sessions=0, purged=0, after_until=0, images_dropped=0)
    for path in files:
        for event in read_events(path, problems):
            kind = event.WhichOneof("what")
            stats[f"read_{kind}"] += 1
            if kind in ("graph_def", "meta_graph_def"):
                if kind not in graphs:
                    graphs.add(kind)
                    kept.append(event)
            elif kind == "session_log":
                if event.session_log.status == v1.SessionLog.START:
                    stats["sessions"] += 1
                    before = len(kept)
                    kept = [old for old in kept if not (old.HasField("summary") and old.step >= event.step)]
                    stats["purged"] += before - len(kept)
            elif kind == "summary":
                if until is not None and event.step >= until:
                    stats["after_until"] += 1
                    continue
                thinned = thin_summary(event, image_every)
                if thinned is not None:
                    kept.append(thinned)
                    if thinned is not event:
                        stats["images_dropped"] += sum(map(is_image, event.summary.value))
    steps = [event.step for event in kept if event.HasField("summary")]
    for earlier, later in zip(steps, steps[1:]):
        if later <= earlier:
            raise PublishError(f"after the purge, step {later} follows step {earlier}: duplicate or out-of-order "
                             f"summaries in {', '.join(path.name for path in files)}")
    summaries = [event for event in kept if event.HasField("summary")]
    stats.update(
        summary_events=len(summaries),
        scalar_values=sum(not is_image(value) for event in summaries for value in event.summary.value),
        image_values=sum(is_image(value) for event in summaries for value in event.summary.value),
        image_steps=sum(any(map(is_image, event.summary.value)) for event in summaries),
        graphs=len(graphs))
    stats = dict(stats, first_step=steps[0] if steps else None, last_step=steps[-1] if steps else None,
                 truncated=problems, files=[path.name for path in files])
    return kept, stats


def folder_bytes(folder):
    return sum(path.stat().st_size for path in pathlib.Path(folder).rglob("*") if path.is_file())


def write_events(events, out_dir, max_bytes=TENSORBOARD_MAX_BYTES):
    """Replace ``out_dir`` with one event file holding ``events``; returns its size in bytes.

    Raises RuntimeError when the folder comes out larger than ``max_bytes``.
    """
    out_dir = pathlib.Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    with tf.Graph().as_default():  # FileWriter refuses eager mode; a graph context is enough
        writer = v1.summary.FileWriter(str(out_dir))
        try:
            for event in events:
                writer.add_event(event)
        finally:
            writer.close()
    size = folder_bytes(out_dir)
    if size > max_bytes:
        raise PublishError(f"{out_dir} takes {size:,} bytes, more than the {max_bytes:,} allowed: "
                           f"keep fewer images (a larger image_every)")
    return size


# 5. Evaluation -----------------------------------------------------------------------------------

def evaluate_checkpoint(sampler, evaluator, n, seed, name):
    """The evaluator's rows for ``sampler``'s checkpoint (named ``name``) and the reference rows.

    Returns (the record ``ezgan evaluate --references --json`` writes, the reference rows).
    ``sampler.sample(n, seed)`` is ``ezgan.sample.sample(n, seed, checkpoint)``: the same digits.
    """
    rows = {name: evaluator.evaluate(sampler.sample(n, seed))}
    references = evaluator.reference_rows(n, seed)
    rows.update(references)
    classifier = evaluator.classifier
    record = dict(checkpoint=name, n=n, seed=seed, classifier=shown_path(classifier.checkpoint),
                  classifier_test_accuracy=classifier.info.get("test_accuracy"), rows=rows)
    return record, references


# 6. Model card -----------------------------------------------------------------------------------

def machine():
    """CPU model and core count of this machine, from /proc/cpuinfo where there is one."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return dict(cpu=cpu, cores=os.cpu_count(), gpus=len(tf.config.list_physical_devices("GPU")),
                system=f"{platform.system()} {platform.release()}")


def train_command(run, state):
    """The command that started the run (its schedule flags only where they differ from its recipe's defaults)."""
    recipe = run_recipe(state)
    flags = [] if recipe == TUTORIAL else [f"--recipe {recipe_name(recipe)}"]
    flags.append(f"--seed {state['seed']}")
    if state["pretrain_steps"] != recipe.pretrain_steps:
        flags.append(f"--pretrain-steps {state['pretrain_steps']}")
    if state["iterations"] != hparams.ITERATIONS:
        flags.append(f"--iterations {state['iterations']}")
    return f"ezgan train {' '.join(flags)} --checkpoint-dir {run} --logdir {run}/tensorboard"


def recipe_name(recipe):
    """The recipe's name in ``RECIPES``; PublishError for a recipe of its own (no command would rebuild it)."""
    name = recipes.recipe_name(recipe)
    if name is None:
        raise PublishError(f"the run's recipe ({recipe.describe()}) is none of the named ones: {', '.join(RECIPES)}")
    return name


def publish_command(run, out, tensorboard):
    """The command that writes this publication: a make target for the two bundled models, else the script."""
    for target, default_run, default_out, default_tensorboard in PUBLISH_TARGETS:
        if (run, out, tensorboard) == (default_run, default_out, default_tensorboard):
            return f"make {target}"
    return f"python tools/publish.py --run {run} --out {out} --tensorboard {tensorboard}"


def _duration(seconds):
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min {rest % 60:02d} s"


def _gpus(count):
    return "no GPU" if not count else f"{count} GPU{'s' if count > 1 else ''}"


def _reference(rows, start):
    for name, row in rows.items():
        if name.startswith(start):
            return name, row
    return None, None


def _metrics_table(rows, first_label):
    lines = ["| digits | classifier score | Fréchet distance | KL(digits ‖ uniform) | "
             f"labelled with p ≥ {metrics.CONFIDENT} |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for number, (name, row) in enumerate(rows.items()):
        label = first_label if number == 0 else name
        lines.append(f"| {label} | {row['classifier_score']:.3f} ± {row['classifier_score_std']:.3f} | "
                     f"{row['frechet_distance']:.3f} | {row['digit_kl']:.4f} | {100 * row['confident_share']:.1f}% |")
    return "\n".join(lines)


def _shares_table(rows, first_label):
    lines = ["| digits | " + " | ".join(str(digit) for digit in range(10)) + " |",
             "| --- |" + " ---: |" * 10]
    for number, (name, row) in enumerate(rows.items()):
        label = first_label if number == 0 else name
        lines.append(f"| {label} | " + " | ".join(f"{100 * share:.1f}" for share in row["digit_shares"]) + " |")
    return "\n".join(lines)


def curve_sentence(curve):
    """What the quality curve shows, in words, from its rows and reference rows."""
    rows = curve["rows"]
    first, last = rows[0], rows[-1]
    if len(rows) == 1:
        text = (f"So far there is one milestone, iteration {first['iteration']:,}: classifier score "
                f"{first['classifier_score']:.2f}, Fréchet distance {first['frechet_distance']:.1f}.")
    else:
        best_score = max(rows, key=lambda row: row["classifier_score"])
        best_distance = min(rows, key=lambda row: row["frechet_distance"])
        text = (f"Over {len(rows)} milestones, from iteration {first['iteration']:,} to {last['iteration']:,}, "
                f"the classifier score went from {first['classifier_score']:.2f} to {last['classifier_score']:.2f} "
                f"(best {best_score['classifier_score']:.2f}, at iteration {best_score['iteration']:,}) and the "
                f"Fréchet distance from {first['frechet_distance']:.1f} to {last['frechet_distance']:.1f} "
                f"(best {best_distance['frechet_distance']:.1f}, at iteration {best_distance['iteration']:,}).")
        later = [row for row in rows if row["iteration"] > best_score["iteration"]]
        if later:
            scores = [row["classifier_score"] for row in later]
            text += (f" After its best milestone the score did not climb back: over the {len(later)} milestones "
                     f"that followed it stayed between {min(scores):.2f} and {max(scores):.2f}, so more "
                     f"iterations of this recipe did not make better digits.")
        rare = [digit for digit in range(10) if max(row["digit_shares"][digit] for row in rows) < 0.01]
        if rare:
            text += (f" Digit{'s' if len(rare) > 1 else ''} {', '.join(map(str, rare))} stayed under 1% of the "
                     f"digits at every milestone (real digits: about 10% each): the generator never learned "
                     f"to write {'them' if len(rare) > 1 else 'it'}.")
    _, real = _reference(curve["references"], "real training images")
    _, untrained = _reference(curve["references"], "untrained generator")
    if real and untrained:
        text += (f" For scale: {curve['n']:,} real training images score {real['classifier_score']:.2f} at "
                 f"distance {real['frechet_distance']:.1f}, the untrained generator "
                 f"{untrained['classifier_score']:.2f} at {untrained['frechet_distance']:.1f}.")
    return text


TUTORIAL_SCHEDULE_NOTE = """\
The networks, losses, optimizers, learning rates, batch size and schedule are the tutorial's
(`ezgan/hparams.py`); the variables carry the original checkpoint's names and shapes. What differs
in how it was trained (README, "What is faithful, and what changed"):

"""
FAST_STEP_NOTES = """\
- **The two discriminator updates are ordered and locked.** The tutorial runs `d_trainer_real` and
  `d_trainer_fake` in one `sess.run`, so both write the same weights at once, unlocked, and two
  identical runs end differently. Here their Adam optimizers use `use_locking=True` and the
  training step applies the real-image update, then the fake-image one, both computed from the
  weights the step started with. One op (`train_step`) does the whole iteration (D on real and
  fake, then G on fresh noise through the updated D); a test shows it matches the tutorial's
  two-call loop (`--literal`) to float32 rounding.
- **The same function, less arithmetic.** In the training step each bilinear resize of the
  generator is folded into the stride-2 convolution that reads it (a 2x2 convolution on the
  28x28 map with the taps combined), and matmul gradients are computed transposed. Sampling and
  the summaries use the tutorial's layers; they agree to float32 rounding.
"""
PORT_NOTES = """\
- **Deterministic inputs.** The tutorial drew its noise and shuffled its data with NumPy's
  unseeded global generator. Here the real batch and the three noise batches of every step are
  functions of the seed and the step (the 55,000 training images are reshuffled every epoch as a
  function of seed and epoch), so the run is reproducible and `--resume` continues exactly where
  a checkpoint left off.
- **Summaries as in the tutorial**: every 10 iterations a separate `sess.run`, after the training
  step, computes the losses and five images on the step's real batch and fresh noise; they do not
  feed back into training.
- **Batch norm as `tf.contrib.layers.batch_norm` did it**, written out since contrib is gone:
  centred, no scale, epsilon 1e-5, always the statistics of the batch in hand; its moving averages
  exist but are never updated, as in the tutorial (so sampling also generates in batches of 50).
- **`tf.nn.bias_add`** in place of `+ bias`: the same sums, fused into the convolution.
"""
def recipe_notes(recipe):
    """One bullet per way ``recipe`` differs from the tutorial's, in words, with the tutorial's value."""
    words = {
        "guided": lambda value: (
            "**jonbruner/ezgan's guided controller** (its `gan-controlled.py`) instead of one D step and one G "
            "step per iteration: each iteration runs, in this order, a D step on generated images if D's last "
            f"known loss on them is above {recipes.D_FAKE_THRESHOLD}, a G step if G's is above "
            f"{recipes.G_THRESHOLD}, and a D step on real images if D's loss on them is above "
            f"{recipes.D_REAL_THRESHOLD}, each on its own noise batch (`ezgan.recipes.guided_updates`). The "
            "number of updates of each kind is logged to TensorBoard (`d_fake_count`, `g_count`, `d_real_count`)."),
        "pretrain": lambda value: (
            f"**No discriminator pre-training** (the tutorial's: {hparams.PRETRAIN_STEPS} D-only steps before the "
            "main loop)."),
        "label_smoothing": lambda value: (
            f"**Real label {value:g}** (one-sided label smoothing; the tutorial's is 1): D's loss on real images "
            f"aims at {value:g}, so D is never pushed to certainty on them."),
        "beta1": lambda value: f"**Adam β1 = {value:g}** for all three optimizers (the tutorial's: TF's default 0.9).",
        "one_d_optimizer": lambda value: (
            "**One Adam optimizer for D, on the sum of its two losses** (the tutorial's: one on the loss on real "
            "images, one on the loss on generated images). Each of the tutorial's two takes steps of about its "
            "learning rate whatever its loss, so nothing pulls D's overall level back when it drifts (notebook 9)."),
        "discriminator": lambda value: (
            "**The DCGAN-style discriminator** (`ezgan.recipes.dcgan_discriminator`) in place of the tutorial's: "
            "4×4 stride-2 convolutions to 14×14×64 and 7×7×128 with leaky ReLUs (batch norm on the second), one "
            "dense layer to the logit (variables `d_dc_*`)."),
        "leaky_relu": lambda value: (
            f"**Leaky ReLU in D** (slope {recipes.LEAKY_SLOPE}) in place of ReLU: the same layers and variables."),
        "minibatch_stddev": lambda value: (
            "**D sees the spread of its batch** (`ezgan.recipes.minibatch_stddev`, ProGAN's minibatch standard "
            "deviation): one more 7×7 map before D's dense layer, the standard deviation of each feature over the "
            "batch, averaged. A generator that draws few kinds of digit makes batches less varied than real ones, "
            "which D can then see."),
        "generator": lambda value: (
            f"**The DCGAN-style generator** (`ezgan.recipes.{recipes.GENERATOR_FUNCTIONS[value].__name__}`) in place "
            f"of the tutorial's: dense to 7×7×{recipes.DCGAN_WIDTHS[value]} maps, batch norm, ReLU, two 4×4 stride-2 "
            "transposed convolutions to 28×28, sigmoid (variables `g_dc_*`)."),
        "ema_decay": lambda value: (
            f"**Sampled from a moving average of G's weights** (decay {value:g}): the checkpoint's generator "
            "variables hold the averages, which change more slowly than the weights being trained."),
        "d_learning_rate": lambda value: f"**D's learning rate {value:g}** (the tutorial's: {hparams.D_LEARNING_RATE:g}).",
        "g_learning_rate": lambda value: f"**G's learning rate {value:g}** (the tutorial's: {hparams.G_LEARNING_RATE:g}).",
    }
    return "\n".join(f"- {words[key](value)}" for key, value in recipe.to_dict().items()
                     if getattr(TUTORIAL, key) != value)


def literal_loop_note(recipe):
    updates = "the discriminator's one update" if recipe.one_d_optimizer else "both discriminator updates"
    return (f"- **The tutorial's own loop** (`ezgan.train.literal_iteration`): {updates} in one\n"
            "  `sess.run`, then the generator's, as the tutorial wrote it.\n")
RECIPE_PORT_NOTE = """\
Besides its recipe, it was trained as the tutorial's bundled model was (README, "What is faithful,
and what changed"):

"""


def training_notes(recipe):
    """The card's lines on how training differed from the tutorial's: the recipe, then the port's notes."""
    fast = FAST_STEP_NOTES if uses_fast_step(recipe) else ""
    if recipe == TUTORIAL:
        return ["### How training differs from the tutorial", "", TUTORIAL_SCHEDULE_NOTE + fast + PORT_NOTES]
    loop = "" if recipe.guided or fast else literal_loop_note(recipe)
    return ["### The recipe: how it differs from the tutorial's", "", recipe_notes(recipe), "",
            "### And as for the tutorial's model", "", RECIPE_PORT_NOTE + fast + loop + PORT_NOTES]


def pretraining(steps):
    return f"{steps:,} discriminator pre-training steps" if steps else "no discriminator pre-training"


def milestone_spacing(curve):
    rows = curve["rows"]
    return f" (one every {rows[1]['iteration'] - rows[0]['iteration']:,} iterations)" if len(rows) > 1 else ""


def render_model_card(folder=None):
    """MODEL_CARD.md's text, every number read from the files in ``folder`` (default: ``pretrained/``).

    Needs run.json, publish.json, evaluation.json and classifier/classifier.json; the curve,
    sample and GIF sections appear when quality_curve.json, samples.png and training.gif exist.
    """
    folder = pathlib.Path(pretrained_dir() if folder is None else folder)

    def load(name):
        return json.loads((folder / name).read_text())

    run, info, evaluation = load(RUN_STATE), load(PUBLISH_INFO), load("evaluation.json")
    classifier_file = folder / "classifier" / evaluate.CLASSIFIER_INFO
    classifier = json.loads(classifier_file.read_text()) if classifier_file.exists() else {}
    iterations, target = run["iterations"], info["target_iterations"]
    recipe, shown = run_recipe(run), info.get("out", "pretrained")
    republish = info.get("publish_command", "make publish")
    if recipe == TUTORIAL:
        card = [f"# Model card: ezgan's pretrained GAN (iteration {iterations:,})", ""]
        trained = "trained by this project"
    else:
        card = [f"# Model card: ezgan's GAN trained with the {recipe_name(recipe)} recipe (iteration {iterations:,})",
                ""]
        trained = (f"trained by this project with the {recipe_name(recipe)} recipe beyond the tutorial "
                   f"(`ezgan train --recipe {recipe_name(recipe)}`, below),")
    card += ["The generator and discriminator of the MNIST GAN of the O'Reilly tutorial \"Generative Adversarial "
             f"Networks for Beginners\" (Jon Bruner and Adit Deshpande, 2017), {trained} on TensorFlow "
             f"{info['tensorflow']} in the tutorial's TF1 style. This card and the files beside it (all but "
             f"`classifier/`) were written by `{republish}` (`tools/publish.py`) on "
             f"{info['published']}, from the training run in `{info['run']}`.", ""]
    if iterations < target:
        card += [f"**Interim checkpoint: {iterations:,} of the {target:,} iterations the run is going to train.** "
                 f"The run was still training when this was published; `{republish}` replaces these files "
                 "with a later checkpoint.", ""]
    else:
        card += [f"The run is complete: all {target:,} iterations.", ""]

    wall = run["elapsed_seconds"]
    sessions = info["tensorboard"].get("sessions", 1)
    resumed = (f"resumed {sessions - 1} time{'s' if sessions > 2 else ''} with "
               f"`ezgan train --resume --checkpoint-dir {info['run']}`" if sessions > 1
               else "not resumed so far; an interrupted run continues with "
                    f"`ezgan train --resume --checkpoint-dir {info['run']}`")
    card += ["## Training", "",
             "| | |", "| --- | --- |",
             f"| command | `{info['command']}` ({resumed}) |",
             f"| seed | {run['seed']} (initial weights, data order, noise) |",
             f"| schedule | {pretraining(run['pretrain_steps'])}, then iterations of "
             + ("the guided controller's updates" if recipe.guided else "one D step and one G step")
             + f", batches of {hparams.BATCH_SIZE} |",
             f"| iterations reached | {iterations:,} of {target:,} (global step {run['step']:,}) |",
             f"| wall time | {_duration(wall)} ({wall:,.0f} s, {wall / max(iterations, 1) * 1000:.0f} ms per "
             "iteration, pre-training included) |",
             f"| machine | {info['machine']['cpu']}, {info['machine']['cores']} cores, "
             f"{_gpus(info['machine'].get('gpus', 0))}; {info['machine']['system']} |",
             f"| software | TensorFlow {info['tensorflow']}, Python {info['python']} |",
             f"| checkpoint | `{shown}/model.ckpt-{run['step']}` (model variables only, the original's layout), "
             f"from `{info['checkpoint']}` |", "",
             "The wall time is the training process's own clock, summed over its sessions (time between "
             "sessions not counted). Training shared the machine's cores with other work (tests, notebooks, "
             "evaluations), so the machine alone would be faster.", "",
             *training_notes(recipe)]

    rows = evaluation["rows"]
    accuracy = evaluation.get("classifier_test_accuracy") or classifier.get("test_accuracy")
    first_label = f"**this checkpoint** (iteration {iterations:,})"
    references = dict(list(rows.items())[1:])
    card += ["## Evaluation", "",
             f"{evaluation['n']:,} digits generated from noise seed {evaluation['seed']}, judged by the project's "
             f"MNIST classifier (`{evaluation['classifier']}`, {100 * accuracy:.2f}% on the MNIST test set), "
             "next to reference rows that give the numbers their scale. Classifier score: the Inception Score "
             f"with this classifier (10 at most; mean ± std over {metrics.SPLITS} splits). Fréchet distance: "
             f"FID's formula on the classifier's {evaluate.FEATURES} penultimate features, against the MNIST "
             "test set's. Then how evenly the predicted digits are spread, and how many are labelled with "
             f"probability ≥ {metrics.CONFIDENT}.", "",
             _metrics_table(rows, first_label), "",
             "Share of each predicted digit (%):", "",
             _shares_table(rows, first_label), "",
             f"Reproduce: `ezgan evaluate --checkpoint {shown} --n {evaluation['n']} "
             f"--seed {evaluation['seed']} --references --json {shown}/evaluation.json`.", "",
             "### Against the bar of a good model", "",
             "What a classifier could not tell from real digits would clear every line (each bar from the "
             "reference rows above):", "",
             "| target | this checkpoint | met |", "| --- | --- | --- |",
             *(f"| {target} | {measured} | {'yes' if met else '**no**'} |"
               for target, measured, met in metrics.quality_targets(next(iter(rows.values())), references)),
             ""]

    if (folder / "quality_curve.json").exists():
        curve = load("quality_curve.json")
        card += ["## Quality across training", "",
                 "![quality curve](quality_curve.png)", "",
                 f"Every milestone checkpoint of the run{milestone_spacing(curve)} judged like the row above, "
                 f"{curve['n']:,} digits from noise seed {curve['seed']} each (the same noise for all). "
                 + curve_sentence(curve) + " The numbers are in `quality_curve.csv` and `quality_curve.json`.", "",
                 f"Reproduce: `ezgan curve --milestones {curve['milestones']} "
                 f"--out {shown}/quality_curve --n {curve['n']} --seed {curve['seed']} --overwrite`.", ""]

    if (folder / "samples.png").exists():
        card += ["## Samples", "",
                 "![100 digits from the fixed noise](samples.png)", "",
                 f"The run's fixed-noise grid, drawn by this checkpoint: 100 noise vectors "
                 f"(`ezgan.train.fixed_noise({run['seed']}, {hparams.Z_DIM})`), the same ones behind every grid the "
                 f"run saved as it trained, so this is the last frame of the animation below. Reproduce: "
                 f"`{republish}`. Other digits: `ezgan sample --checkpoint {shown} --n 64 --seed 0 "
                 "--out digits.png` (`make run` writes these to `samples.png` in the repository's root).", ""]
    if (folder / "training.gif").exists():
        gif = info["gif"]
        card += ["## Training, animated", "",
                 "![the fixed-noise grid across training](training.gif)", "",
                 "The fixed-noise grid at "
                 + (f"each of the run's {gif['grids']}" if gif["frames"] == gif["grids"]
                    else f"{gif['frames']} of the run's {gif['grids']}, evenly spread,")
                 + f" checkpoints, from iteration "
                 f"{gif['iterations'][0]:,} (just after pre-training) to {gif['iterations'][-1]:,}, "
                 f"{gif['frame_ms']} ms a frame, the last held {gif['last_frame_ms'] / 1000:g} s "
                 f"({gif['width']}×{gif['height']} pixels, {gif['bytes'] / 1e6:.1f} MB). Reproduce: "
                 f"`{republish}` (from the run's `grids/`).", ""]

    events = info["tensorboard"]
    card += ["## TensorBoard", "",
             f"`{events['path']}/` holds the run's events up to iteration {iterations:,} "
             f"({events['bytes'] / 1e6:.1f} MB): the three losses every {hparams.SUMMARY_EVERY} iterations "
             f"({events['summary_events']:,} points each, iterations {events['first_step']:,} to "
             f"{events['last_step']:,}), the graph, and the five generated images every "
             f"{events['image_every']:,} iterations ({events['image_steps']:,} steps; the run logged them every "
             f"{hparams.SUMMARY_EVERY}). `make tensorboard` serves it; `{republish}` rewrites it.", ""]

    card += ["## Reproduce", "",
             "```bash",
             f"{info['command']}   # train (hours on a CPU)",
             f"ezgan train --resume --checkpoint-dir {info['run']}   # continue after an interruption",
             f"{republish}   # {shown}/ (checkpoint, samples.png, training.gif, evaluation, curve, this card) "
             f"and {events['path']}/",
             f"ezgan evaluate --checkpoint {shown} --n {evaluation['n']} --seed {evaluation['seed']} "
             "--references   # the evaluation table alone",
             "```", "",
             "Training is deterministic on a given machine and TensorFlow build; another CPU or build may round "
             "differently and end elsewhere.", ""]
    return "\n".join(card)


# The whole publication -------------------------------------------------------------------------

def publish(run_dir=DEFAULT_RUN, out_dir=None, tensorboard_out=TENSORBOARD_COPY, n=10_000, seed=0,
            curve=True, classifier=None, image_every=IMAGE_EVERY, log=print):
    """Every step above, in order; ``log`` gets a line per step (with its time).

    ``out_dir`` defaults to ``pretrained/``, ``classifier`` (the evaluator's checkpoint) to
    ``pretrained/classifier``.
    """
    run_dir = pathlib.Path(run_dir).expanduser()
    out_dir = pathlib.Path(pretrained_dir() if out_dir is None else out_dir)
    clock = time.perf_counter()

    def done(what):
        nonlocal clock
        now = time.perf_counter()
        log(f"[{now - clock:6.1f} s] {what}")
        clock = now

    exported, state = export_latest(run_dir, out_dir)
    step = checkpoint_step(exported)
    iteration = step - state["pretrain_steps"]
    done(f"exported {shown_path(state['checkpoint'])} -> {shown_path(exported)} (iteration {iteration:,})")

    sampler = Sampler(out_dir)
    try:
        write_samples(sampler, state["seed"], out_dir / "samples.png")
        done(f"wrote {shown_path(out_dir / 'samples.png')}")

        gif = training_gif(run_dir / GRIDS, out_dir / "training.gif", state["pretrain_steps"], until_step=step)
        done(f"wrote {shown_path(out_dir / 'training.gif')}: {gif['frames']} frames of {gif['grids']}, "
             f"{gif['width']}x{gif['height']}, {gif['bytes']:,} bytes")

        events, stats = thin_events(event_files(run_dir / "tensorboard"), image_every, until=iteration)
        size = write_events(events, tensorboard_out)
        for problem in stats["truncated"]:
            log(f"  note: {problem} (a run still writing: the record is left out)")
        done(f"wrote {shown_path(tensorboard_out)}: {size:,} bytes ({size / 2**20:.2f} MiB); "
             f"{stats['summary_events']:,} summaries (iterations {stats['first_step']}..{stats['last_step']}), "
             f"images at {stats['image_steps']} steps, {stats['purged']} orphaned summaries purged, "
             f"{stats['sessions']} session(s)")

        evaluator = evaluate.Evaluator(classifier)
        try:
            record, references = evaluate_checkpoint(sampler, evaluator, n, seed, shown_path(exported))
            (out_dir / "evaluation.json").write_text(json.dumps(record, indent=1) + "\n")
            log(evaluate.format_table(record["rows"]))
            done(f"wrote {shown_path(out_dir / 'evaluation.json')}")
            if curve:
                milestones = run_dir / MILESTONES
                rows, _ = evaluate.quality_curve(milestones, out_dir / "quality_curve", evaluator, n, seed,
                                                 references=references, name=shown_path(milestones))
                log(evaluate.format_table({f"iteration {row['iteration']:,}": row for row in rows}))
                done(f"wrote {shown_path(out_dir / 'quality_curve')}.{{csv,png,json}}: {len(rows)} milestone(s)")
        finally:
            evaluator.close()
    finally:
        sampler.close()

    info = dict(
        run=shown_path(run_dir), checkpoint=shown_path(state["checkpoint"]), out=shown_path(out_dir),
        publish_command=publish_command(shown_path(run_dir), shown_path(out_dir), shown_path(tensorboard_out)),
        command=train_command(shown_path(run_dir), state), target_iterations=state["iterations"],
        machine=machine(), tensorflow=tf.__version__, python=platform.python_version(),
        published=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        gif=gif,
        tensorboard=dict(path=shown_path(tensorboard_out), bytes=size, image_every=image_every,
                         **{key: value for key, value in stats.items() if key != "truncated"}))
    (out_dir / PUBLISH_INFO).write_text(json.dumps(info, indent=1) + "\n")
    (out_dir / MODEL_CARD).write_text(render_model_card(out_dir))
    done(f"wrote {shown_path(out_dir / PUBLISH_INFO)} and {shown_path(out_dir / MODEL_CARD)}")
    return info


# The command line --------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default=DEFAULT_RUN, help=f"the training run's folder (default {DEFAULT_RUN})")
    parser.add_argument("--n", type=int, default=10_000, help="digits per evaluated row (default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed of the evaluation (default 0)")
    parser.add_argument("--skip-curve", action="store_true",
                        help="do not measure the milestones (the quality curve): saves most of the time")
    parser.add_argument("--out", default=None,
                        help="where the checkpoint and its files go (default: pretrained/ of the checkout)")
    parser.add_argument("--tensorboard", default=str(TENSORBOARD_COPY),
                        help="folder for the TensorBoard copy (replaced)")
    parser.add_argument("--image-every", type=int, default=IMAGE_EVERY,
                        help=f"keep image summaries every this many iterations (default {IMAGE_EVERY})")
    parser.add_argument("--card-only", action="store_true",
                        help="only render MODEL_CARD.md again from the files already in --out (after a change of "
                             "the card's template or of the commands it names); no run needed")
    args = parser.parse_args(argv)

    if args.card_only:
        folder = pathlib.Path(args.out) if args.out else pretrained_dir()
        (folder / MODEL_CARD).write_text(render_model_card(folder))
        print(f"wrote {folder / MODEL_CARD}")
        return
    started = time.perf_counter()
    try:
        publish(args.run, args.out, args.tensorboard, n=args.n, seed=args.seed, curve=not args.skip_curve,
                image_every=args.image_every)
    except EzganError as error:
        sys.exit(f"error: {error}")
    print(f"published in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
