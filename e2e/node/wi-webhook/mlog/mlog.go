// Package mlog stands in for monis.app/mlog v0.0.4 when building github.com/Azure/azure-workload-identity
// v1.5.1 (cmd/webhook) for the end-to-end node: proxy.golang.org refuses that module and we reach no other
// source. e2e/node/wi-webhook/go.mod replaces it with this directory.
//
// It is not a copy of mlog: it declares only the names azure-workload-identity v1.5.1 uses (no other module in
// its build list imports mlog), with the behaviour the webhook relies on:
//   - the levels: unset (warning), info, debug, trace, all = klog verbosity 0, 2, 4, 6, 108, as mlog documents;
//     any other --log-level is rejected;
//   - Enabled(level), from which the webhook derives the --log-level of the proxy sidecar it can inject;
//   - one global logr.Logger, writing JSON lines to stderr (log/slog instead of mlog's zap), that klog (and so
//     client-go) and controller-runtime (through Logr) log through too, at the same verbosity;
//   - loggers from New/WithName/WithValues follow later changes of the global level and format, as mlog's do.
//
// Checked against upstream: the unit tests of azure-workload-identity v1.5.1 pkg/webhook (which set and read the
// level through mlog) pass with it, and cmd/proxy compiles with it; cmd/azwi (pkg/cmd) was not compiled.
package mlog

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"
	"strconv"
	"sync"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

// LogLevel is the level a user sets (the webhook's --log-level).
type LogLevel string

const (
	LevelWarning LogLevel = "" // unset: errors and warnings only
	LevelInfo    LogLevel = "info"
	LevelDebug   LogLevel = "debug"
	LevelTrace   LogLevel = "trace"
	LevelAll     LogLevel = "all"
)

// LogFormat is the output format.
type LogFormat string

const (
	FormatJSON LogFormat = "json" // servers
	FormatCLI  LogFormat = "cli"  // the azwi command line tool
)

// LogSpec is a level and a format.
type LogSpec struct {
	Level  LogLevel  `json:"level,omitempty"`
	Format LogFormat `json:"format,omitempty"`
}

var (
	errInvalidLogLevel  = errors.New("invalid log level, valid choices are the empty string, info, debug, trace and all")
	errInvalidLogFormat = errors.New("invalid log format, valid choices are the empty string, json and cli")
)

func klogLevel(l LogLevel) klog.Level {
	switch l {
	case LevelWarning:
		return 0
	case LevelInfo:
		return 2
	case LevelDebug:
		return 4
	case LevelTrace:
		return 6
	case LevelAll:
		return 108 // "all" really means all
	default:
		return -1
	}
}

var (
	mu        sync.RWMutex
	global    logr.Logger
	verbosity klog.Level
	klogFlags *flag.FlagSet
)

func init() {
	if err := ValidateAndSetLogLevelAndFormatGlobally(context.Background(), LogSpec{}); err != nil {
		panic(err)
	}
}

// ValidateAndSetLogLevelAndFormatGlobally sets the level and format of every logger of the process, klog's included.
// The context is unused: output is unbuffered, so there is nothing to flush in the background.
func ValidateAndSetLogLevelAndFormatGlobally(_ context.Context, spec LogSpec) error {
	v := klogLevel(spec.Level)
	if v < 0 {
		return errInvalidLogLevel
	}
	opts := &slog.HandlerOptions{Level: slog.Level(-v)} // logr's slog bridge logs V(n) at slog level -n
	var h slog.Handler
	switch spec.Format {
	case "", FormatJSON:
		h = verbosityHandler{slog.NewJSONHandler(os.Stderr, opts)}
	case FormatCLI:
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
				return slog.Attr{}
			}
			return a
		}
		h = slog.NewTextHandler(os.Stderr, opts)
	default:
		return errInvalidLogFormat
	}
	l := logr.FromSlogHandler(h)

	mu.Lock()
	defer mu.Unlock()
	if klogFlags == nil {
		klogFlags = flag.NewFlagSet("klog", flag.ContinueOnError)
		klog.InitFlags(klogFlags)
	}
	if err := klogFlags.Set("v", strconv.Itoa(int(v))); err != nil {
		return err
	}
	// klog checks its own -v first, then hands the message to this logger.
	klog.SetLoggerWithOptions(l, klog.ContextualLogger(true))
	global, verbosity = l, v
	return nil
}

