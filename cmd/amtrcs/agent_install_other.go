//go:build !linux && !windows

package main

import (
	"fmt"
	"runtime"
)

func installAgentService(a *app, s serviceSpec) error {
	if s.root != "" {
		return installSystemd(a, s)
	}
	return usageError(fmt.Errorf("agent install: this system is %s: the agent installs as a Windows service or a systemd unit; give --root DIR to write the unit only", runtime.GOOS))
}

func uninstallAgentService(a *app, inf *installFlags) error {
	if inf.root != "" {
		return uninstallSystemd(a, inf)
	}
	return usageError(fmt.Errorf("agent uninstall: this system is %s: the agent installs as a Windows service or a systemd unit; give --root DIR as at install", runtime.GOOS))
}
