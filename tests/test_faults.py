"""Faults and bad input (issues #13 and #20): a locked run folder, a fresh start over a run, divergence,
output paths, runs with nothing left to do, damaged checkpoints, a full disk, kills at random
moments, exports that would replace a model or damage a run, damaged run.json, interrupted
commands and their temporary files, file modes, a disk just large enough, many digits at once.
Every run here is tiny."""
import hashlib
import json
import os
import pathlib
import random
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest
import tensorflow as tf

from ezgan import cli
from ezgan.errors import CheckpointError, EzganError, TrainingDiverged
from ezgan.graph import build_graph
from ezgan.paths import REPO
from ezgan.lab.checkpoints import open_sampler
from ezgan.sample import Sampler
from ezgan.runs.training import train
from ezgan.notebook import IterationCallback

v1 = tf.compat.v1


def tiny(checkpoint_dir, **options):
    """A tiny in-process run: 1 pre-training step, checkpoints at every iteration, no TensorBoard."""
    settings = dict(iterations=2, pretrain_steps=1, seed=3, logdir=None, checkpoint_dir=str(checkpoint_dir),
                    checkpoint_every=1, summary_every=1, progress=False, milestone_every=1000)
    return train(**{**settings, **options})


def run_cli(capsys, *args):
    """``ezgan ARGS`` in this process: (exit status, stdout, stderr)."""
    try:
        cli.main(list(args))
        status = 0
    except SystemExit as exit:
        status = exit.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def steps(directory, name):
    return sorted(int(path.name.split("-")[1].split(".")[0]) for path in directory.glob(f"{name}-*.index"))


def finite_checkpoint(directory):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(directory)))
    return all(np.isfinite(reader.get_tensor(name)).all() for name in reader.get_variable_to_shape_map())


# 1. The run folder's lock -------------------------------------------------------------------------------

def train_command(checkpoint_dir, *extra):
    return [sys.executable, "-m", "ezgan", "train", "--pretrain-steps", "1", "--threads", "1", "--seed", "4",
            "--checkpoint-every", "1000", "--checkpoint-dir", str(checkpoint_dir),
            "--logdir", str(checkpoint_dir / "tb"), *extra]


@pytest.mark.slow
def test_a_second_run_on_a_locked_folder_is_refused_and_a_dead_ones_lock_taken_over(tmp_path):
    run = tmp_path / "run"
    first = subprocess.Popen(train_command(run, "--iterations", "2000"), cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not ((run / ".lock").exists() and (run / ".lock").read_text().strip() == str(first.pid)):
            assert first.poll() is None and time.monotonic() < deadline, "the first run took no lock"
            time.sleep(0.2)
        second = subprocess.run(train_command(run, "--iterations", "5", "--resume"), cwd=tmp_path,
                                capture_output=True, text=True)
        assert second.returncode == 2, second.stderr
        assert second.stderr.strip() == (f"ezgan train: error: {run}: another training run (pid {first.pid}) is "
                                         f"using this folder; wait for it to end or give another --checkpoint-dir")
        while not (run / "run.json").exists():   # the checkpoint after pre-training
            assert first.poll() is None and time.monotonic() < deadline, "the first run wrote no checkpoint"
            time.sleep(0.2)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    third = subprocess.run(train_command(run, "--iterations", "2", "--resume"), cwd=tmp_path,
                           capture_output=True, text=True)
    assert third.returncode == 0, third.stderr
    assert f"taking over the lock of pid {first.pid}, which is no longer running" in third.stdout
    assert json.loads((run / "run.json").read_text())["step"] == 3


# 2. A fresh run over a run ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_fresh_run_refuses_a_folder_holding_a_run_unless_told_to_overwrite(tmp_path, capsys):
    run = tmp_path / "run"
    tiny(run, iterations=4)
    (run / "notes.txt").write_text("mine")
    with pytest.raises(EzganError, match="holds a run \\(step 5\\); use --resume to continue it or --overwrite"):
        tiny(run)
    status, _, err = run_cli(capsys, "train", "--iterations", "2", "--pretrain-steps", "1", "--checkpoint-dir",
                             str(run), "--logdir", str(tmp_path / "tb"))
    assert status == 2 and err == f"ezgan train: error: {run} holds a run (step 5); use --resume to continue " \
                                  f"it or --overwrite to start again\n"
    assert steps(run, "train.ckpt") == [3, 4, 5]
    tiny(run, overwrite=True)
    assert steps(run, "train.ckpt") == [1, 2, 3] and steps(run, "model.ckpt") == [1, 2, 3]
    assert sorted(path.name for path in (run / "grids").iterdir()) == [f"step000000{k}.png" for k in (1, 2, 3)]
    assert json.loads((run / "run.json").read_text())["step"] == 3
    assert (run / "notes.txt").read_text() == "mine"


# 3. Divergence -------------------------------------------------------------------------------------------

class NanBatch:
    """The training images with one batch (number ``bad``, from the start of the run) all NaN."""

    def __init__(self, data, bad):
        self.data, self.bad, self.batch = data, bad, 0

    def seek(self, position):
        self.data.seek(position)
        self.batch = position // 50

    def next_batch(self, n):
        images, labels = self.data.next_batch(n)
        self.batch += 1
        return (np.full_like(images, np.nan) if self.batch - 1 == self.bad else images), labels


@pytest.mark.slow
def test_a_nan_loss_stops_training_before_it_is_saved(tmp_path, mnist):
    run = tmp_path / "run"
    # Batch 9 is iteration 8's (after 1 pre-training step); the summary row of iteration 10 finds it,
    # before the checkpoint after iteration 11.
    # The summary row finds d_loss_real NaN; where a fused ReLU turns NaN into 0 (AVX-512 CPUs) the losses stay
    # finite, and the weights' check before the checkpoint after iteration 11 finds the NaN weights instead.
    with pytest.raises(TrainingDiverged, match="training diverged at iteration (10: d_loss_real is nan|11: .* not finite)"):
        tiny(run, iterations=12, checkpoint_every=4, summary_every=5, data=NanBatch(mnist.train, 9))
    assert json.loads((run / "run.json").read_text())["step"] == 9
    assert steps(run, "train.ckpt") == [1, 5, 9] and finite_checkpoint(run)


@pytest.mark.slow
def test_a_diverged_run_is_one_line_from_the_command_line(tmp_path, mnist, capsys, monkeypatch):
    class Data:
        train = NanBatch(mnist.train, 3)   # iteration 2's batch; no summary row there, the checkpoint check finds it

    monkeypatch.setattr("ezgan.lab.training.read_data_sets", lambda seed: Data)
    run = tmp_path / "run"
    status, _, err = run_cli(capsys, "train", "--iterations", "5", "--pretrain-steps", "1", "--checkpoint-every", "2",
                             "--summary-every", "100", "--checkpoint-dir", str(run), "--logdir", str(tmp_path / "tb"))
    assert status == 2
    last = err.splitlines()[-1]   # after the progress bar's
    assert last.startswith("ezgan train: error: training diverged at iteration 3: ")
    assert "d_loss_real is nan" in last or "not finite" in last
    assert "Traceback" not in err
    assert steps(run, "train.ckpt") == [1, 3] and finite_checkpoint(run)


def test_a_nan_weight_that_no_loss_shows_stops_training_before_it_is_saved(tmp_path):
    """g_b1/moving_mean is never used (batch norm uses batch statistics), so no loss can show its NaN:
    only the weights' check before each checkpoint can, on every CPU."""
    def poison(sess, iteration):
        if iteration == 2:
            moving_mean, = [var for var in sess.graph.get_collection(v1.GraphKeys.GLOBAL_VARIABLES)
                            if var.op.name == "g_b1/moving_mean"]
            moving_mean.load(np.full(moving_mean.shape, np.nan, np.float32), sess)

    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match="training diverged at iteration 3: g_b1/moving_mean not finite"):
        tiny(run, iterations=6, checkpoint_every=2, summary_every=1, hooks=[IterationCallback(1, poison)])
    assert steps(run, "train.ckpt") == [1, 3] and finite_checkpoint(run)


