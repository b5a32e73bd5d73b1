// Command paylake-ferretdb runs FerretDB v1 embedded, with its SQLite backend.
//
// FerretDB's own `go install .../cmd/ferretdb` binary panics at start because the
// module zip lacks build/version/version.txt (FerretDB issue 2982); embedding the
// library avoids that and also turns telemetry off.
//
// The garbage collector runs at GOGC=400 unless GOGC is set: FerretDB decodes every
// document it reads into many small objects, and at the default (100) a third of a full
// read's CPU went to the collector. Reading 100,000 transactions back took 8.5-8.9 s at
// 100 and 6.3-6.6 s at 400 (interleaved runs); the live heap is a few tens of MB, so the
// larger heap it allows is small. GOMEMLIMIT still applies when set.
//
// PAYLAKE_FERRETDB_CPUPROFILE=<file> (unset by default) writes a CPU profile of the whole
// run to that file when the server stops (SIGINT/SIGTERM), for `go tool pprof`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	dir := flag.String("dir", "", "directory holding the SQLite databases (must exist)")
	flag.Parse()
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "paylake-ferretdb: -dir is required")
		os.Exit(2)
	}
	if st, err := os.Stat(*dir); err != nil || !st.IsDir() {
		fmt.Fprintf(os.Stderr, "paylake-ferretdb: data directory %q does not exist\n", *dir)
		os.Exit(2)
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *listen},
		Handler:  "sqlite",
		// SQLite has one writer at a time and its busy handler is not fair: under the soak's load (inserts,
		// the archive's deletes, the KPI's writes) a write waited out FerretDB's default 10 s and failed with
		// SQLITE_BUSY (an archive run's manifest update, 2026-12-02). A minute rides out such stretches.
		//
		// SQLite's page cache defaults to 2 MB per connection, and it reads each page with a system call:
		// 64 MB of cache per connection and the file mapped into memory save ~5 % of FerretDB's CPU on
		// inserts and deletes by id, nothing on reads (bench/ferret_ops.py against the build without them,
		// 50,000 and 200,000 documents, 2026-12-02: insert 1.05-1.06x, delete by ids 1.05-1.08x).
		SQLiteURL: "file:" + *dir + "/?_pragma=busy_timeout(60000)" +
			"&_pragma=cache_size(-65536)&_pragma=mmap_size(4294967296)",
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "paylake-ferretdb: %v\n", err)
		os.Exit(1)
	}

	if path := os.Getenv("PAYLAKE_FERRETDB_CPUPROFILE"); path != "" {
		out, err := os.Create(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "paylake-ferretdb: %v\n", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(out); err != nil {
			fmt.Fprintf(os.Stderr, "paylake-ferretdb: %v\n", err)
			os.Exit(1)
		}
		defer func() {
			pprof.StopCPUProfile()
			out.Close()
		}()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Printf("paylake-ferretdb listening on %s, data in %s\n", *listen, *dir)
	f.Run(ctx)
}
