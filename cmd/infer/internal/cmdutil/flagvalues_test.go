package cmdutil

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// A list flag keeps its default until given, the first use replaces it and
// later ones add to it (as pflag's float lists do); help shows the
// numbers as written.
func TestFloat64ListVar(t *testing.T) {
	var got []float64
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	Float64ListVar(fs, &got, "levels", []float64{0.25, 0.5}, "levels")
	if !slices.Equal(got, []float64{0.25, 0.5}) || !strings.Contains(fs.FlagUsages(), "(default 0.25,0.5)") {
		t.Fatalf("default %v, help %q", got, fs.FlagUsages())
	}
	if err := fs.Parse([]string{"--levels", "0.1, 0.2", "--levels=0.3"}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []float64{0.1, 0.2, 0.3}) {
		t.Fatalf("parsed %v", got)
	}
	if sv := fs.Lookup("levels").Value.(pflag.SliceValue); !slices.Equal(sv.GetSlice(), []string{"0.1", "0.2", "0.3"}) {
		t.Fatalf("GetSlice %v", sv.GetSlice())
	}
	if err := fs.Parse([]string{"--levels", "0.5,x"}); err == nil || !strings.Contains(err.Error(), `"x" is not a number`) {
		t.Fatalf("bad number: %v", err)
	}
}

// HideDefault changes the help only: the value when not given, its type
// and parsing stay as they were.
func TestHideDefaultKeepsValue(t *testing.T) {
	drop, on := 0.0, false
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.Float64Var(&drop, "max-accuracy-drop", -1, "gate (default: no gate)")
	BoolOn(fs, &on, "per-channel", "per-channel scales", "use one scale per tensor")
	HideDefault(fs, "max-accuracy-drop")
	help := fs.FlagUsages()
	if strings.Contains(help, "(default -1)") || strings.Contains(help, "(default true)") ||
		!strings.Contains(help, "(default true; --per-channel=false to use one scale per tensor)") {
		t.Fatalf("help %q", help)
	}
	if drop != -1 || !on || fs.Lookup("max-accuracy-drop").Value.Type() != "float64" {
		t.Fatalf("defaults changed: %v %v", drop, on)
	}
	if err := fs.Parse([]string{"--max-accuracy-drop", "0.5", "--per-channel=false"}); err != nil {
		t.Fatal(err)
	}
	if drop != 0.5 || on || !fs.Changed("max-accuracy-drop") {
		t.Fatalf("parsed %v %v", drop, on)
	}
}
