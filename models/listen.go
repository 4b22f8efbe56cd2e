package models

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// listen keeps a connection that LISTENs on Channel and drops a model from
// the cache whenever a NOTIFY names it. It reconnects with back-off when
// the connection is lost; until it is back, nothing is cached. ready is
// closed the first time it listens.
func (s *Store) listen(ctx context.Context, cfg *pgx.ConnConfig, ready chan struct{}) {
	defer close(s.done)
	backoff := 50 * time.Millisecond
	first := true
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, cfg, func() {
			backoff = 50 * time.Millisecond
			if first {
				first = false
				close(ready)
			}
		})
		if ctx.Err() != nil {
			break
		}
		s.log.Warn("models: lost the connection that listens for model changes; reading models uncached until it is back", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (s *Store) listenOnce(ctx context.Context, cfg *pgx.ConnConfig, listening func()) error {
	conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return err
	}
	defer func() {
		s.cache.setListening(false)
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return err
	}
	s.cache.setListening(true)
	listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		s.cache.changed(n.Payload)
	}
}

// CacheStats reports the model cache's contents and hit counts.
func (s *Store) CacheStats() CacheStats { return s.cache.stats() }
