"""Which machine a measurement ran on, for the tools that write one down."""
import pathlib
import platform


def cpu_name():
    """The CPU's model name from /proc/cpuinfo, else what the platform module knows.

    Timings and bit-for-bit results belong to a CPU: oneDNN picks its kernels by the instruction set
    (docs/determinism.md), so a number measured on another CPU may differ."""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
