"""``python -m ezgan`` is the ``ezgan`` command."""
from ezgan.cli import main

main()
