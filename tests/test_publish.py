"""Publishing a run (``tools/publish.py``, what ``make publish`` runs) on a tiny real run.

The run (``ezgan.train.train``: 2 pre-training steps, 20 iterations, a summary every 5, a
checkpoint every 10, since each saves ~80 MB) is resumed once the way a killed run is: its
checkpoint index is pointed back to iteration 10 after it had logged summaries up to iteration 15,
and ``train(resume=True)`` goes on from there, writing a second events file that starts with a
SessionLog START at iteration 10. No classifier runs here: the end-to-end test swaps in a
stand-in evaluator.
"""
import dataclasses
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
import types

import jinja2
import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ezgan.lab import evaluate
from ezgan.paths import REPO
from ezgan.lab.recipes import RECIPES
from ezgan.runs.state import RunState
from ezgan.runs.training import train
from tools import animation, events, model_card, publish

RUN = dict(iterations=20, pretrain_steps=2, seed=3, checkpoint_every=10, summary_every=5, milestone_every=10,
           progress=False)
SCALARS = ["Discriminator_loss_fake", "Discriminator_loss_real", "Generator_loss"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run = tmp_path_factory.mktemp("publish") / "run"
    train(logdir=str(run / "tensorboard"), checkpoint_dir=str(run), **RUN)
    # As if killed after logging iteration 15 with its last checkpoint at iteration 10 (global step 12).
    (run / "checkpoint").write_text('model_checkpoint_path: "train.ckpt-12"\n')
    dataclasses.replace(RunState.read(run), step=12).save(run)   # written after each checkpoint
    time.sleep(1.1)  # event file names carry their start time in seconds: the resumed run gets a new file
    train(checkpoint_dir=str(run), resume=True, **RUN)
    assert len(events.event_files(run / "tensorboard")) == 2
    return run


def summary_steps(kept, image=None):
    return [event.step for event in kept if event.HasField("summary")
            and (image is None or any(map(events.is_image, event.summary.value)) == image)]


@pytest.mark.slow
def test_thinning_keeps_every_scalar_thins_the_images_and_purges_the_orphans(run, tmp_path):
    files = events.event_files(run / "tensorboard")
    raw = [event for path in files for event in events.read_events(path)]
    assert summary_steps(raw) == [0, 5, 10, 15, 10, 15]  # the orphans at 10 and 15, then the resumed run's

    kept, stats = events.thin_events(files, image_every=10)
    assert summary_steps(kept) == [0, 5, 10, 15]
    assert summary_steps(kept, image=True) == [0, 10]
    assert stats["sessions"] == 2 and stats["purged"] == 2 and stats["graphs"] == 2
    assert stats["scalar_values"] == 3 * 4 and stats["image_values"] == 5 * 2
    assert stats["images_dropped"] == 5 * 3  # at 5 and 15, and at the orphaned 15 (before the purge)
    resumed_start = next(events.read_events(files[1])).wall_time
    assert all(event.wall_time >= resumed_start for event in kept if event.HasField("summary") and event.step >= 10)

    size = events.write_events(kept, tmp_path / "copy")
    assert size == events.folder_bytes(tmp_path / "copy") > 0
    copy = EventAccumulator(str(tmp_path / "copy"), size_guidance={"scalars": 0, "images": 0}).Reload()
    original = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0}).Reload()
    assert sorted(copy.Tags()["scalars"]) == SCALARS
    for tag in SCALARS:  # what TensorBoard shows of the run itself, after its own purge
        assert copy.Scalars(tag) == original.Scalars(tag)
    assert [image.step for image in copy.Images("Generated_images/image/0")] == [0, 10]
    assert copy.Graph() is not None


def test_until_ends_the_copy_at_the_exported_checkpoint(run):
    kept, stats = events.thin_events(events.event_files(run / "tensorboard"), image_every=10, until=10)
    assert summary_steps(kept) == [0, 5]
    assert stats["after_until"] == 4  # 10 and 15, from each session
    assert stats["last_step"] == 5


