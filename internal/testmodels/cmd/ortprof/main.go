// Command ortprof shows what ONNX Runtime actually runs for a model: the
// op types of its optimized graph and where the time goes, per op type and
// per node, from ORT's own profile (one intra-op thread, random inputs):
//
//	go run ./internal/testmodels/cmd/ortprof [-shape x=1x3x224x224] [-runs 50] MODEL
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/ort"
)

type shapes map[string][]int64

func (s shapes) String() string { return fmt.Sprint(map[string][]int64(s)) }
func (s shapes) Set(v string) error {
	name, dims, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("want NAME=DIMS")
	}
	var out []int64
	for _, d := range strings.Split(dims, "x") {
		var n int64
		if _, err := fmt.Sscan(d, &n); err != nil {
			return err
		}
		out = append(out, n)
	}
	s[name] = out
	return nil
}

func main() {
	sh := shapes{}
	flag.Var(sh, "shape", "NAME=DIMS (repeatable)")
	runs := flag.Int("runs", 50, "profiled runs")
	top := flag.Int("top", 15, "slowest nodes to list")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: ortprof [-shape NAME=DIMS] MODEL")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), sh, *runs, *top); err != nil {
		fmt.Fprintln(os.Stderr, "ortprof:", err)
		os.Exit(1)
	}
}

func run(path string, sh shapes, runs, top int) error {
	if _, err := ort.Init(os.Getenv("INFER_ORT_LIB")); err != nil {
		return err
	}
	m, err := onnx.Load(path, onnx.LoadOptions{})
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "ortprof")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	opt := filepath.Join(dir, "optimized.onnx")
	s, err := ort.NewSessionFromModel(m.Proto, ort.Options{IntraOpThreads: 1, InterOpThreads: 1,
		OptimizedModelPath: opt, ProfilePrefix: filepath.Join(dir, "prof")})
	if err != nil {
		return err
	}
	src, err := dataset.Open("random", dataset.SpecsFromGraph(m.Proto.Graph), dataset.Options{Shapes: sh, RandomSamples: 1, Seed: 1})
	if err != nil {
		return err
	}
	b, err := src.Next()
	if err != nil {
		return err
	}
	for i := 0; i < runs; i++ {
		if _, err := s.Run(b.Inputs); err != nil {
			return err
		}
	}
	s.Close()
	om, err := onnx.Load(opt, onnx.LoadOptions{})
	if err != nil {
		return err
	}
	ops := map[string]int{}
	for _, n := range om.Proto.Graph.Node {
		ops[n.GetOpType()]++
	}
	fmt.Println("optimized graph:", sortedCounts(ops))
	files, _ := filepath.Glob(filepath.Join(dir, "prof*.json"))
	if len(files) == 0 {
		return fmt.Errorf("no profile written")
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		return err
	}
	var events []struct {
		Cat  string  `json:"cat"`
		Name string  `json:"name"`
		Dur  float64 `json:"dur"`
		Args struct {
			OpName string `json:"op_name"`
		} `json:"args"`
	}
	if err := json.Unmarshal(raw, &events); err != nil {
		return err
	}
	byOp := map[string]float64{}
	byNode := map[string]float64{}
	nodeOp := map[string]string{}
	total := 0.0
	for _, e := range events {
		if e.Cat != "Node" || !strings.HasSuffix(e.Name, "_kernel_time") {
			continue
		}
		us := e.Dur / float64(runs)
		byOp[e.Args.OpName] += us
		n := strings.TrimSuffix(e.Name, "_kernel_time")
		byNode[n] += us
		nodeOp[n] = e.Args.OpName
		total += us
	}
	fmt.Printf("kernel time per run: %.0f µs\n", total)
	for _, k := range sortedKeys(byOp) {
		fmt.Printf("  %-28s %8.0f µs %5.1f%%\n", k, byOp[k], 100*byOp[k]/total)
	}
	fmt.Println("slowest nodes:")
	for i, k := range sortedKeys(byNode) {
		if i == top {
			break
		}
		fmt.Printf("  %-50s %-24s %8.0f µs\n", k, nodeOp[k], byNode[k])
	}
	return nil
}

func sortedKeys(m map[string]float64) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return m[ks[i]] > m[ks[j]] })
	return ks
}

func sortedCounts(m map[string]int) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return m[ks[i]] > m[ks[j]] || m[ks[i]] == m[ks[j]] && ks[i] < ks[j] })
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
