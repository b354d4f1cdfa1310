//go:build linux

package main

func installAgentService(a *app, s serviceSpec) error { return installSystemd(a, s) }

func uninstallAgentService(a *app, inf *installFlags) error { return uninstallSystemd(a, inf) }
