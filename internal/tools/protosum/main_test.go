package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// repoRoot is the repository root, two levels above this package.
const repoRoot = "../../.."

// TestProtoSumsCommitted: the committed schema and generated code are the
// ones proto/SHA256SUMS records, so make test needs no protoc to know
// pkg/onnx/onnxpb is current.
func TestProtoSumsCommitted(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"check"}, repoRoot, &stderr); code != 0 {
		t.Fatalf("protosum check = %d: %s", code, stderr.String())
	}
}

// fakeRepo writes a repository holding one schema and its generated code,
// with their sums recorded.
func fakeRepo(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for path, body := range map[string]string{
		"proto/a.proto":             "syntax = \"proto3\";\n",
		"pkg/onnx/onnxpb/a.pb.go":   "package onnxpb\n",
		"pkg/onnx/onnxpb/extra.go":  "package onnxpb\n", // not generated: not covered
		"proto/README.md":           "notes\n",          // not a schema: not covered
		"pkg/onnx/onnxpb/a_test.go": "package onnxpb\n",
	} {
		p := filepath.Join(root, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var stderr bytes.Buffer
	if code := run([]string{"write"}, root, &stderr); code != 0 {
		t.Fatalf("protosum write = %d: %s", code, stderr.String())
	}
	return root
}

// TestProtoSumsCheck: check passes on what write recorded, ignores files
// the sums do not cover, and fails naming the file when the schema or the
// generated code is edited, a schema is added, or one is removed.
func TestProtoSumsCheck(t *testing.T) {
	cases := []struct {
		name   string
		change func(root string) error
		want   string
	}{
		{"unchanged", func(string) error { return nil }, ""},
		{"other files", func(root string) error {
			return os.WriteFile(filepath.Join(root, "proto", "README.md"), []byte("more notes\n"), 0o644)
		}, ""},
		{"schema edited", func(root string) error {
			return os.WriteFile(filepath.Join(root, "proto", "a.proto"), []byte("syntax = \"proto3\";\nmessage M {}\n"), 0o644)
		}, "proto/a.proto changed since pkg/onnx/onnxpb was generated"},
		{"generated code edited", func(root string) error {
			return os.WriteFile(filepath.Join(root, "pkg", "onnx", "onnxpb", "a.pb.go"), []byte("package onnxpb // edited\n"), 0o644)
		}, "pkg/onnx/onnxpb/a.pb.go changed"},
		{"schema added", func(root string) error {
			return os.WriteFile(filepath.Join(root, "proto", "b.proto"), []byte("syntax = \"proto3\";\n"), 0o644)
		}, "proto/b.proto is not in proto/SHA256SUMS"},
		{"schema removed", func(root string) error {
			return os.Remove(filepath.Join(root, "proto", "a.proto"))
		}, "proto/a.proto is listed in proto/SHA256SUMS but missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := fakeRepo(t)
			if err := c.change(root); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			code := run([]string{"check"}, root, &stderr)
			if c.want == "" {
				if code != 0 {
					t.Fatalf("check = %d: %s", code, stderr.String())
				}
				return
			}
			msg := stderr.String()
			if code != 1 || !strings.Contains(msg, c.want) || !strings.Contains(msg, "run make proto") || strings.Count(msg, "\n") != 1 {
				t.Fatalf("check = %d, %q; want 1 and one line with %q and the fix", code, msg, c.want)
			}
		})
	}
}

// TestProtoSumsUsage: a wrong command is a usage error, and a malformed
// sums file is reported with its line.
func TestProtoSumsUsage(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"bogus"}, ".", &stderr); code != 2 || !strings.Contains(stderr.String(), "usage: protosum write|check") {
		t.Errorf("run(bogus) = %d, %q", code, stderr.String())
	}
	root := fakeRepo(t)
	if err := os.WriteFile(filepath.Join(root, "proto", "SHA256SUMS"), []byte("xyz proto/a.proto\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	if code := run([]string{"check"}, root, &stderr); code != 1 || !strings.Contains(stderr.String(), "SHA256SUMS:1: want") {
		t.Errorf("check with a malformed file = %d, %q", code, stderr.String())
	}
}
