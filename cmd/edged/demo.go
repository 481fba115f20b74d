package main

import (
	"embed"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

//go:embed demo/irr.rpsl demo/roas.json
var demoFiles embed.FS

// writeDemoFiles writes the demo registry files that the embedded demo
// config names, unless they exist: the user edits them during the
// walkthrough, and a restart must not undo that.
func writeDemoFiles() error {
	return fs.WalkDir(demoFiles, "demo", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		dst := filepath.Join("var", path)
		if _, err := os.Stat(dst); err == nil || !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		b, err := demoFiles.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
}
