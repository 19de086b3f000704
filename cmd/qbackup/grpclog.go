package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"

	"google.golang.org/grpc/grpclog"
)

// grpcLogger is the logger gRPC's own messages go to: the run's, so they
// join the JSON stream of a pod instead of breaking it with gRPC's default
// plain-text lines. Nil (before a run, or in tests) discards them.
var grpcLogger atomic.Pointer[slog.Logger]

// slogGRPC implements grpclog.LoggerV2 on top of grpcLogger. gRPC's info
// messages (connection state changes) are debug-level noise for qbackup.
type slogGRPC struct{}

var _ grpclog.LoggerV2 = slogGRPC{}

func (slogGRPC) log(level slog.Level, msg string) {
	if l := grpcLogger.Load(); l != nil {
		l.Log(context.Background(), level, msg, "component", "grpc")
	}
}

func (g slogGRPC) Info(args ...any)   { g.log(slog.LevelDebug, fmt.Sprint(args...)) }
func (g slogGRPC) Infoln(args ...any) { g.log(slog.LevelDebug, fmt.Sprintln(args...)) }
func (g slogGRPC) Infof(format string, args ...any) {
	g.log(slog.LevelDebug, fmt.Sprintf(format, args...))
}
func (g slogGRPC) Warning(args ...any)   { g.log(slog.LevelWarn, fmt.Sprint(args...)) }
func (g slogGRPC) Warningln(args ...any) { g.log(slog.LevelWarn, fmt.Sprintln(args...)) }
func (g slogGRPC) Warningf(format string, args ...any) {
	g.log(slog.LevelWarn, fmt.Sprintf(format, args...))
}
func (g slogGRPC) Error(args ...any)   { g.log(slog.LevelError, fmt.Sprint(args...)) }
func (g slogGRPC) Errorln(args ...any) { g.log(slog.LevelError, fmt.Sprintln(args...)) }
func (g slogGRPC) Errorf(format string, args ...any) {
	g.log(slog.LevelError, fmt.Sprintf(format, args...))
}
func (g slogGRPC) Fatal(args ...any)                 { g.Error(args...); os.Exit(1) }
func (g slogGRPC) Fatalln(args ...any)               { g.Errorln(args...); os.Exit(1) }
func (g slogGRPC) Fatalf(format string, args ...any) { g.Errorf(format, args...); os.Exit(1) }

// V reports whether verbosity level l is on: gRPC's verbose logging is
// never wanted in qbackup's stream.
func (slogGRPC) V(l int) bool { return l <= 0 }
