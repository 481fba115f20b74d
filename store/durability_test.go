package store_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgesim/edgesim/store"
)

// The helper tests below run only in a child process started by the tests of this file: the
// parent re-executes its own test binary with -test.run and these environment variables.
const (
	envHelper = "EDGESIM_STORE_HELPER" // "writer" or "holder"
	envPath   = "EDGESIM_STORE_PATH"
	envRound  = "EDGESIM_STORE_ROUND"
)

// durableKey and durableValue are what the writer stores for (round, seq); the parent
// recomputes them to check every object it finds.
func durableKey(round, seq int) string { return fmt.Sprintf("%016x%016x", round, seq) }

func durableValue(round, seq int) []byte {
	// Sizes vary so pages split, overflow and get freed across rounds.
	return fmt.Appendf(nil, `{"id":%q,"round":%d,"seq":%d,"pad":%q}`,
		durableKey(round, seq), round, seq, strings.Repeat("x", (seq*37)%700))
}

func parseDurableKey(key string) (round, seq int, ok bool) {
	if len(key) != 32 {
		return 0, 0, false
	}
	r, err1 := strconv.ParseInt(key[:16], 16, 64)
	s, err2 := strconv.ParseInt(key[16:], 16, 64)
	return int(r), int(s), err1 == nil && err2 == nil
}

// TestHelperWriter is the child of TestKill9Durability: it applies objects one by one and
// prints "ack <key>" after each Apply returned, until it is killed (or a bound is reached).
func TestHelperWriter(t *testing.T) {
	if os.Getenv(envHelper) != "writer" {
		t.Skip("helper process for TestKill9Durability")
	}
	round, _ := strconv.Atoi(os.Getenv(envRound))
	s, err := store.OpenBolt(os.Getenv(envPath), store.BoltOptions{LockTimeout: 5 * time.Second})
	if err != nil {
		fmt.Fprintf(os.Stdout, "error %v\n", err)
		os.Exit(2)
	}
	deadline := time.Now().Add(20 * time.Second)
	for seq := 0; seq < 20000 && time.Now().Before(deadline); seq++ {
		key := durableKey(round, seq)
		ops := []store.Op{store.Put("objects", key, durableValue(round, seq))}
		if seq%5 == 4 {
			// Deletes free pages, so later commits reuse them.
			ops = append(ops, store.Del("objects", durableKey(round, seq-3)))
		}
		if _, err := s.Apply(t.Context(), ops...); err != nil {
			fmt.Fprintf(os.Stdout, "error %v\n", err)
			os.Exit(2)
		}
		// One write(2) per line on an unbuffered pipe: a line is either whole or absent.
		fmt.Fprintf(os.Stdout, "ack %s\n", key)
	}
	s.Close()
	os.Exit(0)
}

// TestHelperHolder is the child of TestOpenBoltInUseByOtherProcess: it opens the file, prints
// "ready" and holds the lock until its stdin closes.
func TestHelperHolder(t *testing.T) {
	if os.Getenv(envHelper) != "holder" {
		t.Skip("helper process for TestOpenBoltInUseByOtherProcess")
	}
	s, err := store.OpenBolt(os.Getenv(envPath), store.BoltOptions{})
	if err != nil {
		fmt.Fprintf(os.Stdout, "error %v\n", err)
		os.Exit(2)
	}
	fmt.Fprintln(os.Stdout, "ready")
	io.Copy(io.Discard, os.Stdin)
	s.Close()
	os.Exit(0)
}

func helperCmd(t *testing.T, test, mode, path string, round int) *exec.Cmd {
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), envHelper+"="+mode, envPath+"="+path, envRound+"="+strconv.Itoa(round))
	cmd.Stderr = os.Stderr
	return cmd
}

