package ort

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	ortgo "github.com/yalue/onnxruntime_go"
)

// Provider names ParseProviders accepts.
const (
	CPU      = "cpu"
	CUDA     = "cuda"
	TensorRT = "tensorrt"
)

// Provider is one execution provider with its options. Options use infer's
// short keys (below) or ONNX Runtime's own provider option keys, which pass
// through unchanged; ONNX Runtime rejects keys it does not know.
//
// Short keys:
//
//	cuda:     device_id, workspace (bytes, gpu_mem_limit)
//	tensorrt: device_id, fp16 (bool), int8 (bool), engine_cache (folder),
//	          workspace (bytes, trt_max_workspace_size)
type Provider struct {
	Name    string
	Options map[string]string
}

func (p Provider) String() string {
	if len(p.Options) == 0 {
		return p.Name
	}
	keys := make([]string, 0, len(p.Options))
	for k := range p.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + p.Options[k]
	}
	return p.Name + "(" + strings.Join(parts, ",") + ")"
}

// ORTName is ONNX Runtime's name for the provider.
func (p Provider) ORTName() string {
	switch p.Name {
	case CUDA:
		return "CUDAExecutionProvider"
	case TensorRT:
		return "TensorrtExecutionProvider"
	}
	return "CPUExecutionProvider"
}

var shortKeys = map[string]map[string]string{
	CUDA:     {"device_id": "device_id", "workspace": "gpu_mem_limit"},
	TensorRT: {"device_id": "device_id", "fp16": "trt_fp16_enable", "int8": "trt_int8_enable", "workspace": "trt_max_workspace_size"},
}

// ParseProviders parses a provider list ep (a comma-separated ordered
// fallback list such as "tensorrt,cuda,cpu") and provider options
// ("key=value" applying to every listed provider that knows the key, or
// "provider.key=value"). It returns an error for an unknown provider or a
// repeated provider, and an *OptionError for a malformed option, an option
// no listed provider takes, or a CPU option.
func ParseProviders(ep string, options []string) ([]Provider, error) {
	if strings.TrimSpace(ep) == "" {
		ep = CPU
	}
	var ps []Provider
	seen := map[string]bool{}
	for _, name := range strings.Split(ep, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		switch name {
		case "trt":
			name = TensorRT
		case CPU, CUDA, TensorRT:
		default:
			return nil, fmt.Errorf("unknown execution provider %q (want cpu, cuda or tensorrt)", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("execution provider %q listed twice in %q", name, ep)
		}
		seen[name] = true
		ps = append(ps, Provider{Name: name, Options: map[string]string{}})
	}
	for _, opt := range options {
		k, v, ok := strings.Cut(opt, "=")
		if !ok || k == "" {
			return nil, &OptionError{Option: opt}
		}
		target := ""
		if p, rest, ok := strings.Cut(k, "."); ok {
			target, k = strings.ToLower(p), rest
		}
		applied := false
		for i := range ps {
			if target != "" && ps[i].Name != target {
				continue
			}
			if ps[i].Name == CPU {
				continue
			}
			if target == "" {
				if _, short := shortKeys[ps[i].Name][k]; !short && !ownKey(ps[i].Name, k) {
					continue
				}
			}
			ps[i].Options[k] = v
			applied = true
		}
		if !applied {
			return nil, &OptionError{Option: opt, Providers: ep}
		}
	}
	return ps, nil
}

// OptionError is a provider option ParseProviders refuses: one that is
// not key=value, or (Providers set) one that no provider of the list
// Providers takes.
type OptionError struct {
	Option    string
	Providers string
}

func (e *OptionError) Error() string {
	if e.Providers == "" {
		return fmt.Sprintf("provider option %q: want key=value", e.Option)
	}
	return fmt.Sprintf("provider option %q applies to no provider in %s", e.Option, e.Providers)
}

// ownKey guesses whether k is one of ORT's own keys for provider name, so an
// unprefixed raw key goes only to the provider it belongs to.
func ownKey(name, k string) bool {
	switch name {
	case TensorRT:
		return strings.HasPrefix(k, "trt_")
	case CUDA:
		return !strings.HasPrefix(k, "trt_")
	}
	return false
}

// ortOptions translates short keys into ONNX Runtime's keys.
func (p Provider) ortOptions() (map[string]string, error) {
	out := map[string]string{}
	for k, v := range p.Options {
		switch {
		case p.Name == TensorRT && k == "engine_cache":
			out["trt_engine_cache_enable"] = "1"
			out["trt_engine_cache_path"] = v
			out["trt_timing_cache_enable"] = "1"
			out["trt_timing_cache_path"] = v
			continue
		case (k == "fp16" || k == "int8") && p.Name == TensorRT:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("%s option %s=%q: want true or false", p.Name, k, v)
			}
			v = "0"
			if b {
				v = "1"
			}
		}
		if ortKey, ok := shortKeys[p.Name][k]; ok {
			k = ortKey
		}
		out[k] = v
	}
	return out, nil
}

// appendTo adds the provider to session options. CPU needs nothing: ONNX
// Runtime always has it.
func (p Provider) appendTo(so *ortgo.SessionOptions) error {
	opts, err := p.ortOptions()
	if err != nil {
		return err
	}
	switch p.Name {
	case CPU:
		return nil
	case CUDA:
		co, err := ortgo.NewCUDAProviderOptions()
		if err != nil {
			return err
		}
		defer co.Destroy()
		if len(opts) > 0 {
			if err := co.Update(opts); err != nil {
				return err
			}
		}
		return so.AppendExecutionProviderCUDA(co)
	case TensorRT:
		to, err := ortgo.NewTensorRTProviderOptions()
		if err != nil {
			return err
		}
		defer to.Destroy()
		if len(opts) > 0 {
			if err := to.Update(opts); err != nil {
				return err
			}
		}
		return so.AppendExecutionProviderTensorRT(to)
	}
	return fmt.Errorf("unknown execution provider %q", p.Name)
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, "\r", " ")
	s = strings.ReplaceAll(s, "\n", " ")
	return s
}

// OptionsFor returns the provider options that apply to the provider list
// ep, for commands that measure several lists with one set of options.
func OptionsFor(ep string, options []string) []string {
	var out []string
	for _, o := range options {
		if _, err := ParseProviders(ep, []string{o}); err == nil {
			out = append(out, o)
		}
	}
	return out
}
