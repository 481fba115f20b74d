package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/edgesim/edgesim/config"
)

// writeDemoFiles writes the demo registry files that the embedded demo
// config names, unless they exist: the user edits them during the
// walkthrough, and a restart must not undo that.
func writeDemoFiles() error {
	return fs.WalkDir(config.DemoRegistry, "demo", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		dst := filepath.Join("var", path)
		if _, err := os.Stat(dst); err == nil || !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		b, err := config.DemoRegistry.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
}
