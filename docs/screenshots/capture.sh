#!/usr/bin/env bash
# Captures the README's screens from live runs in a tmux server of its own: the tiny preset at 120×40 and 80×24 just
# after `R` doubled the rank (plain text, colour and NO_COLOR escapes), its change log (`c`), and the main job
# (SmolLM2 on the sample tag task) after `g` generated a sample. Writes docs/screenshots/*.txt and *.ansi.
# Usage: docs/screenshots/capture.sh [path/to/loratop]     (from the repository root; builds nothing)
set -euo pipefail
cd "$(dirname "$0")/../.."
exe="${1:-.build/release/loratop}"
[ -x "$exe" ] || { echo "capture.sh: no loratop at $exe (swift build -c release first)" >&2; exit 1; }
shots=docs/screenshots
runs=0
sock="loratop-shots-$$-0"
work="$(mktemp -d)"
tm() { tmux -L "$sock" "$@"; }
cleanup() { tm kill-server 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# Waits (up to $1 seconds) until the pane shows the extended regular expression $2.
wait_for() {
  local until=$((SECONDS + $1))
  while ! tm capture-pane -t s -p | grep -Eq "$2"; do
    [ $SECONDS -lt $until ] || { echo "capture.sh: timed out waiting for /$2/:" >&2; tm capture-pane -t s -p >&2; exit 1; }
    sleep 0.2
  done
}

# Starts `loratop ARGS` in a fresh window of W×H with extra environment ENV.
start() {  # W H ENV ARGS...
  local w=$1 h=$2 env=$3; shift 3
  tm kill-server 2>/dev/null || true
  runs=$((runs + 1)); sock="loratop-shots-$$-$runs"   # a server of its own: the last one may still be going away
  tm -f /dev/null new-session -d -x "$w" -y "$h" -s s \
    "env LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm-256color $env $exe $* --output $work/run-$w-$h; sleep 600"
}

quit() { tm send-keys -t s q; sleep 0.5; tm send-keys -t s n; sleep 1; }

tiny="train --preset tiny --data sample-data/logbook.txt --seq-len 32 --batch-size 2 --max-steps 1000000 --no-save"
for size in 120x40 80x24; do
  w=${size%x*}; h=${size#*x}
  for mode in colour no-color; do
    env=""; suffix=""
    [ "$mode" = no-color ] && { env="NO_COLOR=1"; suffix="-no-color"; }
    start "$w" "$h" "$env" $tiny
    wait_for 30 'RUNNING'
    sleep 3
    tm send-keys -t s R
    wait_for 30 'last change, step [0-9]+: r 8→16'
    sleep 1
    tm capture-pane -t s -p -e > "$shots/train-$size$suffix.ansi"
    [ "$mode" = colour ] && tm capture-pane -t s -p > "$shots/train-$size.txt"
    if [ "$size" = 120x40 ] && [ "$mode" = colour ]; then
      tm send-keys -t s A; sleep 0.3; tm send-keys -t s l
      wait_for 30 'lr 2e-04→1e-04'
      tm send-keys -t s c
      wait_for 10 'changes · [0-9]+ applied'
      tm capture-pane -t s -p > "$shots/changes-120x40.txt"
      tm send-keys -t s Escape
    fi
    quit
  done
done

# The main job: SmolLM2-135M-Instruct on the sample tag task; `g` once the loss is falling.
start 120 40 "" train --model smollm2 --data sample-data/tags-train.jsonl --eval-data sample-data/tags-eval.jsonl --max-steps 300 --no-save
wait_for 120 'RUNNING  step (1[5-9]|[2-9][0-9])/300'
tm send-keys -t s g
wait_for 120 'adapted    [^ ]'
sleep 1
tm capture-pane -t s -p > "$shots/main-job-120x40.txt"
tm capture-pane -t s -p -e > "$shots/main-job-120x40.ansi"
quit
echo "capture.sh: wrote $(ls "$shots" | grep -Ec '\.(txt|ansi)$') files in $shots"
