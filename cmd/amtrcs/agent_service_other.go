//go:build !windows

package main

import "context"

// runAgentService runs the agent; only Windows has a service manager to
// answer (systemd needs nothing but the process).
func runAgentService(ctx context.Context, a *app, f *agentFlags) error { return runAgent(ctx, a, f) }
