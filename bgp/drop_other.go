//go:build !linux

package bgp

import "errors"

func dropSessions([]PeerConfig) error {
	return errors.New("dropping sessions without notification: only supported on linux")
}
