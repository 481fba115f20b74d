package store

import (
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
