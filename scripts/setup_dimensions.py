"""Thin entry point: seed merchants, categories and customers into MongoDB (same as `paylake dimensions`)."""

import sys

from paylake.cli import main

if __name__ == "__main__":
    sys.exit(main(["dimensions", *sys.argv[1:]]))
