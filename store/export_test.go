package store

import (
	"context"
	"errors"

	bolt "go.etcd.io/bbolt"
)

// CheckConsistency runs bbolt's consistency check (tx.Check) on an open file.
func CheckConsistency(b *Bolt) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.db == nil {
		return ErrClosed
	}
	return b.db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}

// SetSchemaVersion overwrites the schema version stored in the file.
func SetSchemaVersion(b *Bolt, v uint64) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, u64(v))
	})
}

// StopFollow stops e's marker watch, as if its stream were broken.
func StopFollow(e *Etcd) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopFollow()
	<-e.followDone
}

// StartFollow starts e's marker watch again from etcd revision from, as the client does when
// it resumes a broken stream.
func StartFollow(e *Etcd, from int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fctx, stop := context.WithCancel(context.Background())
	e.stopFollow, e.followDone = stop, make(chan struct{})
	go e.follow(fctx, e.cli, from)
}
