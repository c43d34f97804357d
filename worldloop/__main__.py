"""`python -m worldloop ...`: the command line, as the `worldloop` script."""
from worldloop.tools.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
