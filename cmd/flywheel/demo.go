package main

import (
	"context"
	"errors"
	"io"
)

func demoLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("demo load: not built yet")
}

func loadDemo(ctx context.Context, url string, scale int, replace bool, out io.Writer) error {
	return errors.New("demo: not built yet")
}
