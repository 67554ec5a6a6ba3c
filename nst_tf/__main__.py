"""`python -m nst_tf` runs the nst-tf CLI."""

from nst_tf.cli import paint

paint.run()
