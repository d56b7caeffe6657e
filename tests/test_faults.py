"""Faults and bad input (issue #13): a locked run folder, a fresh start over a run, divergence,
output paths, and runs with nothing left to do. Every run here is tiny."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from ezgan import cli
from ezgan.errors import CheckpointError, EzganError, TrainingDiverged
from ezgan.graph import build_graph
from ezgan.sample import Sampler
from ezgan.train import train

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


def test_a_nan_loss_stops_training_before_it_is_saved(tmp_path, mnist):
    run = tmp_path / "run"
    # Batch 9 is iteration 8's (after 1 pre-training step); the summary row of iteration 10 finds it,
    # before the checkpoint after iteration 11.
    with pytest.raises(TrainingDiverged, match="training diverged at iteration 10: d_loss_real is nan"):
        tiny(run, iterations=12, checkpoint_every=4, summary_every=5, data=NanBatch(mnist.train, 9))
    assert json.loads((run / "run.json").read_text())["step"] == 9
    assert steps(run, "train.ckpt") == [1, 5, 9] and finite_checkpoint(run)


def test_a_diverged_run_is_one_line_from_the_command_line(tmp_path, mnist, capsys, monkeypatch):
    class Data:
        train = NanBatch(mnist.train, 3)   # iteration 2's batch; no summary row there, the checkpoint check finds it

    monkeypatch.setattr("ezgan.train.read_data_sets", lambda seed: Data)
    run = tmp_path / "run"
    status, _, err = run_cli(capsys, "train", "--iterations", "5", "--pretrain-steps", "1", "--checkpoint-every", "2",
                             "--summary-every", "100", "--checkpoint-dir", str(run), "--logdir", str(tmp_path / "tb"))
    assert status == 2
    last = err.splitlines()[-1]   # after the progress bar's
    assert last.startswith("ezgan train: error: training diverged at iteration 3: d_loss_real is nan")
    assert "Traceback" not in err
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
        Sampler(tmp_path / "model.ckpt-1")


# 4. Output paths ----------------------------------------------------------------------------------------

def test_sample_writes_an_array_into_a_missing_folder(short_run, tmp_path, capsys):
    out = tmp_path / "new" / "deeper" / "s.npy"
    status, _, err = run_cli(capsys, "sample", "--checkpoint", str(short_run[1]), "--n", "5", "--out", str(out))
    assert status == 0, err
    assert np.load(out).shape == (5, 28, 28)
    assert os.listdir(out.parent) == ["s.npy"]   # no temporary file left


@pytest.mark.parametrize("case", ["directory", "under a file", "proc", "read-only"])
def test_an_output_path_that_cannot_be_written_is_one_line_before_any_work(case, tmp_path, capsys):
    if case == "read-only" and os.geteuid() == 0:
        pytest.skip("root writes in read-only folders")
    (tmp_path / "taken.png").mkdir()
    (tmp_path / "file").write_text("")
    (tmp_path / "locked").mkdir(mode=0o555)
    out, message = {"directory": (tmp_path / "taken.png", "is a directory"),
                    "under a file": (tmp_path / "file" / "sub" / "s.png", f"{tmp_path / 'file'} is a file"),
                    "proc": ("/proc/ezgan/s.npy", "cannot write in /proc"),
                    "read-only": (tmp_path / "locked" / "s.png", f"cannot write in {tmp_path / 'locked'}")}[case]
    # A checkpoint that does not exist: the path is refused before the checkpoint is looked at.
    status, _, err = run_cli(capsys, "sample", "--checkpoint", str(tmp_path / "nowhere"), "--out", str(out))
    assert status == 2 and err.count("\n") == 1
    assert err.startswith(f"ezgan sample: error: {out}: ") and message in err


# 5. Nothing left to do, --logdir on --resume, pruning, leftovers ---------------------------------------------

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
