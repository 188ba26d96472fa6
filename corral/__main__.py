"""`python -m corral` runs the command line."""

from __future__ import annotations

from corral.cli import main

if __name__ == "__main__":
    main()
