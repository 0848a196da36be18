package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/syncspace/syncspace/sync/pathrule"
)

// outcome collects what a pass leaves to do later.
type outcome struct {
	mu       sync.Mutex
	retry    map[string]bool // keys to plan again
	catchUp  bool            // the server changed under us (412): read the changes feed
	errCount int
	fatal    error
}

func (o *outcome) again(k string) {
	o.mu.Lock()
	o.retry[k] = true
	o.mu.Unlock()
}

// needCatchUp asks for the changes feed to be read after the pass (the server
// changed under it). Transfers call it from several goroutines.
func (o *outcome) needCatchUp() {
	o.mu.Lock()
	o.catchUp = true
	o.mu.Unlock()
}

func (o *outcome) failed(err error) {
	o.mu.Lock()
	o.errCount++
	if errors.Is(err, ErrRootVanished) && o.fatal == nil {
		o.fatal = err
	}
	o.mu.Unlock()
}

// stepFailed records that action a failed with err: it counts towards the outcome,
// a.key is retried on the next pass, and the failure is logged.
func (e *Engine) stepFailed(out *outcome, a *action, err error) {
	out.failed(err)
	out.again(a.key)
	e.log.Warn("sync step failed", "op", a.op.String(), "path", a.path, "err", err)
}

// runSteps carries out acts one after the other with step, recording each failure in
// out. It returns false, leaving the rest undone, once ctx is done.
func (e *Engine) runSteps(ctx context.Context, out *outcome, acts []*action, step func(*action) error) bool {
	for _, a := range acts {
		if ctx.Err() != nil {
			return false
		}
		if err := step(a); err != nil {
			e.stepFailed(out, a, err)
		}
	}
	return true
}

// execute carries out a plan. Records first, then deletes (deepest first), then
// directory creations (shallowest first), then transfers in parallel.
func (e *Engine) execute(ctx context.Context, pl *plan, forceProgress bool) *outcome {
	out := &outcome{retry: map[string]bool{}}
	// Nothing more is written while the state file may carry a mark (flushmark.go).
	if err := e.mark.barrier(); err != nil {
		out.fatal = fmt.Errorf("flush the folder before writing more: %w", err)
		for _, a := range pl.acts {
			out.again(a.key)
		}
		return out
	}
	// Once ctx ends no new step starts, but the requests already sent get
	// StopGrace to finish: a change the server committed is recorded in the base
	// instead of being found again, unexplained, at the next start.
	octx, release := withGrace(ctx, StopGrace)
	defer release()
	records, moves, deletes, mkdirs, transfers := sortActs(pl.acts)
	e.mu.Lock()
	for _, a := range records {
		e.recordBase(a)
	}
	e.mu.Unlock()
	if !e.runSteps(ctx, out, moves, func(a *action) error {
		if a.op == opMoveLocal {
			if from, to, dir := e.disk.followServerCase(a); dir {
				repathUnder(from, to, deletes, mkdirs, transfers)
			}
			return nil
		}
		err := e.xfer.moveRemote(octx, a, out)
		if err != nil {
			out.again(a.fromKey)
		}
		return err
	}) {
		return out
	}
	if !e.runSteps(ctx, out, deletes, func(a *action) error {
		if a.op == opDeleteRemote {
			return e.xfer.deleteRemote(octx, a, out)
		}
		return e.disk.deleteLocal(a, out)
	}) {
		return out
	}
	if !e.runSteps(ctx, out, mkdirs, func(a *action) error {
		if a.op == opMkdirRemote {
			return e.xfer.mkdirRemote(octx, a, out)
		}
		return e.disk.mkdirLocal(a, out)
	}) {
		return out
	}
	if len(transfers) > 0 {
		e.transfer(ctx, octx, out, transfers, pl.transferBytes, forceProgress)
	}
	return out
}

// transfer carries out the uploads and downloads of a plan (size bytes in all): an
// archive for many downloads under one directory, then the rest in parallel
// (Options.Transfers at once). No transfer starts once ctx ends; those under way run
// on octx.
func (e *Engine) transfer(ctx, octx context.Context, out *outcome, transfers []*action, size int64, forceProgress bool) {
	transfers = spreadByDir(transfers)
	pr := e.newProgress(len(transfers), size, forceProgress)
	if done := e.xfer.archiveDownloads(octx, transfers, out, pr); len(done) > 0 {
		rest := make([]*action, 0, len(transfers)-len(done))
		for _, a := range transfers {
			if !done[a] {
				rest = append(rest, a)
			}
		}
		transfers = rest
	}
	sem := make(chan struct{}, e.opts.Transfers)
	var wg sync.WaitGroup
	for _, a := range transfers {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		if ctx.Err() != nil {
			<-sem
			break
		}
		wg.Add(1)
		go func(a *action) {
			// Count the file before wg.Done: finish (after wg.Wait) completes the bar
			// at its current count, so a late count would be lost ("39 / 39").
			defer func() { pr.fileDone(); <-sem; wg.Done() }()
			var err error
			if a.op == opUpload {
				err = e.xfer.upload(octx, a, out, pr)
			} else {
				err = e.xfer.download(octx, a, out, pr)
			}
			if err != nil && ctx.Err() == nil {
				e.stepFailed(out, a, err)
			}
		}(a)
	}
	wg.Wait()
	pr.finish()
}

// StopGrace is how long requests already sent may run on once the engine is told to
// stop.
const StopGrace = 10 * time.Second

// withGrace returns a context that ends StopGrace after ctx does (or when release is
// called), carrying ctx's values.
func withGrace(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	octx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(grace, cancel)
		context.AfterFunc(octx, func() { t.Stop() })
	})
	return octx, func() {
		stop()
		cancel()
	}
}

// spreadByDir reorders transfers (path order) so that consecutive ones lie in
// different directories, round-robin: parallel file creations in one directory queue
// on its lock in the kernel, spread over several they do not.
func spreadByDir(acts []*action) []*action {
	var dirs []string
	byDir := map[string][]*action{}
	for _, a := range acts {
		d := pathrule.Parent(a.path)
		if _, ok := byDir[d]; !ok {
			dirs = append(dirs, d)
		}
		byDir[d] = append(byDir[d], a)
	}
	if len(dirs) < 2 {
		return acts
	}
	out := make([]*action, 0, len(acts))
	for len(out) < len(acts) {
		for _, d := range dirs {
			if q := byDir[d]; len(q) > 0 {
				out = append(out, q[0])
				byDir[d] = q[1:]
			}
		}
	}
	return out
}
