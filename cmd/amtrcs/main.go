// Command amtrcs is the one binary of the amtrcs remote configuration server
// for Intel AMT. Each command is a thin layer over a package: it parses flags,
// calls the package, and prints a report as text or, with --json, as JSON.
//
// Exit status: 0 success, 1 a negative verdict (a check that fails),
// 2 usage or input errors.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
