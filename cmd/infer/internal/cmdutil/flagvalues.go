package cmdutil

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// EPUsage is the help of --ep, in the same words in every command. The
// back-quoted word names the value in help ("--ep provider").
const EPUsage = "execution `provider`: cpu, cuda or tensorrt, or an ordered fallback list such as tensorrt,cuda,cpu (default cpu)"

// HideDefault stops help from printing "(default …)" after the named
// flags: their usage says in words what leaving them out means (a gate
// that is off, a default stated in the text), where pflag would print a
// sentinel such as -1. What the flags hold when not given is unchanged.
// It is for single-valued flags: a list's value must stay a
// pflag.SliceValue, which root's finite-number check reads.
func HideDefault(fs *pflag.FlagSet, names ...string) {
	for _, name := range names {
		fl := fs.Lookup(name)
		if fl == nil {
			panic("HideDefault: no flag --" + name)
		}
		if _, isList := fl.Value.(pflag.SliceValue); isList {
			panic("HideDefault: --" + name + " is a list")
		}
		fl.DefValue = ""
		// pflag hides an empty default only for booleans, strings and
		// values of types it does not know.
		if _, isBool := fl.Value.(interface{ IsBoolFlag() bool }); !isBool {
			fl.Value = defaultInUsage{fl.Value}
		}
	}
}

// defaultInUsage is a flag value whose default its usage states; it is
// the value it wraps in all but its Go type.
type defaultInUsage struct{ pflag.Value }

// BoolOn adds a boolean flag that is on unless turned off; its help ends
// "(default true; --NAME=false to OFF)".
func BoolOn(fs *pflag.FlagSet, p *bool, name, usage, off string) {
	fs.BoolVar(p, name, true, fmt.Sprintf("%s (default true; --%s=false to %s)", usage, name, off))
	HideDefault(fs, name)
}

// Float64ListVar adds a list-of-numbers flag (comma-separated or
// repeated, the first use replacing def) whose help shows numbers as
// written, "0.25,0.5", not pflag's "[0.250000,0.500000]".
func Float64ListVar(fs *pflag.FlagSet, p *[]float64, name string, def []float64, usage string) {
	*p = append([]float64(nil), def...)
	fs.Var(&float64List{p: p}, name, usage)
}

// float64List is the value of Float64ListVar. Its type name is pflag's
// float64Slice, so every check of float lists applies to it.
type float64List struct {
	p       *[]float64
	changed bool
}

func (v *float64List) String() string {
	s := make([]string, len(*v.p))
	for i, f := range *v.p {
		s[i] = strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strings.Join(s, ",")
}

func (v *float64List) Set(s string) error {
	fs, err := parseFloats(strings.Split(s, ","))
	if err != nil {
		return err
	}
	if !v.changed {
		*v.p = nil
	}
	*v.p = append(*v.p, fs...)
	v.changed = true
	return nil
}

func (v *float64List) Type() string { return "float64Slice" }

// Append adds one number (pflag.SliceValue).
func (v *float64List) Append(s string) error {
	fs, err := parseFloats([]string{s})
	if err == nil {
		*v.p = append(*v.p, fs...)
	}
	return err
}

// Replace sets the list (pflag.SliceValue).
func (v *float64List) Replace(ss []string) error {
	fs, err := parseFloats(ss)
	if err == nil {
		*v.p = fs
	}
	return err
}

// GetSlice returns the numbers as text (pflag.SliceValue).
func (v *float64List) GetSlice() []string {
	if len(*v.p) == 0 {
		return nil
	}
	return strings.Split(v.String(), ",")
}

func parseFloats(ss []string) ([]float64, error) {
	out := make([]float64, len(ss))
	for i, s := range ss {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", s)
		}
		out[i] = f
	}
	return out, nil
}

// oneProvider is the value of --ep in every command but bench: one
// provider or one ordered fallback list, given once. A second --ep used to
// replace the first without a word; bench, which measures each --ep, is
// the command that takes several.
type oneProvider struct {
	p   *string
	set bool
}

func (v *oneProvider) String() string { return *v.p }

func (v *oneProvider) Set(s string) error {
	if v.set {
		return errors.New("--ep given twice: a run uses one provider, or one ordered fallback list such as tensorrt,cuda,cpu (infer bench measures several)")
	}
	*v.p, v.set = s, true
	return nil
}

func (v *oneProvider) Type() string { return "string" }