def test_sampling_refuses_a_checkpoint_with_non_finite_weights(tmp_path):
    gan = build_graph(seed=0)
    with v1.Session(graph=gan.graph) as sess:
        sess.run(gan.init)
        g_w1 = next(var for var in gan.model_variables if var.op.name == "g_w1")
        g_w1.load(np.full(g_w1.shape.as_list(), np.nan, np.float32), sess)
        with gan.graph.as_default():
            v1.train.Saver(gan.model_variables).save(sess, str(tmp_path / "model.ckpt-1"))
    with pytest.raises(CheckpointError, match="model.ckpt-1: g_w1 holds NaN or infinite values"):
        open_sampler(tmp_path / "model.ckpt-1")


# 4. Output paths ----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_sample_writes_an_array_into_a_missing_folder(short_run, tmp_path, capsys):
    out = tmp_path / "new" / "deeper" / "s.npy"
    status, _, err = run_cli(capsys, "sample", "--checkpoint", str(short_run[1]), "--n", "5", "--out", str(out))
    assert status == 0, err
    assert np.load(out).shape == (5, 28, 28)
    assert os.listdir(out.parent) == ["s.npy"]   # no temporary file left


# Each command that writes: (its arguments, with a checkpoint or milestones folder that does not exist, the flag
# of its output, the output's name, whether the output is a folder). The output is refused before the input is
# looked at, and long before any work (train-classifier's would take minutes).
OUTPUTS = {
    "sample": (["sample", "--checkpoint", "nowhere"], "--out", "s.png", False),
    "export": (["export", "--checkpoint", "nowhere"], "--out", "model", True),
    "evaluate": (["evaluate", "--checkpoint", "nowhere"], "--json", "e.json", False),
    "curve": (["curve", "--milestones", "nowhere"], "--out", "curve", False),
    "train-classifier": (["train-classifier"], "--out", "classifier", True),
}


