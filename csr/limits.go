package csr

import (
	"fmt"
	"io"
	"os"
)

// Limits on what a delivery may weigh. A real vendor delivery is a few
// kilobytes; the caps are there so that a wrong file or a hostile archive
// cannot make the importer read or inflate without bound.
const (
	// MaxFileSize is the largest file, or ZIP entry, that is read.
	MaxFileSize = 10 << 20
	// MaxZipEntries is the most entries a ZIP archive may list.
	MaxZipEntries = 64
	// MaxZipTotal caps the bytes inflated from one archive, counted as they
	// are read, since the sizes in a ZIP header are whatever its author
	// wrote.
	MaxZipTotal = 10 << 20
	// MaxCertificates caps the certificates taken from one delivery.
	MaxCertificates = 64
)

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// ReadFile reads a delivery file, refusing one larger than MaxFileSize
// before reading it whole.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, unreadable("read file", err.Error(), "a readable file", "check the path and its permissions")
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > MaxFileSize {
		return nil, tooLarge(path, fi.Size())
	}
	// The size from Stat is not trusted for pipes and special files: count
	// what is actually read.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, unreadable("read file", err.Error(), "a readable file", "check the path and its permissions")
	}
	if len(data) > MaxFileSize {
		return nil, tooLarge(path, int64(len(data)))
	}
	return data, nil
}

func tooLarge(name string, size int64) error {
	return unreadable("file size", fmt.Sprintf("%s is %s or more", name, mib(size)),
		"at most "+mib(MaxFileSize)+" (a certificate delivery is a few KiB)",
		"give the certificate files the vendor sent, not a larger archive or another file")
}
