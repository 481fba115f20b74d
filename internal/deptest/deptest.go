// Package deptest checks a package's dependencies against a deny list, in
// the style of tailscale's tstest/deptest: each package's deps_test.go names
// what it must never depend on, with the reason, and one shared checker
// enforces it. It is test support only.
package deptest

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// DepChecker lists what the package in the test's working directory must
// not depend on. Keys are import paths; a key also covers the packages
// below it.
type DepChecker struct {
	// BadDeps must not be reached at all, directly or through other
	// packages.
	BadDeps map[string]string
	// BadImports must not be imported directly (they may be reached
	// through another package, e.g. net/http through the Prometheus
	// client).
	BadImports map[string]string
}

// Check runs `go list` on the current package (tests excluded) and reports
// every dependency the checker forbids.
func (c DepChecker) Check(t *testing.T) {
	t.Helper()
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goBin, "list", "-json", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkg struct {
		ImportPath    string
		Imports, Deps []string
	}
	if err := json.Unmarshal(out, &pkg); err != nil {
		t.Fatalf("decoding go list output: %v", err)
	}
	if len(pkg.Deps) == 0 {
		t.Fatalf("go list reported no dependencies for %s; the check would pass vacuously", pkg.ImportPath)
	}
	for _, d := range pkg.Deps {
		if why, ok := match(c.BadDeps, d); ok {
			t.Errorf("%s depends on %s: %s", pkg.ImportPath, d, why)
		}
	}
	for _, d := range pkg.Imports {
		if why, ok := match(c.BadImports, d); ok {
			t.Errorf("%s imports %s: %s", pkg.ImportPath, d, why)
		}
	}
}

func match(bad map[string]string, dep string) (string, bool) {
	for b, why := range bad {
		if dep == b || strings.HasPrefix(dep, b+"/") {
			return why, true
		}
	}
	return "", false
}
