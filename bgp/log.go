package bgp

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
)

// slogAdapter implements GoBGP v3's logger on top of *slog.Logger. GoBGP is
// chatty at Info (every peer transition, every soft reset), so Info becomes
// Debug; its Debug (a line per UPDATE, per destination) becomes levelTrace,
// below Debug; Warn and Error keep their level. Fatal logs at Error and does not
// exit: GoBGP only calls it when its gRPC listener fails, which edgesim
// treats as an error of the operation that needed it. A "Peer Down" line
// feeds the peer's LastError.
type slogAdapter struct {
	l      *slog.Logger
	onDown func(addr netip.Addr, reason string)
}

var _ gobgplog.Logger = (*slogAdapter)(nil)

func (a *slogAdapter) log(level slog.Level, msg string, fields gobgplog.Fields) {
	ctx := context.Background()
	if !a.l.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, len(fields)+1)
	attrs = append(attrs, slog.String("src", "gobgp"))
	for k, v := range fields {
		attrs = append(attrs, slog.Any(strings.ToLower(k), v))
	}
	a.l.LogAttrs(ctx, level, strings.ToLower(msg), attrs...)
}

func (a *slogAdapter) Panic(msg string, fields gobgplog.Fields) {
	a.log(slog.LevelError, msg, fields)
	panic(msg)
}

func (a *slogAdapter) Fatal(msg string, fields gobgplog.Fields) {
	a.log(slog.LevelError, msg, fields)
}

func (a *slogAdapter) Error(msg string, fields gobgplog.Fields) {
	a.log(slog.LevelError, msg, fields)
}

func (a *slogAdapter) Warn(msg string, fields gobgplog.Fields) {
	lower := strings.ToLower(msg)
	// GoBGP warns on every listener start that it cannot set TTL 255 on it.
	// Peers withdrawing the echoes of our own routes, which the import
	// policy rejected, make it warn about paths it never installed.
	if strings.HasPrefix(lower, "cannot set ttl") || strings.HasPrefix(lower, "failed to set ttl") ||
		strings.HasPrefix(lower, "no matching path for withdraw") {
		a.log(slog.LevelDebug, msg, fields)
		return
	}
	a.log(slog.LevelWarn, msg, fields)
}

func (a *slogAdapter) Info(msg string, fields gobgplog.Fields) {
	if msg == "Peer Down" && a.onDown != nil {
		if addr, err := netip.ParseAddr(fmt.Sprint(fields["Key"])); err == nil {
			a.onDown(addr.Unmap(), fmt.Sprint(fields["Reason"]))
		}
	}
	a.log(slog.LevelDebug, msg, fields)
}

func (a *slogAdapter) Debug(msg string, fields gobgplog.Fields) {
	a.log(levelTrace, msg, fields)
}

// levelTrace is where GoBGP's own Debug goes: with 100k prefixes it logs
// hundreds of thousands of lines per Sync, which would swamp edgesim's own
// Debug lines (and their timings).
const levelTrace = slog.LevelDebug - 4

func (a *slogAdapter) SetLevel(gobgplog.LogLevel) {}

// GetLevel tells GoBGP whether to build its (expensive) debug messages.
func (a *slogAdapter) GetLevel() gobgplog.LogLevel {
	if a.l.Enabled(context.Background(), levelTrace) {
		return gobgplog.DebugLevel
	}
	return gobgplog.InfoLevel
}
