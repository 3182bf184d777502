package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"syscall"

	"github.com/hookrelay/hookrelay/internal/app"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/store/transfer"
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
	database := fs.String("database", "hookrelay.db", "SQLite `file` (created when missing), or a postgres:// URL")
	from := fs.String("from", "", "copy everything from this SQLite `file` into the (new, empty) PostgreSQL --database; stop serve on it first")
	s := spec{command: "migrate", synopsis: "[--database FILE|URL] [--from FILE]", env: envOnly("database"),
		about: "Creates the database if needed, applies the schema migrations it lacks, says which, and exits.\n" +
			"serve does the same at start; run migrate first to upgrade with the service stopped.\n" +
			"With --from, moves a SQLite node to PostgreSQL: every row is copied into the new database."}
	if err := parse(s, fs, args, stdout); err != nil {
		return err
	}
	if err := fromEnv("migrate", fs, "database"); err != nil {
		return err
	}
	if *from != "" && !config.IsPostgresURL(*database) {
		return errors.New("--from copies into PostgreSQL: give --database a postgres:// URL")
	}
	st, applied, err := app.Migrate(ctx, &config.Config{Database: *database}, func(path string) {
		fmt.Fprintln(stdout, "created database", path)
	})
	if err != nil {
		return err
	}
	defer st.Close()
	if len(applied) == 0 {
		fmt.Fprintf(stdout, "%s: schema is up to date; nothing to apply\n", config.DatabaseName(*database))
	} else {
		for _, m := range applied {
			fmt.Fprintf(stdout, "applied %s\n", m)
		}
		fmt.Fprintf(stdout, "%s: schema is up to date (%d migration(s) applied)\n", config.DatabaseName(*database), len(applied))
	}
	if *from != "" {
		return copyFrom(ctx, *from, *database, stdout)
	}
	return nil
}

// copyFrom moves a SQLite node's data into the PostgreSQL database.
func copyFrom(ctx context.Context, from, database string, stdout io.Writer) error {
	// The source first gets this version's schema, so both have the same
	// tables and columns.
	src, err := app.OpenStore(ctx, &config.Config{Database: from}, app.StoreOptions{})
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	src.Close()
	path, _ := filepath.Abs(from)
	err = transfer.SQLiteToPostgres(ctx, path, database, func(table string, rows int) {
		fmt.Fprintf(stdout, "copied %d rows of %s\n", rows, table)
	})
	if err != nil {
		return fmt.Errorf("copy %s: %w (the target is unchanged)", path, err)
	}
	fmt.Fprintf(stdout, "copied %s into %s. Its signing secrets are sealed with the key in %s (or the --encryption-key it "+
		"ran with): give that key to every node as --encryption-key.\n", path, config.DatabaseName(database), path+".key")
	return nil
}
