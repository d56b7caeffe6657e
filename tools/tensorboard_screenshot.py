"""Screenshots of TensorBoard showing a run, for the docs: ``docs/tensorboard_{scalars,images}.png``.

Why a script: a picture of the real TensorBoard UI on a real ezgan run documents what the
tutorial's step 5 looks like, and regenerating it must not need a desktop. So it starts the real
``tensorboard`` server (this Python's) on a free loopback port, waits until the server has loaded
the logdir, and points headless Chromium at the dashboards:

* ``scalars``: the three losses; the tag filter ``.*`` puts every scalar chart in one open pane
  (unfiltered, TensorBoard collapses all but the first categories);
* ``images``: the latest ``Generated_images``.

Usage: ``python tools/tensorboard_screenshot.py --logdir ~/.cache/ezgan/runs/main/tensorboard``
(``make screenshot`` shows the committed ``tensorboard/tutorial-run`` and writes to ``docs/``).
The logdir is only read. Chromium comes from the Debian package ``chromium``; the script does
not install it.
"""
import argparse
import json
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

from PIL import Image

from ezgan.cli import DefaultsHelpFormatter

# Dashboard -> URL fragment that opens it.
DASHBOARDS = {
    "scalars": "scalars&tagFilter=.*",
    "images": "images",
}
SERVER_WAIT_SECONDS = 300    # a long run's events file takes a while to load
SERVER_STOP_SECONDS = 10
CHROMIUM_TIMEOUT_SECONDS = 180
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
]
INSTALL_HINT = "install it with `apt-get update && apt-get install -y chromium`, or pass --chromium PATH"
# Loopback must never go through a proxy named in the environment.
LOOPBACK_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ScreenshotError(RuntimeError):
    """Something the user can fix; the message says what."""


def window_size(text):
    try:
        width, height = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTH,HEIGHT in pixels, got {text!r}") from None
    if width <= 0 or height <= 0:
        raise argparse.ArgumentTypeError(f"width and height must be positive, got {text!r}")
    return width, height


def free_loopback_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(port, route):
    with LOOPBACK_OPENER.open(f"http://127.0.0.1:{port}{route}", timeout=30) as response:
        return json.loads(response.read())


def last_scalar_steps(port):
    """{(run, tag): last step} of every scalar series the server has loaded so far."""
    steps = {}
    for run, tags in get_json(port, "/data/plugin/scalars/tags").items():
        for tag in tags:
            query = urllib.parse.urlencode({"run": run, "tag": tag})
            series = get_json(port, f"/data/plugin/scalars/scalars?{query}")
            if series:
                steps[run, tag] = series[-1][1]
    return steps


def wait_until_loaded(server, port, log_path):
    """Return once the server's scalars stop growing: a screenshot then shows the whole run."""
    deadline = time.monotonic() + SERVER_WAIT_SECONDS
    previous = None
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise ScreenshotError(f"tensorboard exited with code {server.returncode}:\n"
                                  f"{log_path.read_text(errors='replace')[-3000:]}")
        try:
            current = last_scalar_steps(port)
        except OSError:  # not listening yet, or a tag listed before its data is
            current = None
        if current and current == previous:
            return current
        previous = current
        time.sleep(1.0)
    if previous:
        raise ScreenshotError(f"tensorboard was still loading after {SERVER_WAIT_SECONDS} s")
    raise ScreenshotError(f"tensorboard served no scalars within {SERVER_WAIT_SECONDS} s:\n"
                          f"{log_path.read_text(errors='replace')[-3000:]}")


def screenshot(chromium, url, out, size, budget_ms):
    """Render ``url`` in a fresh headless Chromium profile and write the window to ``out``."""
    out.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={out}",
                   f"--window-size={size[0]},{size[1]}",
                   # Virtual time runs the page's timers (chart animations) without waiting in
                   # real time, and stands still while fetches from the server are pending.
                   f"--virtual-time-budget={budget_ms}", url]
        try:
            finished = subprocess.run(command, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            raise ScreenshotError(f"chromium did not finish {url} within {CHROMIUM_TIMEOUT_SECONDS} s") from None
    if finished.returncode != 0 or not out.exists():
        raise ScreenshotError(f"chromium failed on {url} (exit code {finished.returncode}):\n"
                              f"{finished.stderr[-3000:]}")
    with Image.open(out) as picture:
        if picture.size != size:
            raise ScreenshotError(f"{out}: {picture.size[0]}x{picture.size[1]} pixels, expected {size[0]}x{size[1]}")


def run(args):
    if not args.chromium or not shutil.which(args.chromium):
        raise ScreenshotError(f"chromium not found ({args.chromium or 'not on PATH'}): {INSTALL_HINT}")
    if not any(args.logdir.expanduser().glob("**/events.out.tfevents.*")):
        raise ScreenshotError(f"{args.logdir}: no TensorBoard events files there (train a run first)")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    port = free_loopback_port()
    with tempfile.TemporaryDirectory(prefix="tensorboard-screenshot-") as scratch:
        log_path = pathlib.Path(scratch) / "tensorboard.log"
        with open(log_path, "wb") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "tensorboard.main", "--logdir", str(args.logdir.expanduser()),
                 "--host", "127.0.0.1", "--port", str(port),
                 # One load is a consistent snapshot, even of a run still training.
                 "--reload_interval=0"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_until_loaded(server, port, log_path)
            written = []
            for dashboard in args.dashboards:
                out = args.out_dir / f"tensorboard_{dashboard}.png"
                screenshot(args.chromium, f"http://127.0.0.1:{port}/#{DASHBOARDS[dashboard]}", out,
                           args.window_size, args.budget_ms)
                written.append(out)
            return written
        finally:
            server.terminate()
            try:
                server.wait(timeout=SERVER_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--logdir", type=pathlib.Path, default=pathlib.Path("tensorboard"),
                        help="TensorBoard logdir to show (read only)")
    parser.add_argument("--out-dir", type=pathlib.Path, default=pathlib.Path("docs"),
                        help="where tensorboard_<dashboard>.png go")
    parser.add_argument("--dashboards", nargs="+", choices=list(DASHBOARDS), default=list(DASHBOARDS),
                        help="which dashboards to capture")
    parser.add_argument("--window-size", type=window_size, default="1400,900", help="WIDTH,HEIGHT")
    parser.add_argument("--budget-ms", type=int, default=15000,
                        help="virtual time Chromium lets the page run before the screenshot")
    parser.add_argument("--chromium", default=shutil.which("chromium"), help="Chromium executable")
    args = parser.parse_args(argv)
    try:
        for out in run(args):
            print(f"wrote {out}")
    except ScreenshotError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