@pytest.mark.parametrize("command", OUTPUTS)
@pytest.mark.parametrize("case", ["taken", "under a file", "proc", "read-only"])
def test_an_output_path_that_cannot_be_written_is_one_line_before_any_work(command, case, tmp_path, capsys,
                                                                           monkeypatch):
    if case == "read-only" and os.geteuid() == 0:
        pytest.skip("root writes in read-only folders")
    arguments, flag, name, is_folder = OUTPUTS[command]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("")
    (tmp_path / "locked").mkdir(mode=0o555)
    # taken: a file where a folder goes, or a folder where a file goes (curve's OUT.csv).
    taken = tmp_path / ("taken" if is_folder else "taken.csv" if command == "curve" else f"taken-{name}")
    taken.write_text("") if is_folder else taken.mkdir()
    out, message = {"taken": (tmp_path / "taken" if command == "curve" else taken,
                              f"{taken} is a file" if is_folder else "is a directory"),
                    "under a file": (tmp_path / "file" / "sub" / name, f"{tmp_path / 'file'} is a file"),
                    "proc": (f"/proc/ezgan/{name}", "cannot write in /proc"),
                    "read-only": (tmp_path / "locked" / name, f"cannot write in {tmp_path / 'locked'}")}[case]
    before = sorted(tmp_path.rglob("*"))
    started = time.monotonic()
    status, out_text, err = run_cli(capsys, *arguments, flag, str(out))
    assert status == 2 and out_text == "" and err.count("\n") == 1, err
    assert err.startswith(f"ezgan {command}: error: {flag} ") and str(out) in err and message in err
    assert time.monotonic() - started < 5, "the output must be checked before any work"
    assert sorted(tmp_path.rglob("*")) == before


# 5. Nothing left to do, --logdir on --resume, pruning, leftovers ---------------------------------------------

@pytest.mark.slow
def test_nothing_left_to_do_logdir_on_resume_and_pruning_on_restart(tmp_path, capsys):
    status, out, _ = run_cli(capsys, "train", "--iterations", "0", "--checkpoint-dir", str(tmp_path / "none"))
    assert status == 0 and out == "nothing to do: --iterations 0\n"
    assert not (tmp_path / "none").exists()

    run = tmp_path / "run"
    tiny(run, iterations=4, keep_checkpoints=2)
    assert steps(run, "train.ckpt") == [4, 5]
    capsys.readouterr()
    assert tiny(run, iterations=3, resume=True) == []
    assert capsys.readouterr().out == "nothing left to do: the run is at step 5, 3 iterations end at step 4\n"

    (run / "train.ckpt-5.data-00000-of-00001.tempstate123").write_text("")
    tiny(run, iterations=6, resume=True, keep_checkpoints=2, logdir=str(tmp_path / "other"))
    assert "TensorBoard goes to the run's own folder '', not --logdir" in capsys.readouterr().out
    assert steps(run, "train.ckpt") == [6, 7] and steps(run, "model.ckpt") == [6, 7]
    assert not list(run.glob("*tempstate*"))
    assert not (tmp_path / "other").exists()


# 6. Output folders and sizes checked before any work -------------------------------------------------------

@pytest.mark.parametrize("flag", ["--checkpoint-dir", "--logdir"])
@pytest.mark.parametrize("case", ["under a file", "proc"])
def test_a_training_folder_that_cannot_be_written_is_one_line_before_any_work(flag, case, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    folder, message = {"under a file": (tmp_path / "file" / "run", f"{tmp_path / 'file'} is a file"),
                       "proc": ("/proc/ezgan/run", "cannot write in /proc")}[case]
    folders = {"--checkpoint-dir": str(tmp_path / "run"), "--logdir": str(tmp_path / "tb"), flag: str(folder)}
    started = time.monotonic()
    status, out, err = run_cli(capsys, "train", "--iterations", "5", *(x for item in folders.items() for x in item))
    assert status == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"ezgan train: error: {flag} {folder}: ") and message in err
    assert time.monotonic() - started < 5, "the folders must be checked before the graph is built"
    assert not (tmp_path / "run").exists() and not (tmp_path / "tb").exists()


def test_more_digits_than_memory_holds_is_one_line(capsys):
    status, _, err = run_cli(capsys, "sample", "--n", str(10**12))
    assert status == 2
    assert err == "ezgan sample: error: --n 1000000000000: at most 1,000,000 digits at once (their pixels alone " \
                  "take 3.1 GB)\n"


# 7. Damaged checkpoints ----------------------------------------------------------------------------------

DAMAGES = {
    "truncated data": lambda data, index: data.write_bytes(data.read_bytes()[:1000]),
    "missing data": lambda data, index: data.unlink(),
    "truncated index": lambda data, index: index.write_bytes(index.read_bytes()[:100]),
    "empty index": lambda data, index: index.write_bytes(b""),
    "flipped byte in data": lambda data, index: flip_byte(data),
    "flipped byte in index": lambda data, index: flip_byte(index),
}


def flip_byte(path):
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0xFF
    path.write_bytes(bytes(content))


def damage(prefix, how):
    DAMAGES[how](pathlib.Path(f"{prefix}.data-00000-of-00001"), pathlib.Path(f"{prefix}.index"))


@pytest.fixture(scope="module")
def three_checkpoints(tmp_path_factory):
    """A tiny run with checkpoints at steps 1, 2 and 3 (seed 3)."""
    run = tmp_path_factory.mktemp("three") / "run"
    tiny(run)
    return run


