// Package buildinfo reports infer's version: set at link time with
// -ldflags "-X github.com/infer-ml/infer/internal/buildinfo.Version=v1.2.3",
// else taken from the module build information (go install), else "dev".
package buildinfo

import "runtime/debug"

// Version is set by the linker; see the package comment.
var Version = ""

// String returns the version.
func String() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
