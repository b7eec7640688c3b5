// Go peers for heddle's benchmarks (optional: Go is not a dependency of
// the crate). Run: `go run benches/peers/go/peers.go` (Go 1.19 or later).
// Prints the median of 11 runs per figure, in nanoseconds per operation,
// at GOMAXPROCS 1 and 2: the shapes of heddle's `yield`, `spawn_join` and
// `channel_ping_pong` groups.
package main

import (
	"fmt"
	"runtime"
	"sort"
	"sync/atomic"
	"time"
)

const n = 1_000_000

func median(f func() time.Duration) float64 {
	var xs []float64
	for i := 0; i < 11; i++ {
		xs = append(xs, float64(f().Nanoseconds())/n)
	}
	sort.Float64s(xs)
	return xs[len(xs)/2]
}

// Two goroutines yielding to each other: n yields of the caller.
func yieldPair() time.Duration {
	var done int32
	finished := make(chan struct{})
	go func() {
		for atomic.LoadInt32(&done) == 0 {
			runtime.Gosched()
		}
		close(finished)
	}()
	runtime.Gosched()
	start := time.Now()
	for i := 0; i < n; i++ {
		runtime.Gosched()
	}
	t := time.Since(start)
	atomic.StoreInt32(&done, 1)
	<-finished
	return t
}

// Spawn an empty goroutine and wait for it on a channel, n times.
func spawnJoin() time.Duration {
	start := time.Now()
	for i := 0; i < n; i++ {
		c := make(chan int)
		go func(i int) { c <- i }(i)
		<-c
	}
	return time.Since(start)
}

// n round trips over two unbuffered channels to an echo goroutine.
func pingPong() time.Duration {
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	start := time.Now()
	for i := 0; i < n; i++ {
		ping <- i
		<-pong
	}
	t := time.Since(start)
	close(ping)
	return t
}

func main() {
	for _, p := range []int{1, 2} {
		runtime.GOMAXPROCS(p)
		fmt.Printf("go GOMAXPROCS=%d: yield %.1f ns, spawn+join %.1f ns, ping-pong %.1f ns\n",
			p, median(yieldPair), median(spawnJoin), median(pingPong))
	}
}
