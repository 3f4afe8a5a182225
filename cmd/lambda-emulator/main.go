package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/durable-etl/durable-etl/internal/emulator"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback only by default)")
	seed := flag.Uint64("seed", 1, "seed of the generated executions")
	n := flag.Int("executions", 300, "executions to generate")
	minOps := flag.Int("min-ops", 5, "fewest operations per execution")
	maxOps := flag.Int("max-ops", 400, "most operations per execution")
	days := flag.Int("days", 3, "start dates spread over this many days (a backfill: hundreds)")
	recent := flag.Bool("recent", false, "start dates end today, not in January 2026: the ended executions are then within the service's retention, as a live account's are")
	large := flag.Int("large-payload-every", 2000, "one operation in N carries a 256 KiB result (negative: never)")
	manifest := flag.String("manifest", "", "write the executions' JSON Lines manifest to this file")
	readyFile := flag.String("ready-file", "", "write the endpoint URL to this file once listening")
	latency := flag.Duration("latency", 0, "delay every answer by this much")
	faultRate := flag.Float64("fault-rate", 0, "fraction of requests answered with a fault (429, 500, 503, reset or cut mid-body, reset unanswered)")
	latestOnly := flag.Bool("list-latest-only", false, "an unqualified ListDurableExecutionsByFunction lists $LATEST only (default: every version)")
	settled := flag.Bool("settled", false, "production-like executions: operations SUCCEEDED but for one in 20, one step in 20 retried (default: every status and 1-5 attempts equally likely, as the tests use)")
	pageCache := flag.Bool("page-cache", false, "serve each page again from the bytes of its first answer (all kept in memory), so that a measured pass pays no generation")
	undecryptable := flag.Int("undecryptable-every", 0, "one execution in N has data the service cannot decrypt: its calls with payloads answer 502 KMSAccessDeniedException (0: none)")
	future := flag.Bool("future-members", false, "answer with members the SDK's model does not know, as a service newer than the client would: a FutureDetails object (with a CheckpointToken) on every WaitStarted event, Cost in StepSucceededDetails, Budget in state's StepDetails, ArchiveOnDelete in DurableConfig")
	deniedReads := flag.String("denied-reads", "", "answer GetDurableExecution, its history and its state of this function's executions 403 AccessDeniedException, as a policy that allows listing them but not reading them")
	pageItems := flag.Int("page-items", 0, "every page holds at most this many items whatever MaxItems asks, as a service that pages by size does (0: MaxItems alone)")
	growOnSignal := flag.Bool("grow-on-signal", false, "serve the running executions' histories in part, and more of about a third of them at each SIGUSR1, as a live account's running executions go on between nightly runs")
	quota := flag.Float64("quota", 0, "hold the account to this many requests a second (a burst of as many), across every operation, as AWS's API quotas do: the rest are answered 429 TooManyRequestsException with Retry-After: 1 (0: no quota)")
	order := flag.String("history-order", "oldest-first", "how GetDurableExecutionHistory lists: oldest-first (ReverseOrder lists the newest first), newest-first (ReverseOrder the oldest first), oldest-always or newest-always (ReverseOrder ignored)")
	flag.Parse()
	orderOpt, ok := historyOrder(*order)
	if !ok {
		fmt.Fprintf(os.Stderr, "lambda-emulator: -history-order %q: want oldest-first, newest-first, oldest-always or newest-always\n", *order)
		os.Exit(2)
	}

	gen := emulator.GenerateOptions{MinOps: *minOps, MaxOps: *maxOps, Days: *days, LargePayloadEvery: *large, Settled: *settled}
	if *recent {
		gen.Start = time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -*days)
	}
	execs := emulator.Generate(*seed, *n, gen)
	opts := []emulator.Option{emulator.WithLatency(*latency), emulator.WithAliases(emulator.DemoAliases), emulator.WithFunctionList(emulator.DemoFunctions())}
	opts = append(opts, orderOpt...)
	if *pageCache {
		opts = append(opts, emulator.WithPageCache())
	}
	if *latestOnly {
		opts = append(opts, emulator.WithListing(emulator.ListLatestOnly))
	}
	if *deniedReads != "" {
		opts = append(opts, emulator.WithDeniedReads(*deniedReads))
	}
	if *future {
		opts = append(opts, emulator.WithFutureMembers())
	}
	if *pageItems > 0 {
		opts = append(opts, emulator.WithPageItems(*pageItems))
	}
	if *quota > 0 {
		opts = append(opts, emulator.WithQuota(*quota, int(math.Ceil(*quota))))
	}
	opts = append(opts, faultOptions(execs, *seed, *undecryptable, *faultRate)...)
	srv := emulator.New(opts...)
	var g *emulator.Growth
	if *growOnSignal {
		g = emulator.NewGrowth(rand.New(rand.NewPCG(*seed, 0x6e6f7720)), execs)
	}
	srv.Add(execs...)
	if g != nil {
		more := make(chan os.Signal, 1)
		signal.Notify(more, syscall.SIGUSR1)
		go func() {
			for range more {
				grown := g.Grow()
				srv.Add(grown...)
				fmt.Fprintf(os.Stderr, "lambda-emulator: %d running executions went on\n", len(grown))
			}
		}()
	}
	if *manifest != "" {
		if err := writeManifest(*manifest, execs); err != nil {
			log.Fatalf("lambda-emulator: manifest: %v", err)
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("lambda-emulator: %v", err)
	}
	url := "http://" + ln.Addr().String()
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	if *readyFile != "" {
		if err := os.WriteFile(*readyFile, []byte(url+"\n"), 0o644); err != nil {
			log.Fatalf("lambda-emulator: ready file: %v", err)
		}
	}
	fmt.Fprintf(os.Stderr, "lambda-emulator: serving %d executions at %s\n", len(execs), url)

	code := 0
	if args := flag.Args(); len(args) > 0 {
		code = runChild(url, args)
	} else {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		<-ctx.Done()
		stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs.Shutdown(ctx)
	st := srv.Stats()
	fmt.Fprintf(os.Stderr, "lambda-emulator: %d requests, %d pages, %.1f MiB served\n", st.Requests, st.PagesOK, float64(st.BytesOK)/(1<<20))
	os.Exit(code)
}

func writeManifest(path string, execs []emulator.Execution) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := emulator.WriteManifest(f, execs); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// runChild runs the command against the emulator and returns its status.
func runChild(url string, args []string) int {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(),
		"AWS_ENDPOINT_URL_LAMBDA="+url,
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=emulator",
		"AWS_SECRET_ACCESS_KEY=emulator",
		"AWS_EC2_METADATA_DISABLED=true",
	)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "lambda-emulator: %v\n", err)
		return 127
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	err := cmd.Wait()
	signal.Stop(sigs)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return 1
	}
	return 0
}

