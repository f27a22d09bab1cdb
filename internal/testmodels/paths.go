package testmodels

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// RepoRoot returns the nearest directory at or above the working directory
// that holds a go.mod file. It returns an error if there is none.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("finding the repository root: no go.mod at or above the working directory")
		}
		dir = parent
	}
}
