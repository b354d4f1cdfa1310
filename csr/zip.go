package csr

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// certExtensions are the entry names read from an archive; anything else in
// it (a README, an installation guide) is listed as skipped.
var certExtensions = map[string]bool{
	".cer": true, ".crt": true, ".pem": true, ".der": true,
	".p7b": true, ".p7c": true, ".pfx": true, ".p12": true,
}

// parseZip reads the certificate files of a .zip delivery into d. Nested
// archives are not followed: no vendor nests them, and following them is how
// small archives inflate without bound.
func parseZip(name string, data []byte, opts DecodeOptions, d *Delivery) error {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return notACertificate(fmt.Sprintf("a ZIP archive that does not open (%v)", err))
	}
	if len(zr.File) > MaxZipEntries {
		return unreadable("ZIP archive", fmt.Sprintf("%s lists %d entries", name, len(zr.File)),
			fmt.Sprintf("at most %d", MaxZipEntries), "unpack the archive and give the certificate files")
	}
	var total int64
	found := false
	for _, f := range zr.File {
		entry := name + "!" + f.Name
		if f.FileInfo().IsDir() {
			continue
		}
		ext := strings.ToLower(path.Ext(f.Name))
		if ext == ".zip" {
			d.Skipped = append(d.Skipped, entry+" (nested archive not followed)")
			continue
		}
		if !certExtensions[ext] {
			d.Skipped = append(d.Skipped, entry+" (not a certificate file)")
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return fmt.Errorf("%s: %w", entry, notACertificate(fmt.Sprintf("an entry that does not open (%v)", err)))
		}
		// The header's sizes are whatever the archive's author wrote: count
		// the bytes actually inflated against both caps.
		budget := min(int64(MaxFileSize), MaxZipTotal-total)
		b, err := io.ReadAll(io.LimitReader(rc, budget+1))
		rc.Close()
		total += int64(len(b))
		if int64(len(b)) > budget {
			return unreadable("ZIP archive", fmt.Sprintf("%s inflates to more than %s", name, mib(MaxZipTotal)),
				"an archive of a few certificate files", "unpack the archive and give the certificate files")
		}
		if errors.Is(err, zip.ErrFormat) {
			// archive/zip stops an entry that inflates past its header.
			return unreadable("ZIP archive", fmt.Sprintf("%s inflates to more than the %d bytes its header declares", entry, f.UncompressedSize64),
				"an archive whose entries are what they declare", "unpack the archive with another tool and give the certificate files")
		}
		if err != nil {
			return fmt.Errorf("%s: %w", entry, notACertificate(fmt.Sprintf("an entry that does not inflate (%v)", err)))
		}
		if err := decodeInto(entry, b, opts, d, false); err != nil {
			return err
		}
		found = true
	}
	if !found {
		return notACertificate(fmt.Sprintf("a ZIP archive with no certificate file (%s)", strings.Join(d.Skipped, ", ")))
	}
	return nil
}
