"""`python -m glore ...` runs the `glore` command (used by `accelerate launch -m glore train`)."""

from glore.cli import main

main()
