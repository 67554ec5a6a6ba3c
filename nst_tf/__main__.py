"""`python -m nst_tf` runs the nst-tf CLI."""

from nst_tf import cli

cli.run()