def test_a_copy_over_the_size_limit_fails_loudly(run, tmp_path):
    kept, _ = events.thin_events(events.event_files(run / "tensorboard"))
    with pytest.raises(events.EventsError, match="more than the 1,000 allowed"):
        events.write_events(kept, tmp_path / "copy", max_bytes=1000)


def test_a_truncated_last_record_ends_the_file_with_a_note(run, tmp_path):
    source = events.event_files(run / "tensorboard")[0]
    cut = tmp_path / source.name
    cut.write_bytes(source.read_bytes()[:-7])
    problems = []
    read = list(events.read_events(cut, problems))
    assert len(read) == len(list(events.read_events(source))) - 1
    assert len(problems) == 1 and source.name in problems[0]


def test_duplicate_steps_without_a_start_are_refused(run, tmp_path):
    """Both sessions' events in one file, the resumed session's START left out: nothing purges the orphans."""
    merged = [event for path in events.event_files(run / "tensorboard") for event in events.read_events(path)
              if event.WhichOneof("what") in ("summary", "graph_def")]
    events.write_events(merged, tmp_path / "merged")
    with pytest.raises(events.EventsError, match="step 10 follows step 15"):
        events.thin_events(events.event_files(tmp_path / "merged"))


@pytest.mark.slow
def test_the_command_line_runs_as_a_script_and_names_a_wrong_run_folder(tmp_path):
    """``python tools/publish.py`` (what ``make publish`` runs) needs no PYTHONPATH: it imports its checkout's
    ``tools`` and ``ezgan``."""
    result = subprocess.run([sys.executable, "tools/publish.py", "--run", str(tmp_path / "no-run"),
                             "--out", str(tmp_path / "out"), "--tensorboard", str(tmp_path / "tb")],
                            cwd=REPO, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 1
    assert result.stderr.strip() == (f"error: {tmp_path / 'no-run'}: no run.json here; is this a training run's "
                                     f"--checkpoint-dir?")
    assert not (tmp_path / "out").exists() and not (tmp_path / "tb").exists()


def test_frame_selection_is_even_and_keeps_both_ends():
    chosen = animation.select_frames(range(101), 40)
    assert len(chosen) == 40 and chosen[0] == 0 and chosen[-1] == 100
    assert set(np.diff(chosen)) <= {2, 3}
    assert animation.select_frames(range(7), 40) == list(range(7))
    assert animation.select_frames(range(10), 2) == [0, 9]
    with pytest.raises(ValueError):
        animation.select_frames(range(10), 1)


def test_the_gif_labels_frames_from_the_runs_grids(run, tmp_path):
    out = tmp_path / "training.gif"
    gif = animation.training_gif(run / "grids", out, pretrain_steps=2, max_frames=2)
    assert gif["grids"] == 3 and gif["iterations"] == [0, 20] and gif["bytes"] == out.stat().st_size
    with Image.open(out) as image:
        assert image.n_frames == 2 and image.size == (gif["width"], gif["height"])
        assert image.info["duration"] == animation.GIF_FRAME_MS
        image.seek(1)
        assert image.info["duration"] == animation.GIF_LAST_FRAME_MS
    assert animation.training_gif(run / "grids", out, pretrain_steps=2)["iterations"] == [0, 10, 20]
    assert animation.training_gif(run / "grids", out, pretrain_steps=2, until_step=12)["iterations"] == [0, 10]
    tight = animation.training_gif(run / "grids", out, pretrain_steps=2, max_bytes=gif["bytes"] - 1)
    assert tight["scale"] < gif["scale"]
    with pytest.raises(animation.AnimationError, match="lower max_frames"):
        animation.training_gif(run / "grids", out, pretrain_steps=2, max_bytes=100)


def metric_row(score, distance):
    return dict(n=20, classifier_score=score, classifier_score_std=0.05, frechet_distance=distance,
                digit_kl=0.0123, confident_share=0.875, digit_shares=[0.1] * 10)


REFERENCES = {"real test set (10,000) vs itself": metric_row(9.9, 0.0),
              "real training images (20)": metric_row(9.8, 1.5),
              "untrained generator (seed 0)": metric_row(1.25, 321.0)}


class StandInEvaluator:
    """What publish() needs of ezgan.lab.evaluate.Evaluator, without the classifier."""
    instances = []

    def __init__(self, classifier):
        self.classifier = types.SimpleNamespace(checkpoint=f"{classifier}/classifier.ckpt",
                                                info={"test_accuracy": 0.9927})
        self.evaluated, self.reference_calls = 0, 0
        StandInEvaluator.instances.append(self)

    def evaluate(self, images, asked=None):
        assert images.shape == (20, 28, 28) and asked is None   # an unconditional run's digits
        self.evaluated += 1
        return metric_row(2.0 + self.evaluated, 100.0 / self.evaluated)

    def reference_rows(self, n, seed):
        self.reference_calls += 1
        return REFERENCES

    def close(self):
        pass


def test_publish_end_to_end_with_a_stand_in_evaluator(run, tmp_path, monkeypatch):
    monkeypatch.setattr(evaluate, "Evaluator", StandInEvaluator)
    renamed = []   # what atomic_output renames into place: the files written whole or not at all
    rename = os.replace

    def recording_replace(source, target):
        renamed.append(pathlib.Path(target).name)
        rename(source, target)

    monkeypatch.setattr(os, "replace", recording_replace)
    out, board = tmp_path / "pretrained", tmp_path / "tensorboard" / "tutorial-run"
    board.mkdir(parents=True)
    (board / "stale").write_text("from an earlier publication")
    lines = []
    info = publish.publish(run, out, board, n=20, seed=0, classifier=tmp_path / "classifier", image_every=10,
                           log=lines.append)
    evaluator = StandInEvaluator.instances[-1]
    assert evaluator.reference_calls == 1 and evaluator.evaluated == 3  # the checkpoint, then 2 milestones
    for name in ("model.ckpt-22.index", "run.json", "samples.png", "training.gif", "evaluation.json",
                 "quality_curve.csv", "quality_curve.png", "quality_curve.json", "publish.json", "MODEL_CARD.md"):
        assert (out / name).exists(), name
    # Every JSON and text file publish writes, and its pictures, through ezgan.runs.outputs: none left half-written.
    assert {"run.json", "evaluation.json", "publish.json", "MODEL_CARD.md", "samples.png", "training.gif"} <= set(
        renamed)
    assert not list(out.glob(".*partial*"))
    assert not (board / "stale").exists() and len(events.event_files(board)) == 1
    exported = RunState.read(out)
    assert exported.step == 22 and exported.iterations == 20 and not exported.is_run
    # The run's fixed noise through the exported generator: the grid the run saved at that checkpoint.
    samples = np.asarray(Image.open(out / "samples.png"), np.int16)
    last_grid = np.asarray(Image.open(run / "grids" / "step0000022.png"), np.int16)
    assert samples.shape == last_grid.shape and np.abs(samples - last_grid).max() <= 1
    assert info["tensorboard"]["sessions"] == 2 and info["tensorboard"]["last_step"] == 15
    curve = json.loads((out / "quality_curve.json").read_text())
    assert [row["iteration"] for row in curve["rows"]] == [10, 20]
    assert curve["rows"][0]["checkpoint"] == publish.shown_path(run / "milestones" / "model.ckpt-12")
    card = (out / "MODEL_CARD.md").read_text()
    shown = publish.shown_path(run)
    assert (f"`ezgan train --seed 3 --pretrain-steps 2 --iterations 20 --checkpoint-dir {shown} "
            f"--logdir {shown}/tensorboard`") in card
    assert f"resumed 1 time with `ezgan train --resume --iterations 20 --checkpoint-dir {shown}`" in card
    assert "The run is complete: all 20 iterations." in card
    assert "| **this checkpoint** (iteration 20) | 3.000 ± 0.050 | 100.000 | 0.0123 | 87.5% |" in card
    assert "from iteration 10 to 20, the classifier score went from 4.00 to 5.00" in card
    assert "from iteration 0 (just after pre-training) to 20" in card
    assert any("orphaned summaries purged" in line for line in lines)


def fake_pretrained(folder, iterations=6000, curve_rows=3, recipe=None, pretrain_steps=300,
                    model=model_card.TUTORIAL_MODEL):
    """The files a publication of ``model`` leaves in ``folder``, from which the card is rendered."""
    folder.mkdir(parents=True, exist_ok=True)
    RunState(seed=0, pretrain_steps=pretrain_steps, iterations=iterations, elapsed_seconds=2068.75,
             step=iterations + pretrain_steps, recipe=recipe and recipe.to_dict()).save(folder)
    info = dict(run=model.run, checkpoint=f"{model.run}/model.ckpt-{iterations + pretrain_steps}", out=model.out,
                target_iterations=100_000, machine=dict(cpu="Test CPU 9000", cores=2, gpus=0, system="Linux 6.1"),
                tensorflow="2.21.0", python="3.11.2", published="2026-11-27 10:30 UTC",
                gif=dict(frames=7, grids=7, iterations=[0 if pretrain_steps else 1000, 2000, 6000], scale=0.6667,
                         width=604, height=631, bytes=1_450_832, frame_ms=200, last_frame_ms=3000),
                tensorboard=dict(path=model.tensorboard, bytes=1_192_490, image_every=1000, sessions=1,
                                 summary_events=600, image_steps=6, first_step=0, last_step=5990))
    (folder / "publish.json").write_text(json.dumps(info))
    rows = {f"{model.out}/model.ckpt-{iterations + pretrain_steps}": metric_row(7.123, 12.5), **REFERENCES}
    (folder / "evaluation.json").write_text(json.dumps(dict(
        checkpoint=f"{model.out}/model.ckpt-{iterations + pretrain_steps}", n=10_000, seed=0,
        classifier="pretrained/classifier/classifier.ckpt", classifier_test_accuracy=0.9927, rows=rows)))
    if curve_rows:
        rows = [dict(iteration=5000 * (k + 1), step=5000 * (k + 1) + pretrain_steps, **metric_row(s, d))
                for k, (s, d) in enumerate([(6.5, 20.0), (8.5, 9.5), (8.25, 11.0)][:curve_rows])]
        (folder / "quality_curve.json").write_text(json.dumps(dict(
            milestones=f"{model.run}/milestones", n=10_000, seed=0, references=REFERENCES, rows=rows)))
    for name in ("samples.png", "training.gif"):
        (folder / name).write_bytes(b"")


def test_the_model_card_is_rendered_from_the_files(tmp_path):
    fake_pretrained(tmp_path)
    card = model_card.render_model_card(tmp_path)
    assert "**Interim checkpoint: 6,000 of the 100,000 iterations" in card
    assert "Test CPU 9000, 2 cores, no GPU" in card and "TensorFlow 2.21.0" in card
    assert "| wall time, the run's own clock | 34 min 29 s (2,069 s, 345 ms per iteration" in card
    assert "# train (this run: 34 min 29 s for 6,000 iterations, by its own clock)" in card
    assert "pace measured alone, one short run at a time on this project's otherwise idle machine, is in one table, " \
           "`docs/ablation/timings.json` (`make timings`)" in card   # the run's clock is not the recipe's pace
    assert "The generator and discriminator of the MNIST GAN of the O'Reilly tutorial" in card
    assert "(model variables only, the original's layout)" in card
    assert "not resumed so far" in card
    assert "| **this checkpoint** (iteration 6,000) | 7.123 ± 0.050 | 12.500 | 0.0123 | 87.5% |" in card
    assert "| real training images (20) | 9.800 ± 0.050 | 1.500 |" in card
    assert "99.27% on the MNIST test set" in card
    assert ("Over 3 milestones, from iteration 5,000 to 15,000, the classifier score went from 6.50 to 8.25 "
            "(best 8.50, at iteration 10,000) and the Fréchet distance from 20.0 to 11.0 (best 9.5, at "
            "iteration 10,000).") in card
    assert "untrained generator 1.25 at 321.0" in card
    assert "![quality curve](quality_curve.png)" in card and "![the fixed-noise grid across training]" in card
    assert ("`ezgan evaluate --checkpoint pretrained --n 10000 --seed 0 --references "
            "--json pretrained/evaluation.json`") in card
    assert "`ezgan curve --milestones ~/.cache/ezgan/runs/main/milestones --out pretrained/quality_curve" in card
    assert "`ezgan train --resume --checkpoint-dir ~/.cache/ezgan/runs/main`" in card
    assert "`tools/publish.py`" in card
    assert "python -m" not in card and "scripts/" not in card  # commands are the `ezgan` command's and make's
    assert "make publish" in card and "use_locking=True" in card and "bias_add" in card
    assert "{" not in card  # no template field left unfilled


def test_the_card_of_a_finished_run_with_one_milestone(tmp_path):
    fake_pretrained(tmp_path, iterations=100_000, curve_rows=1)
    card = model_card.render_model_card(tmp_path)
    assert "Interim" not in card and "The run is complete: all 100,000 iterations." in card
    assert "So far there is one milestone, iteration 5,000: classifier score 6.50" in card


def curve_of(scores, distances):
    rows = [dict(iteration=1000 * (i + 1), classifier_score=score, frechet_distance=distance, digit_shares=[0.1] * 10)
            for i, (score, distance) in enumerate(zip(scores, distances))]
    return dict(rows=rows, references={})


def test_the_curve_summary_claims_a_plateau_only_when_both_bests_are_milestones_behind():
    plateau = model_card.curve_summary(curve_of([5, 8, 7.5, 7.8, 7.6], [50, 9, 12, 10, 11]))
    assert [row["iteration"] for row in plateau["later"]] == [3000, 4000, 5000] and not plateau["still_falling"]
    # The score's best three milestones back, but the distance's best two: no plateau, and not falling at the end.
    recent = model_card.curve_summary(curve_of([5, 8, 7.5, 7.8, 7.6], [50, 12, 9, 10, 11]))
    assert recent["later"] == [] and not recent["still_falling"]
    falling = model_card.curve_summary(curve_of([5, 8.93, 7, 7, 8.92], [50, 9, 8, 7, 6]))
    assert falling["later"] == [] and falling["still_falling"]


def test_the_card_without_a_curve(tmp_path):
    fake_pretrained(tmp_path, curve_rows=0)
    assert "Quality across training" not in model_card.render_model_card(tmp_path)


def test_the_card_of_a_recipe_says_how_it_differs_and_measures_it_against_the_bar(tmp_path):
    fake_pretrained(tmp_path, recipe=RECIPES["guided"], pretrain_steps=0, model=model_card.IMPROVED_MODEL)
    card = model_card.render_model_card(tmp_path)
    assert card.startswith("# Model card: ezgan's GAN trained with the guided recipe (iteration 6,000)")
    assert "jonbruner/ezgan's guided controller" in card and "above 0.7" in card and "**Real label 0.9**" in card
    assert "**D's learning rate 0.001** (the tutorial's: 0.0003)" in card and "Adam β1" not in card
    assert "use_locking" not in card and "The tutorial's own loop" not in card and "bias_add" in card
    assert "no discriminator pre-training, then iterations of the guided controller's updates" in card
    assert "`make publish-improved`" in card and "`ezgan sample --checkpoint pretrained/improved" in card
    assert "--out pretrained/improved/quality_curve" in card and "(one every 5,000 iterations)" in card
    assert "| classifier score ≥ 95% of the real test set's (9.40) | 7.12 | **no** |" in card
    assert "| every digit's share between 7% and 13% | 10.0% (digit 0) to 10.0% (digit 0) | yes |" in card
    assert "from iteration 1,000 to 6,000" in card and "pre-training)" not in card   # no pre-training to be after
    assert "so this is the last frame of the animation below" in card   # no moving average: the same weights
    assert "The recipe changes the MNIST GAN of the O'Reilly tutorial" in card and "not the tutorial's." not in card
    assert "(model variables only, no optimizer state)" in card   # the guided graph is not the tutorial's
    assert "{" not in card


def test_the_card_of_a_recipe_with_networks_of_its_own_says_they_are_not_the_tutorials(tmp_path):
    fake_pretrained(tmp_path, recipe=RECIPES["dcgan-d"], model=model_card.IMPROVED_MODEL)
    assert "below; its discriminator is not the tutorial's." in model_card.render_model_card(tmp_path)
    fake_pretrained(tmp_path, recipe=RECIPES["dcgan-recipe+ema+spread"], pretrain_steps=0,
                    model=model_card.IMPROVED_MODEL)
    card = model_card.render_model_card(tmp_path)
    assert ("trained by this project with the dcgan-recipe+ema+spread recipe (`ezgan train --recipe "
            "dcgan-recipe+ema+spread`, below; the recipes are `ezgan.lab.recipes`) on TensorFlow 2.21.0") in card
    assert "below; its generator and discriminator are not the tutorial's." in card
    assert "of the MNIST GAN of the O'Reilly tutorial" not in card and "the original's layout" not in card


def test_the_training_command_names_the_recipe_and_only_flags_that_differ_from_its_defaults():
    guided = RunState(seed=0, pretrain_steps=0, iterations=30_000, recipe=RECIPES["guided"].to_dict())
    assert model_card.train_command("RUN", guided) == (
        "ezgan train --recipe guided --seed 0 --iterations 30000 --checkpoint-dir RUN --logdir RUN/tensorboard")
    tutorial = dataclasses.replace(guided, recipe=None, pretrain_steps=300, iterations=100_000)
    assert model_card.train_command("RUN", tutorial) == (
        "ezgan train --seed 0 --checkpoint-dir RUN --logdir RUN/tensorboard")
    # No pre-training: the recipe's own default.
    dcgan = dataclasses.replace(guided, recipe=RECIPES["dcgan-recipe+ema+spread"].to_dict())
    assert model_card.train_command("RUN", dcgan) == (
        "ezgan train --recipe dcgan-recipe+ema+spread --seed 0 --iterations 30000 --checkpoint-dir RUN "
        "--logdir RUN/tensorboard")
    assert "--pretrain-steps 300" in model_card.train_command("RUN", dataclasses.replace(dcgan, pretrain_steps=300))
    assert model_card.train_command("RUN", dcgan, ("--threads 1",)).endswith(
        "--checkpoint-dir RUN --threads 1 --logdir RUN/tensorboard")
    # A resumed run trains to --iterations, not to the count in its run.json.
    assert model_card.resume_command("RUN", 30_000) == "ezgan train --resume --iterations 30000 --checkpoint-dir RUN"
    assert model_card.resume_command("RUN", 100_000) == "ezgan train --resume --checkpoint-dir RUN"


def test_a_recipe_of_its_own_cannot_be_published():
    unnamed = RunState(seed=0, pretrain_steps=0, iterations=10, recipe=dict(RECIPES["guided"].to_dict(), beta1=0.5))
    with pytest.raises(model_card.ModelCardError, match="none of the named ones"):
        model_card.train_command("RUN", unnamed)


def test_the_card_of_dcgans_recipe_names_each_of_its_changes(tmp_path):
    fake_pretrained(tmp_path, recipe=RECIPES["dcgan-recipe+ema+spread"], pretrain_steps=0,
                    model=model_card.IMPROVED_MODEL)
    card = model_card.render_model_card(tmp_path)
    for change in ("**No discriminator pre-training**", "**One Adam optimizer for D", "**D sees the spread of its batch**",
                   "`ezgan.lab.networks.dcgan_discriminator`", "`ezgan.lab.networks.wide_dcgan_generator`", "7x7x128",
                   "**Adam β1 = 0.5**", "**Sampled from a moving average", "the discriminator's one update"):
        assert change in card, change
    assert "both discriminator updates" not in card and "{" not in card
    # samples.png comes from the moving averages, the animation's frames from the weights being trained.
    assert "last frame of the animation" not in card
    assert "this checkpoint's generator holds the moving averages of G's weights (decay 0.999)" in card
    # The Makefile's flags that run.json does not keep, for starting and for resuming alike.
    assert card.count("--milestone-every 1000 --checkpoint-every 500") == 4 and "--threads" not in card


def test_the_card_is_rendered_from_its_template(tmp_path):
    fake_pretrained(tmp_path / "pretrained")
    templates = tmp_path / "templates"
    shutil.copytree(model_card.TEMPLATES, templates)
    template = templates / model_card.CARD_TEMPLATE
    assert model_card.render_model_card(tmp_path / "pretrained", templates) == model_card.render_model_card(
        tmp_path / "pretrained")
    template.write_text(template.read_text().replace("## Reproduce\n", "## Reproduce it\n"))
    assert "## Reproduce it\n" in model_card.render_model_card(tmp_path / "pretrained", templates)
    template.write_text(template.read_text() + "{{ a_value_nobody_computes }}\n")
    with pytest.raises(jinja2.UndefinedError, match="a_value_nobody_computes"):   # an error, not a blank
        model_card.render_model_card(tmp_path / "pretrained", templates)


MAKE_TARGETS = {model_card.TUTORIAL_MODEL: ("train", "resume"),
                model_card.IMPROVED_MODEL: ("train-improved", "resume-improved"),
                model_card.CONDITIONAL_MODEL: ("train-conditional", "resume-conditional")}


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("model", model_card.BUNDLED_MODELS, ids=lambda model: model.out)
def test_a_bundled_models_card_shows_the_commands_its_make_targets_run(model):
    """The flags the Makefile passes and run.json does not record (``BundledModel.train_flags``) are the Makefile's:
    the card's training and resuming commands are what ``make -n`` prints for its targets."""
    def command(target):
        printed = subprocess.run(["make", "-n", "--no-print-directory", target], cwd=REPO, capture_output=True,
                                 text=True, check=True,
                                 env={"PATH": os.environ["PATH"], "HOME": str(pathlib.Path.home())})
        return "ezgan " + printed.stdout.splitlines()[-1].split("/ezgan ", 1)[1].replace(str(pathlib.Path.home()), "~")

    card = model_card.render_model_card(REPO / model.out)
    for target in MAKE_TARGETS[model]:
        assert f"\n{command(target)}   # " in card, target


def test_the_readme_compares_the_unconditional_models_with_their_own_evaluations():
    """README's table of the tutorial's model, the improved one and the earlier improved one shows each one's
    evaluation.json (written by make publish[-improved]; the earlier one's kept in docs/earlier-improved-model/)."""
    rows = []
    for folder in (REPO / "pretrained", REPO / "pretrained" / "improved", REPO / "docs" / "earlier-improved-model"):
        evaluation = json.loads((folder / "evaluation.json").read_text())
        rows.append(evaluation["rows"][evaluation["checkpoint"]])
    readme = (REPO / "README.md").read_text()
    for line, key, form in (("classifier score ↑", "classifier_score", ".2f"),
                            ("KL(digit shares ‖ uniform) ↓", "digit_kl", ".4f"),
                            ("Fréchet distance ↓", "frechet_distance", ".1f")):
        assert f"| {line} | " + " | ".join(format(row[key], form) for row in rows) + " |" in readme, line
    for row in rows:
        shares = np.array(row["digit_shares"])
        assert f"{shares.min():.1%} ({shares.argmin()}s) to {shares.max():.1%} ({shares.argmax()}s)" in readme


@pytest.mark.parametrize("model", model_card.BUNDLED_MODELS, ids=lambda model: model.out)
def test_a_bundled_models_card_is_its_templates_rendering(model):
    """The committed card is what the template makes of the files beside it: after a change of the template,
    `python tools/publish.py --card-only --out FOLDER` renders it again, no training run needed."""
    assert model_card.render_model_card(REPO / model.out) == (REPO / model.out / model_card.MODEL_CARD).read_text()


def test_the_card_of_the_wide_recipe_gives_its_own_batch_size(tmp_path):
    fake_pretrained(tmp_path, recipe=RECIPES["wide-r1"], pretrain_steps=0, model=model_card.IMPROVED_MODEL)
    card = model_card.render_model_card(tmp_path)
    for change in ("batches of 128 |", "generates in batches of 128)", "**Batches of 128** real and 128 generated",
                   "**An R1 gradient penalty**", "`ezgan.lab.networks.wider_dcgan_generator`"):
        assert change in card, change
    assert "batches of 50" not in card and "{" not in card
