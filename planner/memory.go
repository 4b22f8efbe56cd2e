package planner

import (
	"context"
	"errors"
	"fmt"

	"github.com/flywheeldb/flywheel/internal/membudget"
)

// The process-wide memory budget (Options.Memory) is charged with an
// estimate of what a call holds, as it comes to hold it: see
// membudget.InputFactor and the others for how it is made and measured.
const (
	memInputFactor  = membudget.InputFactor
	memWorkFactor   = membudget.WorkFactor
	memResultFactor = membudget.ResultFactor
	// memChunk is how much is counted before the budget is asked, so a
	// large input takes the budget's lock once a mebibyte, not once a row.
	memChunk = membudget.Chunk
)

// charge counts n bytes of input (already multiplied by their factor)
// against the execution's reservation, asking the budget once a chunk has
// built up.
func (b *budget) charge(ctx context.Context, n int64) error {
	if b.mem == nil {
		return nil
	}
	b.pendingIn += n
	if b.pendingIn < memChunk {
		return nil
	}
	return b.flush(ctx, &b.pendingIn, &b.inCharged)
}

// flush reserves what has been counted in *pending and adds it to
// *charged.
func (b *budget) flush(ctx context.Context, pending, charged *int64) error {
	n := *pending
	if n == 0 {
		return nil
	}
	*pending = 0
	if err := b.mem.Grow(ctx, n); err != nil {
		return b.outOfMemory(ctx, err)
	}
	*charged += n
	return nil
}

// beforeRun reserves the function's working memory, estimated from its
// input, before it runs.
func (b *budget) beforeRun(ctx context.Context) error {
	if b.mem == nil {
		return nil
	}
	b.pendingIn += memWorkFactor * b.bytes
	return b.flush(ctx, &b.pendingIn, &b.inCharged)
}

// chargeResult counts n more bytes of result arrays.
func (b *budget) chargeResult(ctx context.Context, n int64) error {
	if b.mem == nil || n <= 0 {
		return nil
	}
	b.pendingOut += memResultFactor * n
	if b.pendingOut < memChunk {
		return nil
	}
	return b.flush(ctx, &b.pendingOut, &b.outCharged)
}

// resultsDone reserves what is left of the counted results: they stay
// charged, in the execution's reservation, until the execution ends.
func (b *budget) resultsDone(ctx context.Context) error {
	if b.mem == nil {
		return nil
	}
	return b.flush(ctx, &b.pendingOut, &b.outCharged)
}

// release gives back what the call held for its input and work, on
// success and failure alike: both are garbage once its results are in
// the arrays.
func (b *budget) release() {
	if b.mem == nil {
		return
	}
	b.mem.Shrink(b.inCharged)
	b.inCharged = 0
}

// outOfMemory is the error of a call the budget refused: 53200, as
// PostgreSQL's own "out of memory", with what was asked and the limit.
func (b *budget) outOfMemory(ctx context.Context, err error) error {
	var ee *membudget.ExceededError
	if !errors.As(err, &ee) {
		return err
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return cancelled(ctx)
	}
	return &Error{Code: "53200",
		Message: fmt.Sprintf("out of memory: %s needs %s more, over Flywheel's memory limit of %s (%s in use by model calls and cached models)",
			b.fn, membudget.Bytes(ee.Need), membudget.Bytes(ee.Limit), membudget.Bytes(ee.Used)),
		Detail: fmt.Sprintf("The call held %s; %v.", membudget.Bytes(ee.Held), ee.Cause),
		Hint: "Raise --memory-limit, run fewer large model calls at once, reduce the input with WHERE or LIMIT, " +
			"or train a stored model once (flywheel.train) and call it with model => name."}
}
