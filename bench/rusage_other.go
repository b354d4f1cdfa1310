//go:build !unix

package bench

import "time"

// Without getrusage the report leaves CPU and RSS at zero and says so.
func processCPU() time.Duration { return 0 }
func peakRSS() int64            { return 0 }
