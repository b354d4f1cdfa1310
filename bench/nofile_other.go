//go:build !unix

package bench

// raiseNoFile has nothing to raise where descriptors are not limited so.
func raiseNoFile() (uint64, error) { return 0, nil }
