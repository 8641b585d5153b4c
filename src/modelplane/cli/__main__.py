"""`python -m modelplane.cli`: the same entry point as the `modelplane` command."""

from modelplane.cli.main import main

main()
