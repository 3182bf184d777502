// Command hookrelay is the webhook delivery service: `serve` runs it,
// `demo` shows a delivery end to end, `listen` is a local receiver, and
// `admin`/`migrate` manage its database.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/hookrelay/hookrelay/internal/app"
	"github.com/hookrelay/hookrelay/internal/config"
)

const usage = `Usage: hookrelay <command> [flags]

hookrelay is a webhook delivery service: your backend publishes events, it signs them, delivers
them to your customers' endpoints, retries, and keeps a delivery log.

Commands:
  serve     run the API and the dispatcher; stays in the foreground until Ctrl-C or SIGTERM
  migrate   create or upgrade the database schema, say what was applied, and exit
  demo      a real delivery end to end on a temporary database; serves until Ctrl-C (--once: exit after it)
  listen    a local receiver for development: verifies and prints each delivery
  admin     create, list and remove operator keys, accounts, API keys, members and event types
  ready     exit 0 if a running hookrelay answers /readyz (for health checks)
  version   print the version and exit

Run 'hookrelay <command> --help' for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode reports err and picks the exit status: 0 done (or help shown),
// 2 a command line that cannot run (one line and a hint), 1 a failure.
func exitCode(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errHelpShown):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "hookrelay: %s\n%s\n", ue.msg, ue.hint())
		return 2
	}
	fmt.Fprintln(stderr, "hookrelay:", err)
	return 1
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageErrorf("", "no command given")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "migrate":
		return migrate(ctx, args[1:], stdout)
	case "demo":
		return demo(ctx, args[1:], stdout, stderr)
	case "listen":
		return listenCmd(ctx, args[1:], stdout)
	case "admin":
		return admin(ctx, args[1:], stdin, stdout)
	case "ready":
		return ready(ctx, args[1:], stdout)
	case "version", "--version", "-version":
		if args[0] == "version" {
			if err := parse(spec{command: "version", about: "Prints the version and exits."}, newFlags("version"), args[1:], stdout); err != nil {
				return err
			}
		}
		fmt.Fprintln(stdout, versionLine())
		return nil
	case "help", "-h", "--help", "-help":
		if len(args) > 1 && args[1] != "help" && args[0] == "help" {
			// "hookrelay help serve" is "hookrelay serve --help".
			return run(ctx, append(args[1:], "--help"), stdin, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageErrorf("", "unknown command %q", args[0])
}

// versionLine is the release and, when the binary was built from a
// checkout, the commit it was built from.
func versionLine() string {
	line := "hookrelay " + app.Version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				line += " (commit " + s.Value[:12] + ")"
			}
		}
	}
	return line + " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}

// settings parses the serve settings (flags, then HOOKRELAY_* variables).
func settings(command string, args []string, stdout io.Writer, about string) (*config.Config, error) {
	fs := newFlags(command)
	cfg := config.Register(fs)
	s := spec{command: command, synopsis: "[settings]", about: about, env: config.EnvName}
	if err := parse(s, fs, args, stdout); err != nil {
		return nil, err
	}
	if err := config.Load(fs, cfg, os.LookupEnv); err != nil {
		return nil, &usageError{command: command, msg: err.Error()}
	}
	return cfg, nil
}
