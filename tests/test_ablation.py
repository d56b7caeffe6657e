"""tools/ablation.py without training: the plan, the process pool, the scores' cache, the pace table, the CSV, plot
and summary."""
import csv
import json
import os
import statistics
import sys

import numpy as np
import pytest

from ezgan.errors import EzganError
from ezgan.runs.state import RunState
from ezgan.paths import REPO
from tools import ablation


def run_plan(tmp_path, rows=("tutorial", "guided"), seeds=2, iterations=100):
    return ablation.plan(list(rows), range(seeds), iterations, ablation.runs_folder(tmp_path, iterations))


def test_dry_run_prints_the_plan(tmp_path, capsys):
    assert ablation.main(["--iterations", "100", "--seeds", "2", "--rows", "tutorial,guided", "--runs", str(tmp_path),
                          "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("ablation: 2 rows x 2 seeds = 4 runs of 100 iterations, a milestone every 10; "
                             "2 at a time on 1 thread each")
    runs = [line.split() for line in out[1:5]]
    assert [(words[0], words[1]) for words in runs] == [("new", "tutorial-s0"), ("new", "guided-s0"),
                                                         ("new", "tutorial-s1"), ("new", "guided-s1")]
    guided = " ".join(runs[1])
    folder = tmp_path / "100-iterations" / "guided-s0"
    assert (f"ezgan train --recipe guided --seed 0 --iterations 100 --checkpoint-dir {folder} "
            f"--logdir {folder / 'tensorboard'} --milestone-every 10 --checkpoint-every 10 --threads 1") in guided
    assert out[5].startswith("then: every milestone scored on 2,000 digits (noise seed 0)")
    assert not (tmp_path / "100-iterations").exists()   # a dry run writes nothing


def test_finished_runs_are_skipped_and_unfinished_ones_resumed(tmp_path):
    tutorial, guided, *_ = run_plan(tmp_path)
    RunState(seed=0, pretrain_steps=300, iterations=100, logdir="", step=400).save(_made(tutorial.directory))
    RunState(seed=0, pretrain_steps=0, iterations=100, logdir="", step=40).save(_made(guided.directory))
    assert (tutorial.state(), guided.state()) == ("done", "resume")
    assert "--resume" in guided.arguments() and "--resume" not in tutorial.arguments()
    assert guided.command(threads=1)[:3] == [sys.executable, "-m", "ezgan"]


def _made(folder):
    folder.mkdir(parents=True)
    return folder


def test_bad_rows_and_budgets_are_refused(tmp_path, capsys):
    assert ablation.main(["--iterations", "100", "--rows", "tutorial,nope", "--runs", str(tmp_path), "--dry-run"]) == 2
    assert "no recipe named nope" in capsys.readouterr().err
    assert ablation.main(["--iterations", "105", "--runs", str(tmp_path), "--dry-run"]) == 2
    assert "multiple of 10" in capsys.readouterr().err


def test_train_all_runs_two_at_a_time_and_reports_failures(tmp_path, monkeypatch):
    runs = run_plan(tmp_path, rows=("tutorial", "smooth", "beta1"), seeds=1)
    # Each stand-in process notes how many are running, then "finishes" its run by writing run.json.
    script = ("import json, os, pathlib, sys, time; folder = pathlib.Path(sys.argv[1]); "
              "lock = folder.parent / ('running-' + folder.name); lock.touch(); "
              "others = len(list(folder.parent.glob('running-*'))); time.sleep(0.5); lock.unlink(); "
              "(folder / 'seen.txt').write_text(str(others) + ' ' + os.environ['TF_NUM_INTRAOP_THREADS']); "
              "sys.exit(3) if folder.name.startswith('beta1') else (folder / 'run.json').write_text(json.dumps("
              "dict(seed=0, pretrain_steps=0, iterations=100, logdir='', step=100)))")
    monkeypatch.setattr(ablation.Run, "command", lambda run, threads=1: [sys.executable, "-c", script, str(run.directory)])
    messages = []
    failed = ablation.train_all(runs, parallel=2, threads=1, poll_seconds=0.05, echo=messages.append)
    assert [run.name for run in failed] == ["beta1-s0"]
    assert [run.state() for run in runs] == ["done", "done", "new"]
    seen = [(run.directory / "seen.txt").read_text().split() for run in runs]
    assert max(int(count) for count, _ in seen) <= 2 and all(threads == "1" for _, threads in seen)
    assert sum("FAILED" in message for message in messages) == 1
    # Done runs are not started again.
    assert ablation.train_all(runs[:2], poll_seconds=0.05, echo=messages.append) == []


class FakeEvaluator:
    def __init__(self):
        self.classifier = type("Classifier", (), {"checkpoint": "classifier.ckpt"})()
        self.evaluated = 0

    def evaluate(self, images):
        self.evaluated += 1
        return dict(n=len(images), classifier_score=float(images.mean()), classifier_score_std=0.0,
                    frechet_distance=1.0, digit_kl=0.5, confident_share=0.9, digit_shares=[0.1] * 10)


def test_run_scores_reads_milestones_and_their_times_and_caches_the_scores(tmp_path, monkeypatch):
    import ezgan.lab.checkpoints

    run = run_plan(tmp_path, rows=("ema",), seeds=1, iterations=20)[0]
    milestones = _made(run.directory / "milestones")
    RunState(seed=0, pretrain_steps=300, iterations=20, logdir="", step=320).save(run.directory)
    for step in (310, 320, 330):   # 330: beyond the budget (a longer run's), left out
        (milestones / f"model.ckpt-{step}.index").write_text("")
    (milestones / "times.json").write_text(json.dumps({"310": 12.5, "320": 30.0}))
    monkeypatch.setattr(ezgan.lab.checkpoints, "sample", lambda n, seed, prefix: np.full((n, 28, 28), int(prefix[-3:]) / 1000))
    evaluator = FakeEvaluator()
    lines = ablation.run_scores(run, evaluator, 10, 0, echo=lambda _: None)
    assert [(line["iteration"], line["step"], line["wall_seconds"]) for line in lines] == \
        [(10, 310, 12.5), (20, 320, 30.0)]
    assert [line["classifier_score"] for line in lines] == pytest.approx([0.31, 0.32])
    assert lines[0]["row"] == "ema" and lines[0]["seed"] == 0 and evaluator.evaluated == 2
    assert ablation.run_scores(run, evaluator, 10, 0, echo=lambda _: None) == lines
    assert evaluator.evaluated == 2   # from the cache


def test_loss_medians_take_each_milestone_s_window_of_the_run_s_events(tmp_path):
    """Each milestone gets the median of each loss over the steps logged after the previous milestone, up to it; a
    step logged again after a resume counts once (its last value); a run without events has none."""
    tf = ablation.tf
    with tf.Graph().as_default():
        writer = tf.compat.v1.summary.FileWriter(str(tmp_path / "tensorboard"))
        logged = [(step, step) for step in range(1, 21)] + [(12, 100)]   # step 12 logged again, as after a resume
        for step, value in logged:
            summary = tf.compat.v1.Summary(value=[tf.compat.v1.Summary.Value(tag=tag, simple_value=value * factor)
                                                  for tag, factor in (("Generator_loss", 1.0),
                                                                      ("Discriminator_loss_real", 0.5),
                                                                      ("Discriminator_loss_fake", 0.25))])
            writer.add_summary(summary, step)
        writer.close()
    medians = ablation.loss_medians(tmp_path / "tensorboard", [20, 10, 30])
    assert medians[10] == dict(g_loss=5.5, d_loss_real=2.75, d_loss_fake=1.375)   # steps 1-10
    # steps 11-20, 12 now 100: 11, 13, ..., 20 and 100 -> the median of ten values
    assert medians[20]["g_loss"] == pytest.approx(float(np.median([11, 100, *range(13, 21)])))
    assert 30 not in medians   # nothing logged after step 20
    assert ablation.loss_medians(tmp_path / "no-events", [10]) == {}


def fabricated_lines():
    """Two rows, three seeds, milestones at iterations 50 and 100."""
    lines = []
    for row, base in (("tutorial", 5.0), ("hacks", 7.0)):
        for seed in range(3):
            for iteration in (50, 100):
                score = base + seed * 0.5 + iteration / 100
                lines.append(dict(row=row, seed=seed, iteration=iteration, step=iteration + 300,
                                  wall_seconds=iteration * (2.0 + seed), n=2000, classifier_score=score,
                                  classifier_score_std=0.1, frechet_distance=20 / score, digit_kl=0.1 * seed,
                                  confident_share=0.8, digit_shares=[0.1] * 10))
    return lines


def test_csv_plot_and_summary_of_fabricated_rows(tmp_path):
    lines = fabricated_lines()
    ablation.write_csv(lines, tmp_path / "ablation.csv")
    with open(tmp_path / "ablation.csv") as file:
        table = list(csv.DictReader(file))
    assert len(table) == 12
    assert list(table[0]) == ["row", "seed", "iteration", "step", "wall_seconds", "classifier_score",
                              "classifier_score_std", "frechet_distance", "digit_kl", "confident_share",
                              *(f"share_{d}" for d in range(10)), "g_loss", "d_loss_real", "d_loss_fake"]
    assert (table[1]["row"], table[1]["iteration"], table[1]["wall_seconds"], table[1]["classifier_score"]) == \
        ("tutorial", "100", "200.0", "6")
    read = ablation.read_csv(tmp_path / "ablation.csv")
    assert [(line["row"], line["seed"], line["iteration"]) for line in read] == \
        [(line["row"], line["seed"], line["iteration"]) for line in lines]
    for back, line in zip(read, lines):
        for name in ("wall_seconds", "classifier_score", "frechet_distance", "digit_kl"):
            assert back[name] == pytest.approx(line[name], rel=1e-5), name
        assert back["digit_shares"] == pytest.approx(line["digit_shares"], abs=1e-4)

    references = {"real training images (2,000)": dict(classifier_score=9.5, frechet_distance=0.5, digit_kl=0.001)}
    timings = {"tutorial": dict(seconds_per_iteration=0.5, seconds_before=30.0),
               "hacks": dict(seconds_per_iteration=0.1, seconds_before=6.0)}
    ablation.plot_ablation(lines, tmp_path / "ablation.png", references, title="fabricated", timings=timings)
    assert (tmp_path / "ablation.png").stat().st_size > 20_000

    info = dict(command="make ablation ITERATIONS=100 SEEDS=3", date="2026-12-02", machine="x86_64, 2 cores",
                tensorflow="2.21.0", seeds="0, 1, 2", iterations=100, threads=1, parallel=2, n=2000, eval_seed=0,
                classifier="pretrained/classifier/classifier.ckpt", classifier_accuracy="99.20%",
                timings="docs/ablation/timings.json")
    finals = ablation.write_summary(lines, tmp_path / "summary.md", info, references, timings)
    text = (tmp_path / "summary.md").read_text()
    hacks = [7.0 + seed * 0.5 + 1.0 for seed in range(3)]
    assert finals["hacks"]["classifier_score"] == pytest.approx(statistics.mean(hacks))
    assert finals["hacks"]["classifier_score_std"] == pytest.approx(statistics.stdev(hacks))
    fd = [20 / score for score in hacks]
    minutes = (6.0 + 100 * 0.1) / 60   # from the row's pace alone, not the runs' own clocks (wall_seconds)
    assert (f"| hacks | real label 0.9, Adam beta1 0.5, leaky-ReLU D, dcgan generator, EMA of G 0.999 | 100 | 3 | "
            f"{statistics.mean(hacks):.2f} ± {statistics.stdev(hacks):.2f} | 8.00 / 8.50 / 9.00 | "
            f"{statistics.mean(hacks) - finals['tutorial']['classifier_score']:+.2f} | "
            f"{statistics.mean(fd):.2f} ± {statistics.stdev(fd):.2f} | 0.100 ± 0.100 | "
            f"{minutes:.1f} |") in text
    assert "| tutorial | the tutorial's | 100 | 3 |" in text and f"| {(30 + 100 * 0.5) / 60:.1f} |" in text
    assert "| tutorial | the tutorial's | 100 | 3 |" in text and "| +0.00 |" in text
    assert text.index("| hacks |") < text.index("| tutorial |"), "best classifier score first"
    assert "lowest Fréchet distance: **hacks**" in text and "highest classifier score: **hacks**" in text
    assert "Made by `make ablation ITERATIONS=100 SEEDS=3`" in text
    assert "real training images (2,000): classifier score 9.50" in text
    clock = sum(100 * (2.0 + seed) for seed in range(3)) * 2 / 3600   # each run's clock at its last milestone
    assert f"The 6 runs' own clocks at their last milestones add up to {clock:.1f} hours" in text
    assert "Short of" not in text

    unfinished = [line for line in lines if (line["row"], line["seed"], line["iteration"]) != ("hacks", 2, 100)]
    ablation.write_summary(unfinished, tmp_path / "summary.md", info, references, timings)
    text = (tmp_path / "summary.md").read_text()
    assert "Short of 100 iterations when scored (each run's last milestone): hacks-s2 (50);" in text
    assert "| hacks | real label 0.9, Adam beta1 0.5, leaky-ReLU D, dcgan generator, EMA of G 0.999 | 100 | 2 | " \
           "8.25 ± 0.35 | 8.00 / 8.50 |" in text


COMMITTED = sorted(path.parent.relative_to(REPO) for path in (REPO / "docs" / "ablation").rglob("ablation.csv"))


@pytest.mark.parametrize("folder", COMMITTED, ids=str)
def test_the_committed_summary_and_the_readme_show_the_committed_csv(folder):
    """Each committed summary.md's table (docs/ablation, docs/ablation/N-iterations) is what summary_table makes of its
    ablation.csv, and README shows it (all but the same runs scored on other noise, noise-seed-N, which README
    quotes)."""
    folder = REPO / folder
    timings = json.loads(ablation.DEFAULT_TIMINGS.read_text())["rows"]
    table = ablation.summary_table(ablation.final_rows(ablation.read_csv(folder / "ablation.csv"), timings))
    summary = [line for line in (folder / "summary.md").read_text().splitlines() if line.startswith("|")]
    assert summary == table
    if not folder.name.startswith("noise-seed-"):
        assert "\n".join(table) in (REPO / "README.md").read_text()


def test_the_pace_is_measured_between_the_two_milestones():
    # 300 pre-training steps, 200 iterations: milestones at steps 400 and 500 of the run's clock.
    per_iteration, before = ablation.pace({"500": 130.0, "400": 80.0}, 200)
    assert per_iteration == pytest.approx(0.5)
    assert before == pytest.approx(30.0)   # 80 s at the half-way milestone, less its 100 iterations at 0.5 s


def test_make_timings_times_the_rows_the_table_lacks_and_retimes_only_the_rows_given(tmp_path, monkeypatch, capsys):
    """--time-only (make timings) needs no budget; by default it covers every named recipe, timing only the rows the
    table lacks; --retime measures the rows given again and keeps the others."""
    path = tmp_path / "timings.json"
    old = dict(seconds_per_iteration=0.5, seconds_before=30.0, date="2026-12-04")
    path.write_text(json.dumps(dict(command="older", machine="x86_64, 2 cores",
                                    rows={row: old for row in ablation.RECIPES if row != "conditional"})))
    timed = []
    monkeypatch.setattr(ablation, "time_recipe", lambda recipe, iterations: timed.append(recipe) or (0.25, -1.0))
    assert ablation.main(["--time-only", "--timings", str(path), "--dry-run"]) == 0
    assert capsys.readouterr().out.endswith(f"into {path}: conditional\n") and not timed
    assert ablation.main(["--time-only", "--timings", str(path)]) == 0
    assert timed == [ablation.RECIPES["conditional"]]
    table = json.loads(path.read_text())
    assert table["command"].startswith("make timings") and "own clock" in table["measured"]
    assert table["rows"]["tutorial"] == old
    assert (table["rows"]["conditional"]["seconds_per_iteration"], table["rows"]["conditional"]["seconds_before"]) \
        == (0.25, 0.0)   # start-up and pre-training never take less than nothing

    assert ablation.main(["--time-only", "--rows", "tutorial", "--retime", "--timings", str(path)]) == 0
    assert timed[1:] == [ablation.RECIPES["tutorial"]]
    table = json.loads(path.read_text())
    assert table["rows"]["tutorial"]["seconds_per_iteration"] == 0.25 and table["rows"]["smooth"] == old

    assert ablation.read_timings(["tutorial", "smooth"], path)["rows"] == {
        "tutorial": table["rows"]["tutorial"], "smooth": old}
    with pytest.raises(EzganError, match=r"no pace measured alone for wide: run `make timings` "
                                                  r"\(python tools/ablation.py --time-only --rows wide\)"):
        ablation.read_timings(["wide"], tmp_path / "no-table-yet.json")
    assert ablation.main(["--time-only", "--rows", "nope", "--timings", str(path)]) == 2
    assert "no recipe named nope" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ablation.main(["--rows", "tutorial", "--timings", str(path)])   # training and scoring need a budget
    assert len(timed) == 2


def test_added_rows_join_the_other_rows_of_the_existing_csv(tmp_path, monkeypatch):
    """--add-rows trains and scores only --rows; the CSV keeps the lines of every run not scored now: other rows', and
    those of a row's seeds whose runs are gone (a run scored again replaces its old lines). Without it, the CSV holds
    the runs of this command alone."""
    existing = fabricated_lines()
    ablation.write_csv(existing, tmp_path / "ablation.csv")
    new = [dict(line, row="smooth") for line in existing if line["row"] == "tutorial"]
    replaced = [dict(line, classifier_score=1.5) for line in existing if line["row"] == "hacks" and line["seed"] != 2]
    references = {"real training images (2,000)": dict(classifier_score=9.5, frechet_distance=0.5, digit_kl=0.001)}
    monkeypatch.setattr(ablation, "score_runs", lambda runs, n, seed, classifier: (
        [line for line in new + replaced if line["row"] in {run.row for run in runs}], references,
        {"test_accuracy": 0.99, "checkpoint": str(REPO / "pretrained" / "classifier" / "classifier.ckpt")}))
    timed = []
    monkeypatch.setattr(ablation, "time_recipe", lambda recipe, iterations: timed.append(recipe) or (0.25, 5.0))
    common = ["--iterations", "100", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path), "--score-only",
              "--timings", str(tmp_path / "timings.json")]

    assert ablation.main([*common, "--rows", "smooth,hacks", "--add-rows"]) == 0
    merged = ablation.read_csv(tmp_path / "ablation.csv")
    assert sorted({line["row"] for line in merged}) == ["hacks", "smooth", "tutorial"]
    assert len(merged) == len(existing) + len(new)
    assert {line["classifier_score"] for line in merged if line["row"] == "hacks" and line["seed"] != 2} == {1.5}
    kept = [line["classifier_score"] for line in existing if line["row"] == "hacks" and line["seed"] == 2]
    assert [line["classifier_score"] for line in merged if line["row"] == "hacks" and line["seed"] == 2] == kept
    assert "| smooth | real label 0.9 |" in (tmp_path / "summary.md").read_text()
    assert len(timed) == 3   # each row timed alone once ...
    smooth = json.loads((tmp_path / "timings.json").read_text())["rows"]["smooth"]
    assert (smooth["seconds_per_iteration"], smooth["seconds_before"]) == (0.25, 5.0)
    assert f"| {(5.0 + 100 * 0.25) / 60:.1f} |" in (tmp_path / "summary.md").read_text()

    assert ablation.main([*common, "--rows", "smooth"]) == 0
    assert len(timed) == 3   # ... and not again: timings.json keeps them
    assert {line["row"] for line in ablation.read_csv(tmp_path / "ablation.csv")} == {"smooth"}
    assert f"Made by `python tools/ablation.py --iterations 100 --seeds 3 --rows smooth --out " \
           f"{os.path.relpath(tmp_path, REPO)}`" in (tmp_path / "summary.md").read_text()
