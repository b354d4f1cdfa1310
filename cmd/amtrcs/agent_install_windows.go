//go:build windows

package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// elevate is the fix for every refusal of the service control manager.
const elevate = "run it from an elevated prompt (Run as administrator)"

func installAgentService(a *app, s serviceSpec) error {
	if s.root != "" {
		// Writing the systemd unit for a Linux image works from any system.
		return installSystemd(a, s)
	}
	m, err := mgr.Connect()
	if err != nil {
		return usageError(fmt.Errorf("agent install: connect to the service control manager: %w: %s", err, elevate))
	}
	defer m.Disconnect()
	if old, err := m.OpenService(s.name); err == nil {
		old.Close()
		return usageError(fmt.Errorf("agent install: the service %s exists already: run `amtrcs agent uninstall --name %s` first, or give another --name", s.name, s.name))
	}
	if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
		return usageError(fmt.Errorf("agent install: data directory: %w: %s", err, elevate))
	}
	args := s.args
	if s.token != "" {
		// The service's command line is the one place Windows keeps
		// arguments; the token is spent at the first enrollment.
		args = append(args, "--token="+s.token)
	}
	srv, err := m.CreateService(s.name, s.binary, mgr.Config{
		DisplayName:      "amtrcs agent",
		Description:      "Reports this PC's Intel AMT host interface to the RCS and relays its streams.",
		StartType:        mgr.StartAutomatic,
		DelayedAutoStart: true,
	}, args...)
	if err != nil {
		return usageError(fmt.Errorf("agent install: create the service %s: %w: %s", s.name, err, elevate))
	}
	defer srv.Close()
	// Lost connections are retried inside the agent; an exit is a failure
	// that may need a fix, so the manager waits a minute before a restart.
	if err := srv.SetRecoveryActions([]mgr.RecoveryAction{{Type: mgr.ServiceRestart, Delay: time.Minute}}, 24*60*60); err != nil {
		fmt.Fprintf(a.stderr, "agent install: recovery actions not set: %v\n", err)
	}
	fmt.Fprintf(a.stdout, "created the service %s: %s %v\n", s.name, s.binary, s.args)
	if err := srv.Start(); err != nil {
		return verdictError(fmt.Errorf("agent install: start the service %s: %w: see %s", s.name, err, serviceLogPath(s.dataDir)))
	}
	fmt.Fprintf(a.stdout, "started the service %s (log %s)\n", s.name, serviceLogPath(s.dataDir))
	return nil
}

func uninstallAgentService(a *app, inf *installFlags) error {
	if inf.root != "" {
		return uninstallSystemd(a, inf)
	}
	m, err := mgr.Connect()
	if err != nil {
		return usageError(fmt.Errorf("agent uninstall: connect to the service control manager: %w: %s", err, elevate))
	}
	defer m.Disconnect()
	srv, err := m.OpenService(inf.name)
	if err != nil {
		return usageError(fmt.Errorf("agent uninstall: open the service %s: %w: give --name as at install, and %s", inf.name, err, elevate))
	}
	defer srv.Close()
	st, err := srv.Control(svc.Stop)
	if err != nil && !errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) {
		return verdictError(fmt.Errorf("agent uninstall: stop the service %s: %w", inf.name, err))
	}
	// The agent stops within its relay's close; wait for it a bounded while.
	for i := 0; err == nil && st.State != svc.Stopped && i < 100; i++ {
		time.Sleep(100 * time.Millisecond)
		st, err = srv.Query()
	}
	if err := srv.Delete(); err != nil {
		return verdictError(fmt.Errorf("agent uninstall: delete the service %s: %w", inf.name, err))
	}
	fmt.Fprintf(a.stdout, "removed the service %s; the data directory and the agent's state file stay (`amtrcs agents revoke` on the RCS retires the credential)\n", inf.name)
	return nil
}