// historyOrder is the option that makes the emulator list a history as
// -history-order's value name says; ok is false for another name.
func historyOrder(name string) (opts []emulator.Option, ok bool) {
	switch name {
	case "oldest-first":
		return nil, true
	case "newest-first":
		return []emulator.Option{emulator.WithReverseOldestFirst()}, true
	case "oldest-always":
		return []emulator.Option{emulator.WithIgnoredReverseOrder()}, true
	case "newest-always":
		return []emulator.Option{emulator.WithNewestFirstAlways()}, true
	}
	return nil, false
}

// faultOptions are the emulator's options for -undecryptable-every and
// -fault-rate.
func faultOptions(execs []emulator.Execution, seed uint64, undecryptable int, faultRate float64) []emulator.Option {
	var opts []emulator.Option
	if undecryptable > 0 {
		denied := map[string]bool{}
		for i := 0; i < len(execs); i += undecryptable {
			denied[execs[i].ARN] = true
		}
		opts = append(opts, emulator.WithUndecryptable(func(arn string) bool { return denied[arn] }))
	}
	if faultRate > 0 {
		rng := rand.New(rand.NewPCG(seed, 42))
		faults := []emulator.Fault{emulator.Throttle, emulator.ServerError, emulator.Unavailable, emulator.Reset, emulator.Cut, emulator.Drop}
		opts = append(opts, emulator.WithFaults(func(int64, string) emulator.Fault {
			if rng.Float64() < faultRate {
				return faults[rng.IntN(len(faults))]
			}
			return emulator.NoFault
		}))
	}
	return opts
}
