package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/hookrelay/hookrelay/internal/listen"
	"github.com/hookrelay/hookrelay/verify"
)

func listenCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("listen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	secret := fs.String("secret", os.Getenv("HOOKRELAY_LISTEN_SECRET"), "the endpoint's signing secret, whsec_… (env HOOKRELAY_LISTEN_SECRET)")
	addr := fs.String("addr", "127.0.0.1:9000", "address to listen on")
	prefix := fs.String("header-prefix", "X-Hookrelay-", "prefix of the branded headers, as configured on the server")
	tolerance := fs.Duration("tolerance", 5*time.Minute, "accepted age of webhook-timestamp")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *secret == "" {
		return errors.New("--secret is required (the whsec_… shown when the endpoint was created)")
	}
	v, err := verify.New(*secret, verify.WithHeaderPrefix(*prefix), verify.WithTolerance(*tolerance))
	if err != nil {
		return fmt.Errorf("--secret: %w", err)
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: listen.New(stdout, v, *prefix), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "listening on http://%s — deliveries are verified and printed (Ctrl-C to stop)\n", l.Addr())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
