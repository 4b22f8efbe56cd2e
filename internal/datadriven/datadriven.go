// Package datadriven reads the golden files of Flywheel's tests, in the
// style of cockroachdb/datadriven (whose module would bring
// cockroachdb/errors and its dependencies for forty lines of parsing):
//
//	# a comment
//	-- a description, kept with the case below it
//	directive [arg ...]
//	input, one or more lines
//	----
//	expected output, up to a blank line or the end of the file
//
// What directives and arguments mean is the reader's business.
package datadriven

import (
	"fmt"
	"os"
	"strings"
)

// Case is one directive of a file.
type Case struct {
	Line     int      // 1-based line of the directive
	Doc      []string // the "--" lines just above the directive, "--" removed
	Cmd      string
	Args     []string
	Input    string // the lines between the directive and ----
	Expected string
	// from, to are Expected's lines, for Rewrite.
	from, to int
}

// File is a parsed file.
type File struct {
	Path  string
	Cases []Case
	lines []string
}

// ReadFile reads and parses a file.
func ReadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse parses a file's contents; path names it in errors.
func Parse(path string, data []byte) (*File, error) {
	f := &File{Path: path, lines: strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")}
	trimmed := func(i int) string { return strings.TrimRight(f.lines[i], " \t\r") }
	var doc []string
	for i := 0; i < len(f.lines); i++ {
		l := trimmed(i)
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
			doc = nil
			continue
		case strings.HasPrefix(l, "--"):
			doc = append(doc, strings.TrimSpace(strings.TrimPrefix(l, "--")))
			continue
		}
		fields := strings.Fields(l)
		c := Case{Line: i + 1, Doc: doc, Cmd: fields[0], Args: fields[1:]}
		doc = nil
		start := i + 1
		for i++; i < len(f.lines) && trimmed(i) != "----"; i++ {
		}
		if i == len(f.lines) {
			return nil, fmt.Errorf("%s:%d: %s without a ---- line", path, c.Line, c.Cmd)
		}
		c.Input = strings.Join(f.lines[start:i], "\n")
		c.from = i + 1
		for i++; i < len(f.lines) && trimmed(i) != ""; i++ {
		}
		c.to = i
		c.Expected = strings.Join(f.lines[c.from:c.to], "\n")
		f.Cases = append(f.Cases, c)
	}
	return f, nil
}

// Rewrite returns the file with each case's expected output replaced by
// got[i], everything else as it was.
func (f *File) Rewrite(got []string) []byte {
	var b strings.Builder
	next := 0
	for i, c := range f.Cases {
		for _, l := range f.lines[next:c.from] {
			b.WriteString(l + "\n")
		}
		if g := strings.TrimRight(got[i], "\n"); g != "" {
			b.WriteString(g + "\n")
		}
		next = c.to
	}
	for _, l := range f.lines[next:] {
		b.WriteString(l + "\n")
	}
	return []byte(b.String())
}
