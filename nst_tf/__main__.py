"""`python -m nst_tf` runs the nst-tf CLI."""

from nst_tf.cli import stylize_command

stylize_command.run()
