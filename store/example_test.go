package store_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/edgesim/edgesim/store"
)

func Example() {
	dir, err := os.MkdirTemp("", "edgesim-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	s, err := store.OpenBolt(filepath.Join(dir, "state", "edgesim.db"), store.BoltOptions{})
	if err != nil {
		log.Fatal(err)
	}
	// A prefix and its default binding, written together: both or neither.
	rev, err := s.Apply(ctx,
		store.Put("prefixes", "2af39739cc4e3b5910c918468bb89828", []byte(`{"cidr":"192.0.2.0/24"}`)),
		store.Put("bindings", "0429b49b6a5155297b78e75a4b8c9a32", []byte(`{"cidr":"192.0.2.0/24","service":"spectrum"}`)),
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("acknowledged at rev", rev)
	s.Close()

	// At start, load everything back.
	s, err = store.OpenBolt(filepath.Join(dir, "state", "edgesim.db"), store.BoltOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	all, rev, err := s.Snapshot(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("loaded rev", rev)
	for _, kv := range all["prefixes"] {
		fmt.Printf("prefix %s %s\n", kv.Key, kv.Value)
	}
	// Output:
	// acknowledged at rev 1
	// loaded rev 1
	// prefix 2af39739cc4e3b5910c918468bb89828 {"cidr":"192.0.2.0/24"}
}