// verbosityHandler adds the klog verbosity ("v") to records below error: slog has no name for levels under DEBUG.
type verbosityHandler struct{ slog.Handler }

func (h verbosityHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelError {
		r.AddAttrs(slog.Int("v", int(-r.Level)))
	}
	return h.Handler.Handle(ctx, r)
}

func (h verbosityHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return verbosityHandler{h.Handler.WithAttrs(as)}
}

func (h verbosityHandler) WithGroup(name string) slog.Handler {
	return verbosityHandler{h.Handler.WithGroup(name)}
}

// Enabled says whether messages at the level are printed.
func Enabled(level LogLevel) bool {
	v := klogLevel(level)
	mu.RLock()
	defer mu.RUnlock()
	return v >= 0 && v <= verbosity && klog.V(v).Enabled()
}

// Logr is the global logger as a logr.Logger (for controller-runtime's log.SetLogger).
func Logr() logr.Logger {
	mu.RLock()
	defer mu.RUnlock()
	return global
}

// Setup is deferred by main: it returns the function that flushes the logs (klog's; ours are unbuffered).
func Setup() func() {
	return klog.Flush
}

// Fatal logs the error and exits with status 1.
func Fatal(err error, keysAndValues ...any) {
	New().Error("unrecoverable error encountered", err, keysAndValues...)
	klog.Flush()
	os.Exit(1)
}

// Logger is what New, WithName and WithValues return.
type Logger interface {
	Error(msg string, err error, keysAndValues ...any)
	Warning(msg string, keysAndValues ...any)
	Info(msg string, keysAndValues ...any)
	Debug(msg string, keysAndValues ...any)
	WithValues(keysAndValues ...any) Logger
	WithName(name string) Logger
}

type logger struct {
	names  []string
	values []any
}

// New returns a logger that always writes through the current global logger.
func New() Logger { return logger{} }

func WithName(name string) Logger              { return New().WithName(name) }
func WithValues(keysAndValues ...any) Logger   { return New().WithValues(keysAndValues...) }
func Error(msg string, err error, kv ...any)   { New().Error(msg, err, kv...) }
func Warning(msg string, keysAndValues ...any) { New().Warning(msg, keysAndValues...) }
func Info(msg string, keysAndValues ...any)    { New().Info(msg, keysAndValues...) }
func Debug(msg string, keysAndValues ...any)   { New().Debug(msg, keysAndValues...) }

func (l logger) WithName(name string) Logger {
	return logger{names: append(l.names[:len(l.names):len(l.names)], name), values: l.values}
}

func (l logger) WithValues(keysAndValues ...any) Logger {
	return logger{names: l.names, values: append(l.values[:len(l.values):len(l.values)], keysAndValues...)}
}

func (l logger) logr() logr.Logger {
	r := Logr()
	for _, n := range l.names {
		r = r.WithName(n)
	}
	return r.WithValues(l.values...)
}

func (l logger) Error(msg string, err error, keysAndValues ...any) {
	l.logr().Error(err, msg, keysAndValues...)
}

func (l logger) Warning(msg string, keysAndValues ...any) {
	l.logr().V(int(klogLevel(LevelWarning))).Info(msg, append([]any{"warning", true}, keysAndValues...)...)
}

func (l logger) Info(msg string, keysAndValues ...any) {
	l.logr().V(int(klogLevel(LevelInfo))).Info(msg, keysAndValues...)
}

func (l logger) Debug(msg string, keysAndValues ...any) {
	l.logr().V(int(klogLevel(LevelDebug))).Info(msg, keysAndValues...)
}