// TestKill9Durability kills a writer process with SIGKILL at various moments and checks that
// every write it acknowledged is in the file, with its exact value, and that the file passes
// bbolt's consistency check. Rounds reuse the same file.
func TestKill9Durability(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping kill -9 test in short mode")
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state", "edgesim.db")
	rng := rand.New(rand.NewPCG(42, 42))
	const rounds = 6
	acked := make(map[string]bool) // every key acknowledged in any round and not deleted
	totalAcks, totalLost := 0, 0
	for round := range rounds {
		// Even rounds kill after a number of acknowledgements, odd rounds after a random
		// delay, which may fall before the first Apply or even inside OpenBolt.
		var killAfterAcks int
		var killAfter time.Duration
		if round%2 == 0 {
			killAfterAcks = 100 + rng.IntN(300)
		} else {
			killAfter = time.Duration(50+rng.IntN(700)) * time.Millisecond
		}

		cmd := helperCmd(t, "TestHelperWriter", "writer", path, round)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		var timer <-chan time.Time
		if killAfter > 0 {
			timer = time.After(killAfter)
		}
		bound := time.After(30 * time.Second)
		acks, killed, lastSeq := 0, false, -1
		kill := func() {
			if !killed {
				killed = true
				if err := cmd.Process.Kill(); err != nil { // SIGKILL
					t.Errorf("round %d: kill: %v", round, err)
				}
			}
		}
		// Read until EOF: lines written before the kill are acknowledgements too.
	read:
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					break read
				}
				key, isAck := strings.CutPrefix(line, "ack ")
				if !isAck {
					if strings.HasPrefix(line, "error ") {
						t.Errorf("round %d: writer: %s", round, line)
					}
					continue
				}
				acked[key] = true
				_, seq, _ := parseDurableKey(key)
				if seq%5 == 4 {
					delete(acked, durableKey(round, seq-3))
				}
				lastSeq = seq
				acks++
				if killAfterAcks > 0 && acks >= killAfterAcks {
					kill()
				}
			case <-timer:
				kill()
			case <-bound:
				kill()
				t.Errorf("round %d: writer still running after 30s", round)
			}
		}
		err = cmd.Wait()
		if !killed {
			t.Fatalf("round %d: writer exited before the kill: %v", round, err)
		}
		totalAcks += acks

		s, err := store.OpenBolt(path, store.BoltOptions{})
		if err != nil {
			t.Fatalf("round %d: reopening after kill -9 after %d acks: %v", round, acks, err)
		}
		if err := store.CheckConsistency(s); err != nil {
			t.Fatalf("round %d: consistency check: %v", round, err)
		}
		objs, err := s.List(t.Context(), "objects")
		if err != nil {
			t.Fatal(err)
		}
		// The Apply in flight at the kill (seq lastSeq+1) may have committed without being
		// acknowledged: its object may be present, and the object it deletes absent.
		inFlight := durableKey(round, lastSeq+1)
		present := make(map[string]bool, len(objs))
		for _, kv := range objs {
			present[kv.Key] = true
			r, seq, ok := parseDurableKey(kv.Key)
			if !ok || !bytes.Equal(kv.Value, durableValue(r, seq)) {
				t.Errorf("round %d: object %q has a value the writer never wrote: %.60q", round, kv.Key, kv.Value)
			}
			if !acked[kv.Key] && kv.Key != inFlight {
				t.Errorf("round %d: object %q present but neither acknowledged nor in flight", round, kv.Key)
			}
		}
		if present[inFlight] {
			acked[inFlight] = true // committed, so it must survive later rounds too
			if (lastSeq+1)%5 == 4 {
				delete(acked, durableKey(round, lastSeq+1-3))
			}
		}
		lost := 0
		for key := range acked {
			if !present[key] {
				lost++
				if lost <= 5 {
					t.Errorf("round %d: acknowledged key %q lost after kill -9", round, key)
				}
			}
		}
		totalLost += lost
		rev, err := s.Rev(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if store.Rev(totalAcks) > rev {
			t.Errorf("round %d: Rev() = %d after %d acknowledged Applies", round, rev, totalAcks)
		}
		how := fmt.Sprintf("after %d acks", killAfterAcks)
		if killAfter > 0 {
			how = fmt.Sprintf("after %v", killAfter)
		}
		t.Logf("round %d: killed %s: %d acks this round, %d objects in file, %d acknowledged and live, %d lost, rev %d",
			round, how, acks, len(objs), len(acked), lost, rev)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d rounds, %d acknowledged writes, %d lost", rounds, totalAcks, totalLost)
}

// TestOpenBoltInUseByOtherProcess checks that a second daemon on the same file fails with
// ErrInUse within the lock timeout instead of hanging.
func TestOpenBoltInUseByOtherProcess(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "edgesim.db")
	cmd := helperCmd(t, "TestHelperHolder", "holder", path, 0)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || sc.Text() != "ready" {
		t.Fatalf("holder did not become ready: %q %v", sc.Text(), sc.Err())
	}

	const timeout = 300 * time.Millisecond
	start := time.Now()
	s, err := store.OpenBolt(path, store.BoltOptions{LockTimeout: timeout})
	elapsed := time.Since(start)
	if err == nil {
		s.Close()
		t.Fatal("OpenBolt succeeded while another process holds the file")
	}
	if !errors.Is(err, store.ErrInUse) {
		t.Fatalf("OpenBolt = %v, want ErrInUse", err)
	}
	if elapsed > timeout+2*time.Second {
		t.Errorf("OpenBolt took %v with lock timeout %v", elapsed, timeout)
	}
	t.Logf("after %v: %v", elapsed.Round(time.Millisecond), err)

	stdin.Close()
	io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("holder: %v", err)
	}
	s, err = store.OpenBolt(path, store.BoltOptions{})
	if err != nil {
		t.Fatalf("OpenBolt after the holder exited: %v", err)
	}
	s.Close()
}
