#!/usr/bin/env bash
# tmux_compare.sh — feeds the same input through a tmux pane and through the
# smrelay vt pipeline (in process, and read from a PTY like a pane reads it),
# in one run, and prints the smrelay-vs-tmux throughput ratio.
#
#   bench/tmux_compare.sh [BUILD_DIR] [MB]
#
# Inputs: (a) all tty fixtures concatenated and repeated, (b) the synthetic
# coloured-text stream; both MB MiB (default 64), written by bench_vt.
# tmux: a detached COLSxROWS pane runs `cat FILE; tmux wait -S done`; the time
# from starting the server to the signal is tmux's time to consume the file.
set -euo pipefail
build=${1:-build}
mb=${2:-64}
cols=120 rows=40
bench="$build/bench/bench_vt"
[ -x "$bench" ] || { echo "tmux_compare: $bench not built" >&2; exit 1; }
command -v tmux >/dev/null || { echo "tmux_compare: tmux not installed" >&2; exit 1; }
tmp=$(mktemp -d)
sock="smrelay-bench-$$"
trap 'tmux -L "$sock" kill-server 2>/dev/null || true; rm -rf "$tmp"' EXIT

"$bench" --write-fixtures "$tmp/fixtures.bin" --mb "$mb"
"$bench" --write-synthetic "$tmp/synthetic.bin" --mb "$mb"

now() { date +%s.%N; }
rate() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / 1048576 / s }'; }
field() { sed -n 's/.* = *\([0-9.]*\) MiB\/s.*/\1/p'; }

printf '%-12s %12s %14s %14s %10s %10s\n' input tmux_MiB/s smrelay_MiB/s smrelay_pty ratio ratio_pty
for input in fixtures synthetic; do
	f="$tmp/$input.bin"
	bytes=$(stat -c %s "$f")
	t0=$(now)
	tmux -L "$sock" -f /dev/null new-session -d -x "$cols" -y "$rows" \
		"stty raw -echo; cat '$f'; tmux -L '$sock' wait-for -S done; sleep 5"
	tmux -L "$sock" wait-for done
	t1=$(now)
	tmux -L "$sock" kill-server 2>/dev/null || true
	tmux_rate=$(rate "$bytes" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
	ours=$("$bench" --file "$f" --cols "$cols" --rows "$rows" | field)
	ours_pty=$("$bench" --pty "$f" --cols "$cols" --rows "$rows" | field)
	ratio=$(awk -v a="$ours" -v b="$tmux_rate" 'BEGIN { printf "%.2f", a / b }')
	ratio_pty=$(awk -v a="$ours_pty" -v b="$tmux_rate" 'BEGIN { printf "%.2f", a / b }')
	printf '%-12s %12s %14s %14s %9sx %9sx\n' "$input" "$tmux_rate" "$ours" "$ours_pty" "$ratio" "$ratio_pty"
done
