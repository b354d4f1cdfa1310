//go:build windows

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows/svc"
)

func serviceLogPath(dataDir string) string { return filepath.Join(dataDir, "agent.log") }

// runAgentService runs the agent under the service control manager when it
// started it, else as a console program. A service has no console: its
// output goes to agent.log in the data directory.
func runAgentService(ctx context.Context, a *app, f *agentFlags) error {
	isService, err := svc.IsWindowsService()
	if err != nil || !isService {
		return runAgent(ctx, a, f)
	}
	log, err := os.OpenFile(serviceLogPath(a.dataDir), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return usageError(fmt.Errorf("agent service: log file: %w", err))
	}
	defer log.Close()
	a.stdout, a.stderr = log, log
	h := &agentService{run: func(ctx context.Context) error { return runAgent(ctx, a, f) }}
	if err := svc.Run("", h); err != nil {
		return verdictError(fmt.Errorf("agent service: %w", err))
	}
	return h.err
}

// agentService answers the service control manager: running until the
// agent ends or a stop or shutdown cancels it.
type agentService struct {
	run func(context.Context) error
	err error
}

func (s *agentService) Execute(_ []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()
	status <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for {
		select {
		case s.err = <-done:
			if s.err != nil {
				// A service-specific exit code makes the manager run the
				// recovery actions.
				return true, 1
			}
			return false, 0
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending}
				cancel()
				<-done
				return false, 0
			}
		}
	}
}
