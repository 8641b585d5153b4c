"""The command line: `modelplane serve` and friends."""
