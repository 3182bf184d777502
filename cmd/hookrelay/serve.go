package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"

	"github.com/hookrelay/hookrelay/internal/app"
	"github.com/hookrelay/hookrelay/internal/config"
)

const serveAbout = `Runs the API and the dispatcher on the database (created on first run, migrated at start).
It stays in the foreground until Ctrl-C or SIGTERM, then finishes in-flight work and exits.
Logs go to standard error. Every setting is also read from its HOOKRELAY_* variable;
a flag given on the command line wins.`

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := settings("serve", args, stdout, serveAbout)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	a, err := app.Open(ctx, cfg, app.Options{Log: log})
	if err != nil {
		return err
	}
	if err := a.Listen(); err != nil {
		a.Store.Close()
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("%w: another process is listening there; stop it or choose another address with --addr (env HOOKRELAY_ADDR)", err)
		}
		return err
	}
	return a.Run(ctx)
}

func migrate(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("migrate")
	database := fs.String("database", "hookrelay.db", "SQLite `file` (created when missing)")
	s := spec{command: "migrate", synopsis: "[--database FILE]", env: envOnly("database"),
		about: "Creates the database if needed, applies the schema migrations it lacks, says which, and exits.\n" +
			"serve does the same at start; run migrate first to upgrade with the service stopped."}
	if err := parse(s, fs, args, stdout); err != nil {
		return err
	}
	if err := fromEnv("migrate", fs, "database"); err != nil {
		return err
	}
	st, applied, err := app.Migrate(ctx, &config.Config{Database: *database}, func(path string) {
		fmt.Fprintln(stdout, "created database", path)
	})
	if err != nil {
		return err
	}
	defer st.Close()
	if len(applied) == 0 {
		fmt.Fprintf(stdout, "%s: schema is up to date; nothing to apply\n", *database)
		return nil
	}
	for _, m := range applied {
		fmt.Fprintf(stdout, "applied %s\n", m)
	}
	fmt.Fprintf(stdout, "%s: schema is up to date (%d migration(s) applied)\n", *database, len(applied))
	return nil
}
