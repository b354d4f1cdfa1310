//go:build !linux && !windows

package agent

import "fmt"

func openMEI(path string, _ meiGUID) (meiFile, meiClientProperties, error) {
	return nil, meiClientProperties{}, fmt.Errorf("open %s: the MEI backend exists on Linux only: run the agent on Linux, or use --backend sim", path)
}
