package main

import (
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/qbackup/qbackup/internal/metrics"
)

// runEnv is what every command's Run receives besides the context: where
// to print the report, and the logger.
type runEnv struct {
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
	// report is what the run pushes as metrics at its end; commands that
	// push fill in what they know (the cluster, a backup's figures).
	report metrics.Run
	// summary is one line saying what a successful run did, for its
	// Kubernetes Event.
	summary string
}

type logOptions struct {
	Level  string `name:"level" env:"QBACKUP_LOG_LEVEL" enum:"debug,info,warn,error" default:"info" help:"Log level."`
	Format string `name:"format" env:"QBACKUP_LOG_FORMAT" enum:"auto,json,text" default:"auto" help:"Log format; auto is text on a terminal and JSON otherwise (pods)."`
}

// logger logs to w (stderr): stdout is reserved for the command's report.
// structured is true for JSON output.
func (o logOptions) logger(w io.Writer) (l *slog.Logger, structured bool) {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(o.Level)))
	opts := &slog.HandlerOptions{Level: level}
	format := o.Format
	if format == "auto" {
		format = "json"
		if isTerminal(w) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts)), false
	}
	return slog.New(slog.NewJSONHandler(w, opts)), true
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
