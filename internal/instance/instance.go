// Package instance names a running Flywheel process for the rows it
// writes to shared tables (who holds a refresh lease or a stream
// partition), so that several Flywheels in front of one database can be
// told apart in PostgreSQL.
package instance

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
)

// NewID returns host:pid:random, unique across restarts of a process
// with the same pid.
func NewID() string {
	host, _ := os.Hostname()
	b := make([]byte, 3)
	rand.Read(b)
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b))
}
