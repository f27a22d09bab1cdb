// Command protosum records and checks the sha256 of the protobuf schema
// (proto/*.proto) together with the Go code generated from it
// (pkg/onnx/onnxpb/*.pb.go), in proto/SHA256SUMS (sha256sum's format).
//
//	protosum write   record the sums (make proto runs it after protoc)
//	protosum check   fail unless the files are exactly the recorded ones
//
// check is what make test runs: it needs neither protoc nor root, and it
// fails, naming the file, when the schema or the generated code changed
// without make proto (or a .proto file was added or removed).
// Both run in the repository root.
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// SumsFile holds the recorded sums, relative to the repository root.
const SumsFile = "proto/SHA256SUMS"

// sources are the globs whose files the sums cover: the schema and the
// code generated from it.
var sources = []string{"proto/*.proto", "pkg/onnx/onnxpb/*.pb.go"}

func main() {
	os.Exit(run(os.Args[1:], ".", os.Stderr))
}

// run executes the command in args against the repository at root and
// returns the exit code: 0 done, 1 check failed or I/O error, 2 usage.
func run(args []string, root string, stderr io.Writer) int {
	if len(args) != 1 || (args[0] != "write" && args[0] != "check") {
		fmt.Fprintln(stderr, "usage: protosum write|check")
		return 2
	}
	var err error
	if args[0] == "write" {
		err = write(root)
	} else {
		err = check(root)
	}
	if err != nil {
		fmt.Fprintf(stderr, "protosum: %v\n", err)
		return 1
	}
	return 0
}

// sums hashes the files that sources match under root, keyed by their
// slash-separated path relative to root.
func sums(root string) (map[string]string, error) {
	out := map[string]string{}
	for _, g := range sources {
		files, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(g)))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			rel, err := filepath.Rel(root, f)
			if err != nil {
				return nil, err
			}
			h := sha256.Sum256(b)
			out[filepath.ToSlash(rel)] = hex.EncodeToString(h[:])
		}
	}
	return out, nil
}

// write records the current sums in SumsFile, sorted by path.
func write(root string) error {
	cur, err := sums(root)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, p := range slices.Sorted(maps.Keys(cur)) {
		fmt.Fprintf(&buf, "%s  %s\n", cur[p], p)
	}
	return os.WriteFile(filepath.Join(root, SumsFile), buf.Bytes(), 0o644)
}

// check compares the current sums with SumsFile and names the first file
// that differs, is missing or is not recorded.
func check(root string) error {
	rec, err := readSums(filepath.Join(root, SumsFile))
	if err != nil {
		return err
	}
	cur, err := sums(root)
	if err != nil {
		return err
	}
	const fix = "run make proto (needs protoc) and commit pkg/onnx/onnxpb and " + SumsFile
	for _, p := range slices.Sorted(maps.Keys(rec)) {
		switch got, ok := cur[p]; {
		case !ok:
			return fmt.Errorf("%s is listed in %s but missing; %s", p, SumsFile, fix)
		case got != rec[p]:
			return fmt.Errorf("%s changed since pkg/onnx/onnxpb was generated (sha256 %s, recorded %s); %s", p, got, rec[p], fix)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(cur)) {
		if _, ok := rec[p]; !ok {
			return fmt.Errorf("%s is not in %s; %s", p, SumsFile, fix)
		}
	}
	return nil
}

// readSums parses lines "<sha256>  <path>" of sha256sum's format.
func readSums(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		sum, p, ok := strings.Cut(sc.Text(), "  ")
		if _, err := hex.DecodeString(sum); !ok || err != nil || len(sum) != 64 || p == "" {
			return nil, fmt.Errorf("%s:%d: want \"<sha256>  <path>\", got %q", path, n, sc.Text())
		}
		out[p] = sum
	}
	return out, sc.Err()
}
