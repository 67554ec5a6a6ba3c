#!/usr/bin/env bash
# Remakes every picture in saved_outputs/ with the quality preset. Run from the repository root.
set -euo pipefail
d=nst_tf/data
run() { nst-tf --flagfile=flags/quality.flags --weights=hed --content=$d/$1.png --style=$d/$2 --output=saved_outputs/$1__${2%.*}.png; }
run chelsea starry_night.jpg
run astronaut woman-with-hat-matisse.jpg
run coffee the_scream.jpg
python -m nst_tf.sheet saved_outputs/readme_sheet.png --height=200 \
  $d/chelsea.png $d/starry_night.jpg saved_outputs/chelsea__starry_night.png \
  $d/astronaut.png $d/woman-with-hat-matisse.jpg saved_outputs/astronaut__woman-with-hat-matisse.png \
  $d/coffee.png $d/the_scream.jpg saved_outputs/coffee__the_scream.png
