"""Thin entry point: stream synthetic transactions into MongoDB (same as `paylake generate ...`)."""

import sys

from paylake.cli import main

if __name__ == "__main__":
    sys.exit(main(["generate", *sys.argv[1:]]))
