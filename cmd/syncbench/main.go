// Command syncbench measures syncspace against real peers on this machine and prints
// one table (see package bench and docs/BENCHMARKS.md). Run it with
//
//	go run ./cmd/syncbench [--only NAME] [--quick] [--json]
//
// Hidden subcommands serve its own child processes: `__syncd ARGS` runs syncd
// (cmd/syncd/daemon.Run) and `__minihub` the minimal gorilla hub, so that the rss
// scenario measures each server's memory in a process of its own, and `__client ARGS`
// runs realtime-sync-client (clientapp.Run), whose memory the growth scenario measures.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/syncspace/syncspace/cmd/internal/buildinfo"
	"github.com/syncspace/syncspace/cmd/realtime-sync-client/clientapp"
	"github.com/syncspace/syncspace/cmd/syncbench/bench"
	"github.com/syncspace/syncspace/cmd/syncd/daemon"
)

func main() {
	if buildinfo.IsVersionFlag(os.Args[1:]) {
		buildinfo.Print(os.Stdout, "syncbench")
		return
	}
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "__syncd", "__minihub", "__client":
			profileOnSignal(strings.TrimPrefix(os.Args[1], "__"))
		}
		switch os.Args[1] {
		case "__syncd":
			os.Exit(daemon.Run(context.Background(), os.Args[2:], os.Stdout, os.Stderr))
		case "__client":
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			code := clientapp.Run(ctx, os.Args[2:], os.Stdout, os.Stderr)
			stop()
			os.Exit(code)
		case "__minihub":
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := bench.ServeMiniHub(ctx, os.Stdout); err != nil {
				fmt.Fprintf(os.Stderr, "syncbench __minihub: %v\n", err)
				os.Exit(1)
			}
			return
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(bench.Main(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// profileOnSignal writes heap and goroutine profiles of this child process into
// $SYNCBENCH_PROFILE_DIR on every SIGUSR1 (nothing when the variable is unset, or on Windows).
func profileOnSignal(name string) {
	dir := os.Getenv("SYNCBENCH_PROFILE_DIR")
	if dir == "" || bench.ProfileSignal == nil {
		return
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, bench.ProfileSignal)
	go func() {
		for range sigs {
			runtime.GC()
			for _, p := range []string{"heap", "goroutine"} {
				f, err := os.Create(filepath.Join(dir, name+"-"+p+".pprof"))
				if err != nil {
					fmt.Fprintf(os.Stderr, "syncbench: profile: %v\n", err)
					continue
				}
				_ = pprof.Lookup(p).WriteTo(f, 0)
				f.Close()
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			stats := fmt.Sprintf("goroutines %d\nstack_inuse %d\nheap_inuse %d\nheap_alloc %d\nheap_idle_unreleased %d\nsys %d\nnum_gc %d\n",
				runtime.NumGoroutine(), ms.StackInuse, ms.HeapInuse, ms.HeapAlloc, ms.HeapIdle-ms.HeapReleased, ms.Sys, ms.NumGC)
			_ = os.WriteFile(filepath.Join(dir, name+"-memstats.txt"), []byte(stats), 0o644)
			fmt.Fprintf(os.Stderr, "syncbench: wrote %s profiles to %s\n", name, dir)
		}
	}()
}
