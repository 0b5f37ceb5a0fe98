"""`python -m gpuledger` runs the command line."""

from gpuledger.cli import main

main()
