"""The one exception type that nst_tf raises for bad input."""


class StyleTransferError(ValueError):
  """Bad input: a missing or unreadable image, a bad setting, an unwritable path.

  Its message is one line meant for the user; the CLI prints it as is.
  """
