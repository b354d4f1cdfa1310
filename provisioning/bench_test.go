package provisioning

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkActivateACMDurable is BenchmarkActivateACM on a store that
// fsyncs every commit, as amtrcs serve runs it: one activation at a time
// (seq), and 16 at once (par16, where concurrent activations can share
// commits). written/act is what the process wrote per activation
// (/proc/self/io wchar: the store's pages, freelist and meta).
func BenchmarkActivateACMDurable(b *testing.B) {
	for _, version := range []string{"16.1.27", "19.0.5"} {
		for _, par := range []int{1, 16} {
			name := fmt.Sprintf("AMT%s/seq", version[:2])
			if par > 1 {
				name = fmt.Sprintf("AMT%s/par%d", version[:2], par)
			}
			b.Run(name, func(b *testing.B) {
				f := newFixture(b, Options{})
				f.st.Close()
				f.durable = true
				f.open()
				devs := make([]*Device, b.N)
				for i := range b.N {
					_, devs[i] = f.device(version, nil)
				}
				w0 := writtenBytes()
				b.ResetTimer()
				var next atomic.Int64
				var wg sync.WaitGroup
				for range par {
					wg.Go(func() {
						for {
							i := int(next.Add(1)) - 1
							if i >= b.N {
								return
							}
							if _, err := f.e.Activate(context.Background(), devs[i], DefaultProfile("default")); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "activations/s")
				if w0 >= 0 {
					b.ReportMetric(float64(writtenBytes()-w0)/float64(b.N)/1024, "KiB-written/act")
				}
			})
		}
	}
}

// writtenBytes is the bytes this process has passed to write calls, or -1
// where /proc/self/io is not available.
func writtenBytes() int64 {
	fh, err := os.Open("/proc/self/io")
	if err != nil {
		return -1
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "wchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}