@pytest.mark.slow
@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_checkpoint_is_one_line_naming_it(how, three_checkpoints, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(three_checkpoints, run)
    damage(run / "model.ckpt-3", how)
    status, out, err = run_cli(capsys, "sample", "--checkpoint", str(run / "model.ckpt-3"), "--n", "5",
                               "--out", str(tmp_path / "s.png"))
    assert status == 2 and out == "" and err.count("\n") == 1, err
    assert err.startswith(f"ezgan sample: error: {run / 'model.ckpt-3'}: damaged or incomplete checkpoint (")
    assert "Variable name" not in err and not (tmp_path / "s.png").exists()


@pytest.mark.slow
def test_resume_passes_over_a_damaged_latest_checkpoint_and_ends_where_a_whole_run_does(three_checkpoints, tmp_path,
                                                                                      capsys):
    run = tmp_path / "run"
    shutil.copytree(three_checkpoints, run)
    damage(run / "train.ckpt-3", "truncated data")
    capsys.readouterr()
    tiny(run, iterations=4, resume=True)
    assert (f"{run / 'train.ckpt-3'}: damaged or incomplete checkpoint (Read less bytes than requested); "
            f"resuming from the checkpoint before it") in capsys.readouterr().out
    whole = tmp_path / "whole"
    tiny(whole, iterations=4)
    resumed, uninterrupted = checkpoint_values(run), checkpoint_values(whole)
    assert resumed["global_step"] == uninterrupted["global_step"] == 5
    for name, value in uninterrupted.items():
        np.testing.assert_array_equal(resumed[name], value, err_msg=name)


def test_resume_with_no_complete_checkpoint_left_says_what_to_do(three_checkpoints, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(three_checkpoints, run)
    for step in (1, 2, 3):
        damage(run / f"train.ckpt-{step}", "empty index")
    with pytest.raises(CheckpointError, match="no complete checkpoint to resume from; start again with --overwrite"):
        tiny(run, iterations=4, resume=True)


def checkpoint_values(directory):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(directory)))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


# 8. A full disk -------------------------------------------------------------------------------------------

def file_hashes(directory):
    return {path.relative_to(directory).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(directory.rglob("*")) if path.is_file() and path.name != ".lock"}


