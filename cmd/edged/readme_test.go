package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/edgesim/edgesim/internal/netnstest"
)

// readmeBlocks returns the walkthrough's command blocks (```sh) and, for
// each, the expected output block (```text) that follows it, or "" when
// none does.
func readmeBlocks(t *testing.T) (cmds, outs []string) {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, "## Walkthrough")
	if start < 0 {
		t.Fatal("README.md has no Walkthrough section")
	}
	s = s[start:]
	if end := strings.Index(s[3:], "\n## "); end >= 0 {
		s = s[:end+3]
	}
	re := regexp.MustCompile("(?s)```(sh|text)\n(.*?)```")
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		switch m[1] {
		case "sh":
			cmds = append(cmds, m[2])
			outs = append(outs, "")
		case "text":
			if len(outs) == 0 || outs[len(outs)-1] != "" {
				t.Fatalf("README: a text block that follows no command block:\n%s", m[2])
			}
			outs[len(outs)-1] = m[2]
		}
	}
	return cmds, outs
}

// normalize replaces what differs from run to run: IDs, tokens, times,
// snapshot generations and the column padding around them.
var normalizers = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`), "UUID"},
	{regexp.MustCompile(`[0-9a-f]{32}`), "ID"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`), "TIME"},
	{regexp.MustCompile(`(snapshot|generation)( +)\d+`), "$1 N"},
	{regexp.MustCompile(`\r`), ""},
	{regexp.MustCompile(`[ \t]+`), " "},
}

func normalize(s string) string {
	for _, n := range normalizers {
		s = n.re.ReplaceAllString(s, n.with)
	}
	return strings.TrimSpace(s)
}

// TestREADMEWalkthrough runs the README's curl walkthrough, block by block,
// against a fresh edged with the demo config, and compares each block's
// output with the output the README shows (IDs, tokens and times
// normalized). Before the last block it restarts edged, as the README says.
func TestREADMEWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: builds and runs the daemon")
	}
	for _, bin := range []string{"curl", "jq", "bash", "sed", "dig"} {
		netnstest.RequireBinary(t, bin)
	}
	cmds, outs := readmeBlocks(t)
	if len(cmds) < 5 {
		t.Fatalf("README walkthrough has %d command blocks; parsing broke?", len(cmds))
	}
	dir := t.TempDir()
	binDir := filepath.Join(dir, "bin")
	for _, c := range []string{"edged", "edgectl"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, c), "../"+c).CombinedOutput()
		if err != nil {
			t.Fatalf("building %s: %v\n%s", c, err, out)
		}
	}
	addr := freePort(t)
	dnsAddr := freePort(t) // TCP-free; UDP on the same port is free in practice on loopback
	start := func() *exec.Cmd {
		cmd := exec.Command(filepath.Join(binDir, "edged"), "-listen", addr, "-dns", dnsAddr, "-log-level", "warn")
		cmd.Dir = dir
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		waitAPI(t, addr)
		return cmd
	}
	edged := start()

	// Each block runs in one bash session; markers split the output.
	const marker = "@@edgesim-block-end@@"
	run := func(blocks []string) []string {
		var script strings.Builder
		script.WriteString("set -eo pipefail\n")
		for _, b := range blocks {
			b = strings.ReplaceAll(b, "127.0.0.1:8080", addr)
			b = strings.ReplaceAll(b, "-p 8053", "-p "+dnsAddr[strings.LastIndex(dnsAddr, ":")+1:])
			script.WriteString(b + "\necho " + marker + "\n")
		}
		cmd := exec.Command("bash", "-c", script.String())
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "EDGESIM_API=http://"+addr)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("walkthrough failed: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		}
		// The output shows the test's addresses where the README shows
		// the demo's (edgectl status lists the listeners).
		out := strings.NewReplacer(addr, "127.0.0.1:8080", dnsAddr, "127.0.0.1:8053").Replace(stdout.String())
		got := strings.Split(out, marker+"\n")
		return got[:len(got)-1]
	}
	last := len(cmds) - 1
	got := run(cmds[:last])
	edged.Process.Signal(os.Interrupt)
	if err := edged.Wait(); err != nil {
		t.Fatalf("edged after SIGINT: %v", err)
	}
	start()
	got = append(got, run([]string{cmds[0], cmds[last]})[1])

	for i, want := range outs {
		if want == "" {
			continue
		}
		if g, w := normalize(got[i]), normalize(want); g != w {
			t.Errorf("README block %d:\n%s\noutput:\n%s\nREADME shows:\n%s", i, cmds[i], got[i], want)
		}
	}
}
