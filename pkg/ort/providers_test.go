package ort_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/infer-ml/infer/pkg/ort"
)

// Option errors are typed and worded without CLI flag names (only cmd/
// knows the flags): they name the option and the provider list.
func TestParseProvidersOptionErrorsTyped(t *testing.T) {
	cases := []struct {
		ep, option string
		want       ort.OptionError
		text       string
	}{
		{"cuda", "device_id", ort.OptionError{Option: "device_id"}, `provider option "device_id": want key=value`},
		{"cpu", "fp16=1", ort.OptionError{Option: "fp16=1", Providers: "cpu"}, `provider option "fp16=1" applies to no provider in cpu`},
	}
	for _, c := range cases {
		_, err := ort.ParseProviders(c.ep, []string{c.option})
		var oe *ort.OptionError
		if !errors.As(err, &oe) || *oe != c.want {
			t.Errorf("%s %s: %#v, want %+v", c.ep, c.option, err, c.want)
			continue
		}
		if err.Error() != c.text || strings.Contains(err.Error(), "--") {
			t.Errorf("%s %s: %q, want %q", c.ep, c.option, err, c.text)
		}
	}
}
