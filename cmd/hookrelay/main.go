// Command hookrelay is the webhook delivery service: `serve` runs it,
// `demo` shows a delivery end to end, `listen` is a local receiver, and
// `admin`/`migrate` manage its database.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hookrelay/hookrelay/internal/config"
)

const usage = `hookrelay — webhook delivery service

Usage:
  hookrelay serve [settings]        run the API, dashboard and dispatcher
  hookrelay migrate [settings]      apply database migrations and exit
  hookrelay demo [--once]           a real delivery end to end on a temporary database
  hookrelay listen --secret whsec_… [--addr 127.0.0.1:9000]
                                    a local receiver that verifies and prints deliveries
  hookrelay admin operator-key create
  hookrelay admin account create --name N
  hookrelay admin api-key create --account ID --scopes a,b [--name N]
  hookrelay admin member create --account ID --email E --role R --password-stdin
  hookrelay admin event-type create --name N --description D [--example JSON]

Run "hookrelay serve --help" for every setting and its HOOKRELAY_* variable.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookrelay:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr)
	case "migrate":
		return migrate(ctx, args[1:], stdout, stderr)
	case "demo":
		return demo(ctx, args[1:], stdout, stderr)
	case "listen":
		return listenCmd(ctx, args[1:], stdout, stderr)
	case "admin":
		return admin(ctx, args[1:], stdin, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// settings parses the serve settings (flags, then HOOKRELAY_* variables).
func settings(name string, args []string, stderr io.Writer) (*config.Config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := config.Register(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: hookrelay %s [settings]\n\nSettings (flag, default, environment variable):\n", name)
		config.Usage(stderr, fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := config.Load(fs, cfg, os.LookupEnv); err != nil {
		return nil, err
	}
	return cfg, nil
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel)))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
