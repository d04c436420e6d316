"""`python -m glore ...` runs the `glore` command (used by `accelerate launch -m glore train`)."""

from glore.cli import main

if __name__ == "__main__":  # a spawned process (`gen_processes`) imports this module too
    main()
