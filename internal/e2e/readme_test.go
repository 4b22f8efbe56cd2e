package e2e

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var updateReadme = flag.Bool("update-readme", false, "rewrite README.md's walkthrough from testdata/demo/walkthrough.sql")

const (
	walkthroughBegin = "<!-- walkthrough: generated from testdata/demo/walkthrough.sql by go test ./internal/e2e -run Readme -update-readme -->"
	walkthroughEnd   = "<!-- end of walkthrough -->"
)

// TestReadmeWalkthrough keeps the README's walkthrough the same as the
// tested walkthrough file, statement for statement.
func TestReadmeWalkthrough(t *testing.T) {
	cases := walkthroughCases(t)
	var b strings.Builder
	b.WriteString(walkthroughBegin + "\n")
	for _, c := range cases {
		if c.Comment != "" {
			b.WriteString("\n" + c.Comment + "\n")
		}
		b.WriteString("\n```sql\n" + strings.TrimSpace(c.SQL) + "\n```\n")
	}
	b.WriteString("\n" + walkthroughEnd)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, walkthroughBegin)
	end := strings.Index(text, walkthroughEnd)
	if start < 0 || end < start {
		t.Fatal("README.md has no walkthrough markers")
	}
	want := text[:start] + b.String() + text[end+len(walkthroughEnd):]
	if want == text {
		return
	}
	if *updateReadme {
		if err := os.WriteFile("../../README.md", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatal("README.md's walkthrough differs from testdata/demo/walkthrough.sql; run go test ./internal/e2e -run Readme -update-readme")
}
