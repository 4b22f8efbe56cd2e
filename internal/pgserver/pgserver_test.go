package pgserver

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestDataDirInUse: a second server on a data directory and port already
// running fails to start, although the socket it would create answers
// (the first server's), and the first keeps running.
func TestDataDirInUse(t *testing.T) {
	dir, err := os.MkdirTemp("", "flywheel-pgserver-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cfg := Config{DataDir: filepath.Join(dir, "data")}
	first, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Stop()
	cfg.Port = first.Port
	if second, err := Start(ctx, cfg); err == nil {
		second.Stop()
		t.Fatal("a second server started on a data directory in use")
	}
	if !ready(filepath.Join(first.SocketDir, ".s.PGSQL."+strconv.Itoa(first.Port))) {
		t.Fatal("the first server stopped answering")
	}
}
