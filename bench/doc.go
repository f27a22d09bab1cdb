// Package bench will hold the latency/throughput runner, statistics, gates
// and plots (`infer bench`). It is empty until that issue lands.
package bench
