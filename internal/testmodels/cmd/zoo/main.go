// Command zoo writes the architecture zoo to a folder as .onnx files, for
// trying infer's commands on them by hand:
//
//	go run ./internal/testmodels/cmd/zoo -o /tmp/zoo [-bench]
//
// -bench writes the benchmark sizes (ZooBenchmark) instead of the small
// defaults. Each model's two input shapes are printed, as --shape flags.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/infer-ml/infer/internal/testmodels"
)

func main() {
	out := flag.String("o", "", "output folder (created)")
	bench := flag.Bool("bench", false, "benchmark sizes")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "zoo: -o is required")
		os.Exit(2)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "zoo:", err)
		os.Exit(1)
	}
	archs := testmodels.Zoo()
	if *bench {
		archs = testmodels.ZooBenchmark()
	}
	for _, a := range archs {
		b, err := testmodels.Marshal(a.Model)
		if err == nil {
			err = os.WriteFile(filepath.Join(*out, a.Name+".onnx"), b, 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "zoo:", a.Name+":", err)
			os.Exit(1)
		}
		fmt.Printf("%-12s A: %s  B: %s\n", a.Name, shapeFlags(a.ShapeA), shapeFlags(a.ShapeB))
	}
}

func shapeFlags(shapes map[string][]int64) string {
	var names []string
	for k := range shapes {
		names = append(names, k)
	}
	sort.Strings(names)
	var parts []string
	for _, k := range names {
		var d []string
		for _, v := range shapes[k] {
			d = append(d, fmt.Sprint(v))
		}
		parts = append(parts, "--shape "+k+"="+strings.Join(d, "x"))
	}
	return strings.Join(parts, " ")
}
