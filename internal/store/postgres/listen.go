package postgres

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Listen calls wake with the endpoint ids that other processes (and this
// one) gave due work, as their transactions commit, until ctx ends. It
// holds one connection of its own outside the pool and reconnects when it
// is lost; notifications missed meanwhile are found by the dispatcher's
// poll, so a lost connection delays work, never loses it.
func (s *Store) Listen(ctx context.Context, log *slog.Logger, wake func(endpointIDs []string)) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listen(ctx, wake)
		if ctx.Err() != nil {
			return
		}
		log.Warn("lost the notification connection; other nodes' work is found by polling until it is back",
			"err", err, "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (s *Store) listen(ctx context.Context, wake func([]string)) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return err
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
		if n.Payload != "" {
			wake(strings.Split(n.Payload, ","))
		}
	}
}
