"""``python -m chain.cli``: the ``tracechain`` command."""

from chain.cli import main

main()
