// Package clients runs real PostgreSQL clients (psql, pgJDBC) from tests.
package clients

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// PSQL runs psql with the given arguments against url (no psqlrc, tuples
// aligned off, errors do not stop a script) and returns its combined output.
func PSQL(t testing.TB, url string, stdin string, args ...string) (string, error) {
	t.Helper()
	all := append([]string{"-X", "-A", "-F", "|", "-d", url}, args...)
	cmd := exec.Command("psql", all...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// JDBCJar locates pgJDBC from Debian's libpostgresql-jdbc-java.
func JDBCJar() (string, error) {
	const jar = "/usr/share/java/postgresql.jar"
	if _, err := os.Stat(jar); err != nil {
		return "", fmt.Errorf("pgJDBC not found: apt-get install libpostgresql-jdbc-java default-jdk-headless")
	}
	return jar, nil
}

// JDBC runs testdata/jdbc/JdbcRunner.java with the given script against a
// jdbc:postgresql URL and returns its output.
func JDBC(t testing.TB, jdbcURL, script string) string {
	t.Helper()
	jar, err := JDBCJar()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("java", "-cp", jar, runnerPath(), jdbcURL)
	cmd.Stdin = strings.NewReader(script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("JdbcRunner: %v\n%s\n%s", err, out, stderr.String())
	}
	return string(out)
}

func runnerPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "jdbc", "JdbcRunner.java")
}
