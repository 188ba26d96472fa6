"""`python -m corral.runner --model PATH --port N ...`: start one runner process."""

from __future__ import annotations

from corral.runner.server import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
