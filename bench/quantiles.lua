-- wrk script: after the run, prints the latency distribution as 10,000
-- quantiles (0.01% apart, the last one the maximum; in microseconds) with the number of requests, so
-- bench/api.py can pool several runs of one cell into one distribution.
done = function(summary, latency, requests)
  io.write(string.format("QUANTILES %d %f\n", summary.requests, summary.duration / 1e6))
  local values = {}
  for i = 1, 9999 do
    values[i] = string.format("%d", latency:percentile(i / 100))
  end
  values[10000] = string.format("%d", latency.max)
  io.write(table.concat(values, " "), "\n")
end
