package provisioning

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

// TestProgress: an activation under WithProgress tells each step, in
// order, numbered from 1, once its record is in the store.
func TestProgress(t *testing.T) {
	tests := []struct {
		version string
		profile Profile
		path    Path
	}{
		{"16.1.27", DefaultProfile("default"), PathHostBased},
		{"19.0.5", DefaultProfile("default"), PathTLS},
		{"16.1.27", ccmProfile(), PathCCM},
	}
	for _, tc := range tests {
		t.Run(string(tc.path), func(t *testing.T) {
			f := newFixture(t, Options{})
			_, dev := f.device(tc.version, nil)
			var got []string
			ctx := WithProgress(context.Background(), func(p Path, n int, step string) {
				sess, err := f.e.GetSession(dev.ID())
				if err != nil || sess.StepName != step || sess.Step != n {
					t.Errorf("step %d %s told before its record (record: step %d %q, %v)", n, step, sess.Step, sess.StepName, err)
				}
				got = append(got, fmt.Sprintf("%s %d %s", p, n, step))
			})
			if _, err := f.e.Activate(ctx, dev, tc.profile); err != nil {
				t.Fatal(err)
			}
			var want []string
			for i, s := range stepsFor(tc.path) {
				want = append(want, fmt.Sprintf("%s %d %s", tc.path, i+1, s.name))
			}
			if !slices.Equal(got, want) {
				t.Errorf("progress\n%q\nwant\n%q", got, want)
			}
		})
	}
}
