"""Faults and bad input (issue #13): a locked run folder, a fresh start over a run, divergence,
output paths, runs with nothing left to do, damaged checkpoints, a full disk, kills at random
moments. Every run here is tiny."""
import hashlib
import json
import os
import pathlib
import random
import re
import resource
import shutil
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
from ezgan.paths import REPO
from ezgan.sample import Sampler
from ezgan.runs.training import train

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
    # The summary row finds d_loss_real NaN; where a fused ReLU turns NaN into 0 (AVX-512 CPUs) the losses stay
    # finite, and the weights' check before the checkpoint after iteration 11 finds the NaN weights instead.
    with pytest.raises(TrainingDiverged, match="training diverged at iteration (10: d_loss_real is nan|11: .* not finite)"):
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
    assert last.startswith("ezgan train: error: training diverged at iteration 3: ")
    assert "d_loss_real is nan" in last or "not finite" in last
    assert "Traceback" not in err
    assert steps(run, "train.ckpt") == [1, 3] and finite_checkpoint(run)


def test_a_nan_weight_that_no_loss_shows_stops_training_before_it_is_saved(tmp_path):
    """g_b1/moving_mean is never used (batch norm uses batch statistics), so no loss can show its NaN:
    only the weights' check before each checkpoint can, on every CPU."""
    def poison(sess, gan, iteration):
        if iteration == 2:
            moving_mean = next(v for v in gan.model_variables if v.op.name == "g_b1/moving_mean")
            moving_mean.load(np.full(moving_mean.shape, np.nan, np.float32), sess)

    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match="training diverged at iteration 3: g_b1/moving_mean not finite"):
        tiny(run, iterations=6, checkpoint_every=2, summary_every=1, callback=poison, callback_every=1)
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


def test_export_under_a_full_disk_keeps_the_model_already_there(three_checkpoints, tmp_path):
    out = tmp_path / "pretrained"
    export = [sys.executable, "-m", "ezgan", "export", "--out", str(out), "--checkpoint"]
    subprocess.run([*export, str(three_checkpoints / "model.ckpt-2")], cwd=tmp_path, check=True, capture_output=True)
    before = file_hashes(out)
    result = under_file_size_limit([*export, str(three_checkpoints / "model.ckpt-3")], 2**20, tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"ezgan export: error: {out}: could not write the checkpoint of step 3 "
                                    f"(File too large)")
    assert file_hashes(out) == before and not list(out.rglob("*tempstate*"))


# 9. Killed again and again ---------------------------------------------------------------------------------

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


# 10. The README's table --------------------------------------------------------------------------------

def test_every_row_of_the_readmes_fault_table_names_tests_that_exist():
    table = (REPO / "README.md").read_text().split("## What happens when…")[1].split("\n## ")[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith(("| When", "| ---"))]
    defined = {name for path in (REPO / "tests").glob("test_*.py")
               for name in re.findall(r"^def (test_\w+)", path.read_text(), re.MULTILINE)}
    assert len(rows) >= 15
    for row in rows:
        named = re.findall(r"`(test_\w+)`", row.rsplit(" | ", 1)[-1])
        assert named and set(named) <= defined, f"README row names no test or a missing one: {row}"
