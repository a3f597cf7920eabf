#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Draws a sweep (`lightloop sweep ... --out DIR`) from DIR/summary.csv:
#   DIR/latency.png     TTFT, TPOT and end-to-end p50/p99 against the swept value
#   DIR/throughput.png  output tokens/s (and the link's utilization) against it
# With one numeric swept key its values are the x axis; otherwise the points
# are, labelled with their values. `lightloop sweep` runs this when gnuplot
# (Debian's gnuplot-nox) is installed; run it again after editing the CSV.
set -eu
dir=${1:?usage: scripts/plot-sweep.sh SWEEP_DIR}
csv="$dir/summary.csv"
[ -f "$csv" ] || { echo "plot-sweep: no $csv" >&2; exit 2; }
command -v gnuplot >/dev/null 2>&1 || {
  echo "plot-sweep: gnuplot is not installed (apt-get install gnuplot-nox)" >&2
  exit 2
}
dat=$(mktemp)
trap 'rm -f "$dat"' EXIT
# Finished points as tab-separated columns: x, label, then the metrics by name.
awk -F, '
  NR == 1 {
    for (i = 1; i <= NF; i++) col[$i] = i
    nkeys = col["status"] - 2
    numeric = nkeys == 1
    xlabel = nkeys == 1 ? $2 : "point"
    next
  }
  $col["status"] == "ok" || $col["status"] == "reused" {
    label = ""
    for (i = 2; i < 2 + nkeys; i++) label = label (label == "" ? "" : " ") $i
    if ($2 !~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/) numeric = 0
    n++
    row[n] = $1 "\t" label
    split("ttft_p50_ms ttft_p99_ms tpot_p50_ms tpot_p99_ms e2e_p50_ms e2e_p99_ms throughput_tok_s link_utilization", m, " ")
    for (k = 1; k <= 8; k++) row[n] = row[n] "\t" $col[m[k]]
    x[n] = $2
  }
  END {
    print "# " (numeric ? xlabel : "point")
    for (i = 1; i <= n; i++) {
      split(row[i], f, "\t")
      sub(/^[^\t]*/, numeric ? x[i] : f[1], row[i])
      print row[i]
    }
  }' "$csv" > "$dat"
if [ "$(grep -vc '^#' "$dat")" -eq 0 ]; then
  echo "plot-sweep: no finished point in $csv" >&2
  exit 1
fi
xlabel=$(head -1 "$dat" | cut -c3-)
xtics='1'
[ "$xlabel" = point ] && xtics='1:xtic(2)'
gnuplot <<GNUPLOT
set terminal pngcairo size 1000,620 noenhanced
set datafile separator "\t"
set key outside right
set grid
set xlabel "$xlabel"
set xtics rotate by -30
set output "$dir/latency.png"
set title "Latency percentiles ($csv)"
set ylabel "ms (log scale)"
set logscale y
plot "$dat" using $xtics:3 with linespoints title "TTFT p50", \
     "" using 1:4 with linespoints title "TTFT p99", \
     "" using 1:5 with linespoints title "TPOT p50", \
     "" using 1:6 with linespoints title "TPOT p99", \
     "" using 1:7 with linespoints title "e2e p50", \
     "" using 1:8 with linespoints title "e2e p99"
unset logscale y
set output "$dir/throughput.png"
set title "Throughput ($csv)"
set ylabel "output tokens/s"
set y2label "link utilization"
set y2tics
set ytics nomirror
plot "$dat" using $xtics:9 with linespoints title "tokens/s", \
     "" using 1:10 axes x1y2 with linespoints title "link utilization"
GNUPLOT
echo "wrote $dir/latency.png and $dir/throughput.png"
