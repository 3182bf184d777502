package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/listen"
	"github.com/hookrelay/hookrelay/verify"
)

func listenCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("listen")
	secret := fs.String("secret", "", "the endpoint's signing `secret`, whsec_… (shown when the endpoint was created)")
	addr := fs.String("addr", "127.0.0.1:9000", "`host:port` to listen on")
	prefix := fs.String("header-prefix", "X-Hookrelay-", "`prefix` of the branded headers, as configured on the server")
	var tolerance time.Duration
	config.DurationVar(fs, &tolerance, "tolerance", 5*time.Minute, "accepted age of webhook-timestamp")
	env := func(name string) string {
		if name == "secret" {
			return "HOOKRELAY_LISTEN_SECRET"
		}
		return ""
	}
	s := spec{command: "listen", synopsis: "--secret whsec_… [--addr HOST:PORT]", env: env,
		about: "A local receiver for development: verifies the signatures of each delivery and prints it.\n" +
			"It stays in the foreground until Ctrl-C. Point an endpoint at http://HOST:PORT/ with a server\n" +
			"started with --dev-allow-localhost (plain http and loopback receivers are refused otherwise)."}
	if err := parse(s, fs, args, stdout); err != nil {
		return err
	}
	if *secret == "" {
		*secret = os.Getenv("HOOKRELAY_LISTEN_SECRET")
	}
	if *secret == "" {
		return usageErrorf("listen", "--secret is required (the whsec_… shown when the endpoint was created)")
	}
	v, err := verify.New(*secret, verify.WithHeaderPrefix(*prefix), verify.WithTolerance(tolerance))
	if err != nil {
		return fmt.Errorf("--secret: %w", err)
	}
	l, err := net.Listen("tcp", *addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%w: another process is listening there; choose another address with --addr", err)
	}
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
