# bench/chart.gp — the chart of bench/report: msgs/s and memory against connections, one line
# per model, log-log.  Called as
#   gnuplot -e "datafile='models.dat'; outfile='models.png'; names='a b c'; xmin=1; xmax=10000" bench/chart.gp
# models.dat: block 0 (msgs/s) and block 1 (memory, MiB), each a line per level: the level,
# then one column per model in the order of `names`; "?" where a model has no figure (a gap).
set terminal pngcairo size 1100,500 font "sans,10" noenhanced   # noenhanced: "_" is not a subscript
set output outfile
set datafile missing "?"
set logscale xy
set grid
set key below horizontal font ",9"
set offsets graph 0.02, graph 0.02, graph 0.05, graph 0.05   # points off the frame
set format x "%g"
set xlabel "connections"
# The x range is set, not found: a quick run has a single level, which gnuplot cannot scale.
set xrange [xmin / 2.0 : xmax * 2.0]
if (words(names) == 0) { set label 1 "no unconstrained measurement" at graph 0.5, 0.5 center }
set multiplot layout 1,2 title "echo servers, unconstrained (medians over rounds)"
set title "throughput"
set ylabel "msgs/s"
set format y "%.0s%c"   # 10k, 100k, 1M
if (words(names) == 0) { set yrange [1:10]; plot 0.5 notitle } else {
  plot for [i=2:words(names)+1] datafile index 0 using 1:i with linespoints lw 2 pt (i-1) title word(names, i-1)
}
set title "memory of the whole server (PSS summed over its processes)"
set ylabel "MiB"
set format y "%g"
if (words(names) == 0) { set yrange [1:10]; plot 0.5 notitle } else {
  plot for [i=2:words(names)+1] datafile index 1 using 1:i with linespoints lw 2 pt (i-1) title word(names, i-1)
}
unset multiplot
