//go:build !linux

package bench

import "errors"

// procMemory needs /proc: the idle-agent figures are measured on Linux.
func procMemory(int) (rss, anon int64, err error) {
	return 0, 0, errors.New("resident set of a process: measured from /proc on Linux only")
}
