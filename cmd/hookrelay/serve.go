package main

import (
	"context"
	"fmt"
	"io"

	"github.com/hookrelay/hookrelay/internal/app"
)

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := settings("serve", args, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	a, err := app.Open(ctx, cfg, app.Options{Log: log})
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := settings("migrate", args, stderr)
	if err != nil {
		return err
	}
	s, err := app.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Ready(ctx); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "database is up to date:", cfg.Database)
	return nil
}
