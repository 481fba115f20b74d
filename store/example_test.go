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

// Two edge nodes share one state in etcd: what one applies, the other's Watch reports and its
// Snapshot contains. (Not run: it needs an etcd server; store's etcd tests start one.)
func ExampleOpenEtcd() {
	ctx := context.Background()
	opts := store.EtcdOptions{Endpoints: []string{"http://127.0.0.1:2379"}, Prefix: "/edgesim/"}
	node1, err := store.OpenEtcd(ctx, opts)
	if err != nil {
		log.Fatal(err)
	}
	defer node1.Close()
	node2, err := store.OpenEtcd(ctx, opts)
	if err != nil {
		log.Fatal(err)
	}
	defer node2.Close()

	changes := node2.Watch(ctx) // subscribe first, then read
	rev, err := node1.Apply(ctx, store.Put("prefixes", "2af39739cc4e3b5910c918468bb89828", []byte(`{"cidr":"192.0.2.0/24"}`)))
	if err != nil {
		log.Fatal(err)
	}
	for r := range changes {
		if r >= rev {
			break
		}
	}
	all, _, err := node2.Snapshot(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(all["prefixes"]), "prefix")
}
