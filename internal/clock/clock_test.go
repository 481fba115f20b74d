package clock

import (
	"testing"
	"time"
)

func TestFastForward(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	c := New(func() time.Time { return base })
	if got := c.Now(); !got.Equal(base) {
		t.Fatalf("Now() = %v, want %v", got, base)
	}
	c.FastForward(5 * time.Hour)
	c.FastForward(-time.Hour) // ignored
	if got, want := c.Now(), base.Add(5*time.Hour); !got.Equal(want) {
		t.Errorf("after FastForward(5h): Now() = %v, want %v", got, want)
	}
	if got := c.Offset(); got != 5*time.Hour {
		t.Errorf("Offset() = %v, want 5h", got)
	}
}

func TestSleepUntilWokenByFastForward(t *testing.T) {
	t.Parallel()
	c := New(nil)
	deadline := c.Now().Add(time.Hour)
	done := make(chan bool)
	go func() { done <- c.SleepUntil(deadline, nil, nil) }()
	// The sleeper may not be waiting yet; fast-forward past the deadline
	// either way, it must notice at once.
	c.FastForward(2 * time.Hour)
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("SleepUntil = false, want true (deadline reached)")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SleepUntil not woken by FastForward")
	}
}

func TestSleepUntilCancelled(t *testing.T) {
	t.Parallel()
	c := New(nil)
	stop := make(chan struct{})
	close(stop)
	if c.SleepUntil(c.Now().Add(time.Hour), stop, nil) {
		t.Fatal("SleepUntil = true after done closed, want false")
	}
	if !c.SleepUntil(c.Now().Add(-time.Second), stop, nil) {
		t.Fatal("SleepUntil on a past deadline = false, want true")
	}
}
