package cmdutil

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// flagChoices are the values of the flags that take one of a few words,
// by flag name (a name means the same thing in every command that has
// it). Each choice is also named in the flag's help.
var flagChoices = map[string][]string{
	"precision":       {"int8", "fp16", "bf16", "int4"},
	"mode":            {"static", "dynamic"},
	"calibration":     {"minmax", "percentile", "entropy"},
	"weight-type":     {"int8", "uint8"},
	"activation-type": {"auto", "int8", "uint8"},
	"pattern":         {"unstructured", "2:4", "channel"},
	"scope":           {"layer", "global"},
	"norm":            {"l1", "l2"},
	"format":          {"table", "json", "csv", "markdown"},
	"scenario":        {"latency", "throughput", "server"},
	"graph-opt":       {"disable", "basic", "extended", "all"},
	"optimizer":       {"adam", "adamw", "sgd"},
	"schedule":        {"constant", "cosine"},
	"loss":            {"kl", "mse"},
}

// providers are the names --ep completes, alone or in a fallback list.
var providers = []string{"cpu", "cuda", "tensorrt"}

// flagFileExts are the file types of flags that name files, by flag name.
// --output is left out: it is a model in some commands and a report or a
// table in bench.
var flagFileExts = map[string][]string{
	"data":             {"npz"},
	"eval-data":        {"npz"},
	"teacher":          {"onnx"},
	"student":          {"onnx"},
	"baseline":         {"json"},
	"report":           {"json"},
	"calibration-file": {"json"},
	"save-calibration": {"json"},
	"plot":             {"png", "svg"},
}

// RegisterCompletions makes shell completion complete flag values and
// model arguments in every command under root: the words of enum-valued
// flags, --ep lists, file types of file flags, directories for
// --checkpoint-dir, nothing for numbers, and .onnx files for MODEL.
func RegisterCompletions(root *cobra.Command) {
	for _, c := range root.Commands() {
		c.Flags().VisitAll(func(fl *pflag.Flag) {
			if f := flagCompletion(fl); f != nil {
				_ = c.RegisterFlagCompletionFunc(fl.Name, f)
			}
		})
		if c.ValidArgsFunction == nil {
			c.ValidArgsFunction = modelArgs
		}
	}
}

// flagCompletion is the completion of one flag's value, or nil for
// cobra's default (any file).
func flagCompletion(fl *pflag.Flag) cobra.CompletionFunc {
	if choices, ok := flagChoices[fl.Name]; ok {
		return complete(choices)
	}
	if exts, ok := flagFileExts[fl.Name]; ok {
		return cobra.FixedCompletions(exts, cobra.ShellCompDirectiveFilterFileExt)
	}
	switch {
	case fl.Name == "ep":
		return completeProviders
	case fl.Name == "checkpoint-dir":
		return cobra.FixedCompletions(nil, cobra.ShellCompDirectiveFilterDirs)
	case fl.NoOptDefVal == "" && isNumeric(fl.Value.Type()):
		return cobra.NoFileCompletions
	}
	return nil
}

// isNumeric reports whether a pflag type name is a number or numbers.
func isNumeric(typ string) bool {
	for _, p := range []string{"int", "uint", "float", "duration"} {
		if strings.HasPrefix(typ, p) {
			return true
		}
	}
	return false
}

// complete completes one of choices.
func complete(choices []string) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
		var out []cobra.Completion
		for _, c := range choices {
			if strings.HasPrefix(c, prefix) {
				out = append(out, c)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeProviders completes --ep: a provider, or the next provider of an
// ordered fallback list (tensorrt,cu → tensorrt,cuda), never one already
// listed.
func completeProviders(_ *cobra.Command, _ []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
	listed, last := "", prefix
	if i := strings.LastIndexByte(prefix, ','); i >= 0 {
		listed, last = prefix[:i+1], prefix[i+1:]
	}
	before := strings.Split(strings.TrimSuffix(listed, ","), ",")
	var out []cobra.Completion
	for _, p := range providers {
		if strings.HasPrefix(p, last) && !slices.Contains(before, p) {
			out = append(out, listed+p)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// modelArgs completes a command's MODEL arguments with .onnx files, and
// nothing once the command takes no more arguments.
func modelArgs(c *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if c.Args != nil && c.Args(c, append(slices.Clone(args), "m.onnx")) != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return []cobra.Completion{"onnx"}, cobra.ShellCompDirectiveFilterFileExt
}
