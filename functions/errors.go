// Package functions holds Flywheel's model algorithms as pure Go: no SQL,
// no I/O, no wire types. Callers pass plain slices and get plain results;
// bad input comes back as an *InputError, which the catalog maps to
// SQLSTATE 22023.
package functions

import (
	"errors"
	"fmt"
)

// InputError reports input an algorithm cannot work with: an argument out
// of range, an empty input, a non-finite value. Arg names the offending
// argument (e.g. "k", "input"); Row is the 0-based input row it concerns,
// or -1 when no single row is at fault.
type InputError struct {
	Arg string
	Row int
	Msg string
}

func (e *InputError) Error() string {
	switch {
	case e.Arg != "" && e.Row >= 0:
		return fmt.Sprintf("%s: row %d: %s", e.Arg, e.Row+1, e.Msg)
	case e.Arg != "":
		return fmt.Sprintf("%s: %s", e.Arg, e.Msg)
	case e.Row >= 0:
		return fmt.Sprintf("row %d: %s", e.Row+1, e.Msg)
	}
	return e.Msg
}

// inputErr builds an *InputError about an argument as a whole.
func inputErr(arg, format string, a ...any) error {
	return &InputError{Arg: arg, Row: -1, Msg: fmt.Sprintf(format, a...)}
}

// rowErr builds an *InputError about one input row (0-based).
func rowErr(arg string, row int, format string, a ...any) error {
	return &InputError{Arg: arg, Row: row, Msg: fmt.Sprintf(format, a...)}
}

// AsInputError reports whether err wraps an *InputError and returns it.
func AsInputError(err error) (*InputError, bool) {
	var ie *InputError
	if errors.As(err, &ie) {
		return ie, true
	}
	return nil, false
}
