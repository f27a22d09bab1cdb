// Command infer makes trained ONNX models cheaper to serve and proves the
// result still answers like the original. See README.md.
package main

import (
	"os"

	"github.com/infer-ml/infer/cmd/infer/internal/root"
)

func main() { os.Exit(root.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
