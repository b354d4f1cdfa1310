package csr

import (
	"fmt"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/dnssuffix"
)

// ParseCheckOptions reads what a check is judged against from text, as the
// CLI flags and the API fields give it: device suffixes, AMT versions and
// custom root hashes. Each error is prefixed with the name of the field
// (device-suffix, amt-version, trust-hash) that the CLI and the API share.
func ParseCheckOptions(now time.Time, suffixes, versions, trustHashes []string) (CheckOptions, error) {
	opts := CheckOptions{Now: now}
	for _, s := range suffixes {
		if _, err := dnssuffix.ValidateName(s); err != nil {
			return opts, fmt.Errorf("device-suffix: %w", err)
		}
		opts.Suffixes = append(opts.Suffixes, s)
	}
	for _, s := range versions {
		v, _, err := amt.ParseProfileVersion(s)
		if err != nil {
			return opts, fmt.Errorf("amt-version: %w", err)
		}
		opts.Versions = append(opts.Versions, v)
	}
	if len(trustHashes) > amt.MaxCustomHashes {
		return opts, fmt.Errorf("trust-hash: %w", amt.RuleError{Rule: "custom root hashes", Seen: fmt.Sprintf("%d hashes given", len(trustHashes)),
			Want: fmt.Sprintf("at most %d, as MEBx holds at most %d custom hashes", amt.MaxCustomHashes, amt.MaxCustomHashes), Fix: "give the hashes added in MEBx only"})
	}
	for i, s := range trustHashes {
		alg, h, err := amt.ParseHash(s)
		if err != nil {
			return opts, fmt.Errorf("trust-hash: %w", err)
		}
		opts.CustomHashes = append(opts.CustomHashes, amt.RootHash{Name: fmt.Sprintf("custom hash %d", i+1), Algorithm: alg, Hash: h, Active: true})
	}
	return opts, nil
}

// DeliveryFile is one file of a delivery received as bytes (an upload).
type DeliveryFile struct {
	Name string `json:"name"`
	Data []byte `json:"data"`
}

// DecodeFiles decodes each file as ReadDelivery does a path, merging their
// certificates.
func DecodeFiles(files []DeliveryFile, opts DecodeOptions) (*Delivery, error) {
	d := &Delivery{}
	for _, f := range files {
		if err := decodeInto(f.Name, f.Data, opts, d, true); err != nil {
			return nil, err
		}
	}
	return d, nil
}