def under_file_size_limit(command, limit_bytes, cwd):
    """``command`` in a process that cannot write a file beyond ``limit_bytes`` (``ulimit -f``).

    Python ignores SIGXFSZ, so a write past the limit fails with EFBIG as on a full disk.
    """
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return subprocess.run(command, preexec_fn=limit, cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_a_full_disk_during_a_checkpoint_keeps_the_last_one_and_leaves_no_partial_file(three_checkpoints, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(three_checkpoints, run)
    before = file_hashes(run)
    result = under_file_size_limit(
        [sys.executable, "-m", "ezgan", "train", "--resume", "--iterations", "4", "--threads", "1",
         "--checkpoint-every", "1", "--checkpoint-dir", str(run)], 4 * 2**20, tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[-1] == (f"ezgan train: error: {run}: could not write the checkpoint of step 4 "
                                              f"(File too large); the checkpoints written before it are kept")
    assert not list(run.rglob("*tempstate*"))
    assert file_hashes(run) == before   # nothing written, nothing lost
    tiny(run, iterations=4, resume=True)   # room again: it goes on from step 3
    assert json.loads((run / "run.json").read_text())["step"] == 5


@pytest.mark.slow
def test_export_under_a_full_disk_keeps_the_model_already_there(three_checkpoints, tmp_path):
    out = tmp_path / "pretrained"
    export = [sys.executable, "-m", "ezgan", "export", "--out", str(out), "--checkpoint"]
    subprocess.run([*export, str(three_checkpoints / "model.ckpt-2")], cwd=tmp_path, check=True, capture_output=True)
    before = file_hashes(out)
    result = under_file_size_limit([*export, str(three_checkpoints / "model.ckpt-3"), "--overwrite"], 2**20, tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"ezgan export: error: {out}: could not write the checkpoint of step 3 "
                                    f"(File too large)")
    assert file_hashes(out) == before and not list(out.rglob("*tempstate*"))


# 9. Killed again and again ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_killed_at_random_moments_a_run_never_loses_a_complete_checkpoint_and_ends_as_a_whole_run(tmp_path):
    """SIGKILL at random moments, every other one while a checkpoint is being written, then --resume, four times.

    While the run goes, every checkpoint that run.json names is hashed as soon as it is seen;
    after each kill run.json's step is never behind the last one seen, and its checkpoint's files
    are byte for byte what they were. The run then ends bit for bit where an uninterrupted one does.
    """
    rng = random.Random(13)
    run, whole = tmp_path / "run", tmp_path / "whole"
    iterations = 12
    command = [sys.executable, "-m", "ezgan", "train", "--pretrain-steps", "1", "--seed", "6", "--threads", "1",
               "--iterations", str(iterations), "--checkpoint-every", "1", "--logdir", str(tmp_path / "tb")]
    seen = {}   # step named by run.json -> hashes of its checkpoint's files

    def named_checkpoint():
        try:
            step = json.loads((run / "run.json").read_text())["step"]
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        if step not in seen:
            seen[step] = {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
                          for name in ("train.ckpt", "model.ckpt") for path in run.glob(f"{name}-{step}.*")}
        return step

    for kill in range(4):
        during_write = kill % 2 == 1
        process = subprocess.Popen([*command, "--checkpoint-dir", str(run), *(["--resume"] if kill else [])],
                                   cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        first_seen = named_checkpoint()
        wait_until = time.monotonic() + rng.uniform(0.5, 3)
        deadline = time.monotonic() + 300
        while True:
            assert process.poll() is None and time.monotonic() < deadline, "the run ended before it was killed"
            step = named_checkpoint()
            if step is not None and step != first_seen and time.monotonic() > wait_until and (
                    not during_write or list(run.glob("*.tempstate*"))):
                break
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
        latest_seen = max(seen)
        after = json.loads((run / "run.json").read_text())["step"]
        assert after >= latest_seen, f"kill {kill}: run.json went back from step {latest_seen} to {after}"
        if after in seen:
            assert {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
                    for name in ("train.ckpt", "model.ckpt") for path in run.glob(f"{name}-{after}.*")} == seen[after]
        assert after < 1 + iterations, "the run finished before its last kill"
    subprocess.run([*command, "--checkpoint-dir", str(run), "--resume"], cwd=tmp_path, check=True, capture_output=True)
    subprocess.run([*command, "--checkpoint-dir", str(whole), "--logdir", str(tmp_path / "tb-whole")], cwd=tmp_path,
                   check=True, capture_output=True)
    assert not list(run.rglob("*tempstate*"))
    resumed, uninterrupted = checkpoint_values(run), checkpoint_values(whole)
    assert resumed["global_step"] == uninterrupted["global_step"] == 1 + iterations
    for name, value in uninterrupted.items():
        np.testing.assert_array_equal(resumed[name], value, err_msg=name)


# 10. Exports that would destroy a model or a run ----------------------------------------------------------

def test_export_writes_a_new_folder_named_after_the_run_and_replaces_a_model_only_when_told(
        three_checkpoints, tmp_path, capsys, monkeypatch):
    checkout = tmp_path / "checkout"   # a checkout of its own, its bundled model the run's step 2
    status, _, err = run_cli(capsys, "export", "--checkpoint", str(three_checkpoints / "model.ckpt-2"),
                             "--out", str(checkout / "pretrained"))
    assert status == 0, err
    bundled = file_hashes(checkout / "pretrained")
    monkeypatch.setattr("ezgan.paths.REPO", checkout)
    monkeypatch.chdir(checkout)   # where notebook.setup() leaves a notebook
    status, out, err = run_cli(capsys, "export", "--checkpoint", str(three_checkpoints))
    assert (status, out, err) == (0, "wrote exported/run-step3/model.ckpt-3\n", "")
    assert sorted(path.name for path in (checkout / "exported" / "run-step3").iterdir()) == [
        "checkpoint", "model.ckpt-3.data-00000-of-00001", "model.ckpt-3.index", "run.json"]
    status, _, err = run_cli(capsys, "export", "--checkpoint", str(three_checkpoints))
    assert status == 2 and err == ("ezgan export: error: exported/run-step3: holds another model (model.ckpt-3); "
                                   "give --overwrite to replace it, or another --out\n")
    status, _, err = run_cli(capsys, "export", "--checkpoint", str(three_checkpoints), "--out", "pretrained")
    assert status == 2 and err == ("ezgan export: error: pretrained: a model bundled with ezgan; export elsewhere, "
                                   "or give --overwrite to replace it\n")
    assert file_hashes(checkout / "pretrained") == bundled
    status, out, _ = run_cli(capsys, "export", "--checkpoint", str(three_checkpoints), "--out", "pretrained",
                             "--overwrite")
    assert (status, out) == (0, "wrote pretrained/model.ckpt-3\n")
    assert steps(checkout / "pretrained", "model.ckpt") == [3]
    assert json.loads((checkout / "pretrained" / "run.json").read_text())["step"] == 3
    status, out, _ = run_cli(capsys, "export", "--help")
    assert status == 0 and "exported/RUN-stepSTEP" in out


def test_export_into_a_run_folder_is_refused_and_the_run_goes_on(three_checkpoints, tmp_path, capsys):
    run, other = tmp_path / "run", tmp_path / "other"
    shutil.copytree(three_checkpoints, run)
    shutil.copytree(three_checkpoints, other)
    before = file_hashes(run)
    for checkpoint, out, message in [
            (run, run, f"{run}: the folder of --checkpoint {run / 'model.ckpt-3'}; export to a folder of its own"),
            (other, run, f"{run}: a training run's folder (its run.json holds training state); export to a folder "
                         f"of its own"),
            (other / "model.ckpt-2", run / "grids", f"{run / 'grids'}: inside the training run's folder {run} (its "
                                                    f"run.json holds training state); export to a folder of its own")]:
        status, _, err = run_cli(capsys, "export", "--checkpoint", str(checkpoint), "--out", str(out), "--overwrite")
        assert status == 2 and err == f"ezgan export: error: {message}\n"
    assert file_hashes(run) == before
    tiny(run, iterations=3, resume=True)
    assert json.loads((run / "run.json").read_text())["step"] == 4


# 11. Curves, run.json, resuming with other switches ----------------------------------------------------------

@pytest.mark.slow
def test_curve_names_its_files_as_given_and_replaces_none_unless_told(tmp_path, capsys):
    run = tmp_path / "run"
    tiny(run, milestone_every=1)
    (tmp_path / "curve.csv").write_text("mine")
    curve = ["curve", "--milestones", str(run / "milestones"), "--n", "10", "--out", str(tmp_path / "curve.v2")]
    status, out, err = run_cli(capsys, *curve)
    assert status == 0, err
    assert out.endswith(f"wrote {tmp_path / 'curve.v2.csv'}, {tmp_path / 'curve.v2.png'} and "
                        f"{tmp_path / 'curve.v2.json'}\n")
    assert sorted(path.name for path in tmp_path.glob("curve*")) == ["curve.csv", "curve.v2.csv", "curve.v2.json",
                                                                      "curve.v2.png"]
    assert (tmp_path / "curve.csv").read_text() == "mine"
    written = file_hashes(tmp_path)
    status, out, err = run_cli(capsys, *curve)
    assert (status, out) == (2, "") and err == (f"ezgan curve: error: --out {tmp_path / 'curve.v2.csv'}: exists "
                                                f"already; give --overwrite to replace it\n")
    assert file_hashes(tmp_path) == written


@pytest.mark.parametrize("damage", ["empty", "truncated", "not an object", "an exported model's"])
def test_a_damaged_run_json_is_one_line_naming_it(damage, three_checkpoints, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(three_checkpoints, run)
    state = run / "run.json"
    text = state.read_text()
    state.write_text({"empty": "", "truncated": text[:len(text) // 2], "not an object": "[3]\n",
                      "an exported model's": json.dumps({key: value for key, value in json.loads(text).items()
                                                         if key != "logdir"})}[damage])
    reason = {"empty": "damaged or incomplete run state (empty file)",
              "truncated": "damaged or incomplete run state (Unterminated string",
              "not an object": "damaged or incomplete run state (not a JSON object)",
              "an exported model's": "not a training run's state (missing logdir)"}[damage]
    commands = [["train", "--resume", "--iterations", "4", "--checkpoint-dir", str(run)]]
    if damage != "an exported model's":   # an exported model is sampled from
        commands.append(["sample", "--checkpoint", str(run), "--out", str(tmp_path / "s.png")])
    for command in commands:
        status, out, err = run_cli(capsys, *command)
        assert status == 2 and out == "" and err.count("\n") == 1, err
        assert err.startswith(f"ezgan {command[0]}: error: {state}: {reason}")
    assert not (tmp_path / "s.png").exists() and steps(run, "train.ckpt") == [1, 2, 3]


@pytest.mark.slow
def test_resume_names_the_recipe_switches_it_ignores_and_prints_each_row_once(tmp_path, capsys):
    run = tmp_path / "run"
    common = ["--pretrain-steps", "1", "--checkpoint-every", "1", "--summary-every", "3", "--threads", "1",
              "--checkpoint-dir", str(run), "--logdir", str(tmp_path / "tb")]
    status, _, err = run_cli(capsys, "train", "--recipe", "dcgan", "--iterations", "2", *common)
    assert status == 0, err
    # --beta1 0.9 is the run's own: not named. A row every 3 iterations, a checkpoint at every one.
    status, out, err = run_cli(capsys, "train", "--resume", "--recipe", "tutorial", "--ema", "0.5", "--beta1", "0.9",
                               "--iterations", "6", *common)
    assert status == 0, err
    assert out.splitlines()[0] == "resuming with the run's own recipe (dcgan); ignored: --recipe tutorial, --ema 0.5"
    assert out.count("[     3/6]") == 1
    recipe = json.loads((run / "run.json").read_text())["recipe"]
    assert (recipe["generator"], recipe["ema_decay"]) == ("dcgan", 0.0)


# 12. Stopped, killed, interrupted ---------------------------------------------------------------------------

class SignalAtBatch:
    """The training images; drawing batch number ``at`` (from the start of the run) sends this process ``signum``,
    as Ctrl-C or `kill` would."""

    def __init__(self, data, at, signum):
        self.data, self.at, self.signum, self.batch = data, at, signum, 0

    def seek(self, position):
        self.data.seek(position)
        self.batch = position // 50

    def next_batch(self, n):
        self.batch += 1
        if self.batch - 1 == self.at:
            os.kill(os.getpid(), self.signum)
        return self.data.next_batch(n)


SIX_ITERATIONS = ["--iterations", "6", "--pretrain-steps", "1", "--checkpoint-every", "2", "--summary-every", "100",
                  "--threads", "1"]


@pytest.fixture(scope="module")
def six_iterations(tmp_path_factory):
    """``ezgan train SIX_ITERATIONS`` (seed 0) run whole: its checkpoint folder."""
    run = tmp_path_factory.mktemp("six") / "run"
    train(iterations=6, pretrain_steps=1, seed=0, logdir=None, checkpoint_dir=str(run), checkpoint_every=2,
          summary_every=100, threads=1, progress=False)
    return run


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stops_training_with_one_line_saying_how_to_go_on(signum, six_iterations, mnist, tmp_path,
                                                                           capsys, monkeypatch):
    class Data:
        train = SignalAtBatch(mnist.train, 4, signum)   # iteration 3's batch; the last checkpoint is step 3's

    def not_ezgans(signum, frame):   # the test's own handler, there before and after ezgan's
        pytest.fail(f"{signal.Signals(signum).name} reached the test: ezgan train did not handle it")

    run = tmp_path / "run"
    previous = {number: signal.signal(number, not_ezgans) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        with monkeypatch.context() as patch:
            patch.setattr("ezgan.lab.training.read_data_sets", lambda seed: Data)
            status, _, err = run_cli(capsys, "train", *SIX_ITERATIONS, "--checkpoint-dir", str(run),
                                     "--logdir", str(tmp_path / "tb"))
        after = [signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)]
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    command = (f"ezgan train --resume --checkpoint-dir {run} --iterations 6 --checkpoint-every 2 --summary-every 100 "
               f"--threads 1")
    assert status == 128 + signum and "Traceback" not in err
    assert err.splitlines()[-1] == (f"ezgan train: stopped by {signal.Signals(signum).name}; the last checkpoint is "
                                    f"step 3 in {run}; go on with: {command}")
    assert after == [not_ezgans, not_ezgans]
    assert not list(run.rglob("*tempstate*")) and not list(run.rglob(".*.partial-*"))
    status, _, err = run_cli(capsys, *shlex.split(command)[1:])
    assert status == 0, err
    resumed, uninterrupted = checkpoint_values(run), checkpoint_values(six_iterations)
    assert resumed["global_step"] == uninterrupted["global_step"] == 7
    for name, value in uninterrupted.items():
        np.testing.assert_array_equal(resumed[name], value, err_msg=name)


@pytest.mark.slow
def test_a_stopped_command_leaves_no_temporary_file_and_the_next_removes_a_killed_ones(short_run, three_checkpoints,
                                                                                      tmp_path, capsys):
    out = tmp_path / "digits"
    # 200,000 digits: a minute's work, so that the signal comes while the file is being written even when the
    # machine is busy (with 50,000, one run under a full test suite finished before the signal was sent).
    command = [sys.executable, "-m", "ezgan", "sample", "--checkpoint", str(short_run[1]), "--n", "200000",
               "--out", str(out / "big.npy")]
    for signum in (signal.SIGTERM, signal.SIGKILL):
        process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while not list(out.glob(".big.npy.partial-*")):   # the file is being written
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.05)
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
        if signum == signal.SIGTERM:
            assert process.returncode == 128 + signal.SIGTERM and "Traceback" not in err
            assert err.splitlines()[-1] == "ezgan sample: stopped by SIGTERM; nothing half-written is left"
            assert os.listdir(out) == []
    killed = os.listdir(out)
    assert len(killed) == 1 and killed[0].startswith(f".big.npy.partial-{process.pid}-")
    status, _, err = run_cli(capsys, "sample", "--checkpoint", str(short_run[1]), "--n", "5",
                             "--out", str(out / "small.npy"))
    assert status == 0, err
    assert os.listdir(out) == ["small.npy"]
    # An export killed while TensorFlow wrote its checkpoint: the next export there removes what it left.
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.ckpt-3.data-00000-of-00001.tempstate5813").write_bytes(bytes(1000))
    status, _, err = run_cli(capsys, "export", "--checkpoint", str(three_checkpoints), "--out", str(model))
    assert status == 0, err
    assert sorted(os.listdir(model)) == ["checkpoint", "model.ckpt-3.data-00000-of-00001", "model.ckpt-3.index",
                                         "run.json"]


def test_a_run_that_ended_leaves_no_lock_to_take_over_and_one_digit_is_one_digit(three_checkpoints, tmp_path,
                                                                                  capsys):
    run = tmp_path / "run"
    shutil.copytree(three_checkpoints, run)
    assert (run / ".lock").read_text() == ""   # the run ended: no pid is left in its lock
    status, out, err = run_cli(capsys, "train", "--resume", "--iterations", "3", "--threads", "1",
                               "--checkpoint-dir", str(run))
    assert status == 0, err
    assert out == "resuming with the run's own seed 3 and 1 pre-training steps\n"
    assert (run / ".lock").read_text() == ""
    status, out, _ = run_cli(capsys, "sample", "--checkpoint", str(run), "--n", "1", "--out", str(tmp_path / "1.png"))
    assert (status, out) == (0, f"wrote 1 digit to {tmp_path / '1.png'}\n")


# 13. File modes, a disk just large enough, many digits -------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_every_file_a_command_writes_gets_the_users_umask(umask, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    commands = [["train", "--iterations", "2", "--pretrain-steps", "1", "--checkpoint-every", "1",
                 "--milestone-every", "1", "--threads", "1", "--checkpoint-dir", "run", "--logdir", "tb"],
                ["sample", "--checkpoint", "run", "--n", "5", "--out", "s.png"],
                ["sample", "--checkpoint", "run", "--n", "5", "--out", "s.npy"],
                ["sample", "--checkpoint", "run", "--checkpoint", "run/milestones/model.ckpt-2", "--n", "5",
                 "--out", "both.png"],
                ["export", "--checkpoint", "run"],
                ["evaluate", "--checkpoint", "run", "--n", "10", "--json", "e.json"],
                ["curve", "--milestones", "run/milestones", "--n", "10", "--out", "curve"]]
    previous = os.umask(umask)
    try:
        for command in commands:
            status, _, err = run_cli(capsys, *command)
            assert status == 0, err
    finally:
        os.umask(previous)
    modes = {path.relative_to(tmp_path).as_posix(): path.stat().st_mode & 0o777
             for path in tmp_path.rglob("*") if path.is_file()}
    assert {"run/run.json", "run/grids/step0000003.png", "run/milestones/times.json", "run/model.ckpt-3.index",
            "s.png", "s.npy", "both.png", "exported/run-step3/run.json", "e.json", "curve.csv", "curve.png",
            "curve.json"} <= set(modes)
    assert modes == dict.fromkeys(modes, 0o666 & ~umask)


# A Python run in a user and mount namespace of its own: a tmpfs at DISK holding a copy of RUN and ROOM bytes more,
# then `ezgan COMMAND` in it; prints {status, stderr, files of the copy} as JSON.
SMALL_DISK = """
import json, os, shutil, subprocess, sys
disk, run, room, *command = sys.argv[1:]
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1g", "ezgan", disk], check=True)
shutil.copytree(run, os.path.join(disk, "run"))
subprocess.run(["mount", "-o", f"remount,size={shutil.disk_usage(disk).used + int(room)}", disk], check=True)
result = subprocess.run([sys.executable, "-m", "ezgan", *command], cwd=disk, capture_output=True, text=True)
files = sorted(os.listdir(os.path.join(disk, "run")))
print(json.dumps(dict(status=result.returncode, stderr=result.stderr, files=files)))
"""


def on_a_small_disk(tmp_path, run, room, *command):
    """``ezgan COMMAND`` (run in the disk's root) on a copy of ``run`` in a folder ``run`` of a disk that has
    ``room`` bytes free besides it: (exit status, stderr, the names in the copy after)."""
    namespace = ["unshare", "--user", "--map-root-user", "--mount"]
    if not shutil.which("unshare") or subprocess.run([*namespace, "true"], capture_output=True).returncode:
        pytest.skip("needs a user and mount namespace (unshare) for a small tmpfs")
    disk = tmp_path / "disk"
    disk.mkdir(exist_ok=True)
    result = subprocess.run([*namespace, sys.executable, "-c", SMALL_DISK, str(disk), str(run), str(room), *command],
                            capture_output=True, text=True, timeout=600, check=True)
    outcome = json.loads(result.stdout)
    return outcome["status"], outcome["stderr"], outcome["files"]


@pytest.mark.slow
def test_a_disk_that_holds_just_the_kept_checkpoints_is_enough_and_a_fuller_one_says_what_to_free(three_checkpoints,
                                                                                                  tmp_path):
    resume = ["train", "--resume", "--iterations", "4", "--threads", "1", "--checkpoint-every", "1",
              "--checkpoint-dir", "run"]
    status, err, files = on_a_small_disk(tmp_path, three_checkpoints, 2**20, *resume)   # 1 MiB: no checkpoint more
    assert status == 0, err
    assert [name for name in files if name.endswith(".index")] == [
        f"{name}-{step}.index" for name in ("model.ckpt", "train.ckpt") for step in (3, 4, 5)]
    single = tmp_path / "single"   # one checkpoint kept: there is none to delete before the next
    shutil.copytree(three_checkpoints, single)
    for path in [*single.glob("*.ckpt-1.*"), *single.glob("*.ckpt-2.*")]:
        path.unlink()
    status, err, files = on_a_small_disk(tmp_path, single, 2**20, *resume, "--keep", "1")
    assert status == 2 and err.count("Traceback") == 0
    assert re.fullmatch(r"ezgan train: error: run: could not write the checkpoint of step 4 \(.*No space left on "
                        r"device.*\); the checkpoints written before it are kept; free \d+ MB on its disk",
                        err.splitlines()[-1]), err
    assert [name for name in files if ".ckpt-" in name] == [
        "model.ckpt-3.data-00000-of-00001", "model.ckpt-3.index", "train.ckpt-3.data-00000-of-00001",
        "train.ckpt-3.index", "train.ckpt-3.meta"]


@pytest.mark.slow
def test_many_digits_stream_to_disk_with_a_progress_bar_in_little_memory(short_run, tmp_path, capsys, monkeypatch):
    """What `ezgan sample --n 1000000 --out x.npy` does, on 15,000 digits: the array is never whole in memory."""
    monkeypatch.setattr(cli, "PROGRESS_DIGITS", 10_000)
    n, out = 15_000, tmp_path / "x.npy"
    tracemalloc.start()
    try:
        status, stdout, err = run_cli(capsys, "sample", "--checkpoint", str(short_run[1]), "--n", str(n),
                                      "--seed", "2", "--out", str(out))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (status, stdout) == (0, f"wrote 15,000 digits to {out}\n"), err
    assert "sampling" in err and "15.0k/15.0k" in err
    array_bytes = n * 28 * 28 * 4
    assert peak < array_bytes / 4, f"a peak of {peak:,} bytes for an array of {array_bytes:,}"
    sampler = Sampler(short_run[1])
    try:
        whole = sampler.generate(sampler.noise(n, seed=2))   # all the noise in one call, as before streaming
    finally:
        sampler.close()
    np.testing.assert_array_equal(np.load(out), whole)


# 14. The README's table --------------------------------------------------------------------------------

def test_every_row_of_the_readmes_fault_table_names_tests_that_exist():
    table = (REPO / "README.md").read_text().split("## What happens when…")[1].split("\n## ")[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith(("| When", "| ---"))]
    defined = {name for path in (REPO / "tests").glob("test_*.py")
               for name in re.findall(r"^def (test_\w+)", path.read_text(), re.MULTILINE)}
    assert len(rows) >= 15
    for row in rows:
        named = re.findall(r"`(test_\w+)`", row.rsplit(" | ", 1)[-1])
        assert named and set(named) <= defined, f"README row names no test or a missing one: {row}"


@pytest.mark.parametrize("command", ["train", "sample", "export", "evaluate", "curve", "train-classifier"])
def test_help_states_each_default_once(command, capsys):
    status, out, _ = run_cli(capsys, command, "--help")
    options = re.split(r"\n  (?=-)", out.split("options:")[1])
    assert status == 0 and len(options) > 2
    assert [option.split()[0] for option in options if option.count("(default:") > 1] == []
