package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// A non-loopback --http without --http-auth is refused before anything
// starts (no PostgreSQL is started for it).
func TestServeRefusesOpenStatusPage(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"serve", "--http", "0.0.0.0:0", "--data-dir", t.TempDir()}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "--http-auth") {
		t.Fatalf("serve --http 0.0.0.0:0: %v\n%s", err, out.String())
	}
	err = run(context.Background(), []string{"serve", "--http", "0.0.0.0:0", "--http-auth", "nocolon", "--data-dir", t.TempDir()}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "user:password") {
		t.Fatalf("serve --http-auth nocolon: %v", err)
	}
}
