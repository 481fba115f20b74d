package deptest

import "testing"

func TestMatch(t *testing.T) {
	bad := map[string]string{"net/http": "no http"}
	for _, tt := range []struct {
		dep  string
		want bool
	}{{"net/http", true}, {"net/http/httptest", true}, {"net/httpx", false}, {"net", false}} {
		if _, got := match(bad, tt.dep); got != tt.want {
			t.Errorf("match(%q) = %v, want %v", tt.dep, got, tt.want)
		}
	}
}

// TestCheckCatchesADependency proves the checker fails when it should: this
// package depends on testing.
func TestCheckCatchesADependency(t *testing.T) {
	ft := &testing.T{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		DepChecker{BadDeps: map[string]string{"encoding/json": "probe"}}.Check(ft)
	}()
	<-done
	if !ft.Failed() {
		t.Error("Check passed a package that depends on a bad dependency")
	}
}
