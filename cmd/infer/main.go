// Command infer makes trained ONNX models cheaper to serve and proves the
// result still answers like the original. See README.md.
package main

import (
	"os"

	"github.com/infer-ml/infer/cmd/infer/internal/root"
	"github.com/infer-ml/infer/pkg/atomicfile"
)

func main() {
	// SIGINT/SIGTERM remove partial outputs and exit 130/143; SIGKILL
	// cannot be caught and may leave .NAME.tmp* files beside the outputs.
	atomicfile.CleanOnSignal("infer", os.Stderr)
	os.Exit(root.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
