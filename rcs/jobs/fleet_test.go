package jobs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/internal/pgtest"
	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// Several servers' schedulers on one store, each claiming a device's
// jobs with a lease as the RCS does: every due job runs once in the
// fleet, not once per server.
func TestScheduledMaintenanceRunsOncePerFleet(t *testing.T) {
	const servers, devices = 3, 24
	opens := map[string]func(t *testing.T) []*store.Store{
		// One bbolt file has one server process; its schedulers share it.
		"bbolt": func(t *testing.T) []*store.Store {
			st, err := store.Open(filepath.Join(t.TempDir(), "amtrcs.db"), store.Options{KEK: store.KEKSource{Key: kek}, NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return []*store.Store{st, st, st}
		},
		"postgres": func(t *testing.T) []*store.Store {
			url := pgtest.URL(t)
			var out []*store.Store
			for range servers {
				st, err := store.OpenPostgres(url, t.TempDir(), store.Options{KEK: store.KEKSource{Key: kek}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				out = append(out, st)
			}
			return out
		},
	}
	for name, open := range opens {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			stores := open(t)
			var ids []string
			for i := range devices {
				ids = append(ids, fmt.Sprintf("dev-%02d", i))
			}
			var mu sync.Mutex
			runs := map[string]int{}
			scheds := make([]*Scheduler, servers)
			for i, st := range stores {
				owner := fmt.Sprintf("server-%d", i)
				s, err := New(Options{Store: st, Workers: 4,
					Schedule: config.Maintenance{ClockSync: time.Hour},
					Devices:  func() ([]string, error) { return ids, nil },
					Run: func(_ context.Context, device, task string, _ provisioning.TaskOptions) (*provisioning.MaintenanceResult, error) {
						mu.Lock()
						runs[device+"/"+task]++
						mu.Unlock()
						time.Sleep(time.Millisecond) // a job takes time: others look meanwhile
						return &provisioning.MaintenanceResult{Device: device, Task: task}, nil
					},
					Claim: func(device string) (func(), bool) {
						if _, err := st.Claim("maint:"+device, owner, time.Minute); err != nil {
							return nil, false
						}
						return func() { _ = st.Release("maint:"+device, owner) }, true
					},
				})
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Plan(); err != nil {
					t.Fatal(err)
				}
				scheds[i] = s
			}
			var wg sync.WaitGroup
			for _, s := range scheds {
				wg.Go(func() {
					if _, err := s.RunDue(context.Background()); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			for _, id := range ids {
				if n := runs[id+"/"+provisioning.TaskClockSync]; n != 1 {
					t.Errorf("%s: clock sync ran %d times across %d servers, want once", id, n, servers)
				}
			}
		})
	}
}
