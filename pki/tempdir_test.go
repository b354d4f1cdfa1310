package pki

import (
	"os"
	"testing"

	"github.com/amtrcs/amtrcs/internal/pgtest"
)

// tempDir is for state shared across tests, which t.TempDir cannot give;
// TestMain removes it.
var tempDirs []string

func tempDir() (string, error) {
	d, err := os.MkdirTemp("", "amtrcs-pki-test-")
	if err == nil {
		tempDirs = append(tempDirs, d)
	}
	return d, err
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedCA != nil {
		sharedCA.Close()
	}
	if sharedSt != nil {
		sharedSt.Close()
	}
	for _, d := range tempDirs {
		os.RemoveAll(d)
	}
	pgtest.Stop()
	os.Exit(code)
}
