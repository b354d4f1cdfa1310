package provisioning

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hostif"
)

func leafSignedWith(t *testing.T, sig x509.SignatureAlgorithm) *x509.Certificate {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rcs.corp.example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), SignatureAlgorithm: sig}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStartConfigRequest: the request carries the leaf hashed with the
// algorithm it is signed with, and no suffix list, byte for byte as the
// hardware-proven client's request struct lays it out (rpc-go
// pkg/pthi/types.go StartConfigurationHBasedRequest, pkg/amt/commands.go:
// StartConfigurationHBased(alg, hash, false, 0, [320]byte{})).
func TestStartConfigRequest(t *testing.T) {
	leaf256 := leafSignedWith(t, x509.SHA256WithRSA)
	leaf384 := leafSignedWith(t, x509.SHA384WithRSA)
	sum256 := sha256.Sum256(leaf256.Raw)
	sum384 := sha512.Sum384(leaf384.Raw)
	for _, tc := range []struct {
		leaf *x509.Certificate
		code byte
		hash []byte
	}{{leaf256, 2, sum256[:]}, {leaf384, 3, sum384[:]}} {
		req, err := startConfigRequest(tc.leaf)
		if err != nil {
			t.Fatal(err)
		}
		var sent []byte
		c := hostif.NewClient(hostif.TransportFunc(func(_ context.Context, b []byte) ([]byte, error) {
			sent = b
			return hostif.EncodeResponse(amt.CmdStartConfigurationHBased, amt.HostInternalError, nil), nil
		}))
		c.StartConfigurationHBased(context.Background(), req) //nolint:errcheck // only the request bytes matter
		// Header: version 1.1, reserved, command 0x0400008B, length 390.
		want := []byte{1, 1, 0, 0}
		want = binary.LittleEndian.AppendUint32(want, 0x0400008B)
		want = binary.LittleEndian.AppendUint32(want, 390)
		want = append(want, tc.code)    // ServerHashAlgorithm
		want = append(want, tc.hash...) // ServerCertHash[64], zero-padded
		want = append(want, make([]byte, 64-len(tc.hash))...)
		want = append(want, 0)                           // HostVPNEnable false
		want = binary.LittleEndian.AppendUint32(want, 0) // SuffixListLen 0
		want = append(want, make([]byte, 320)...)        // NetworkDNSSuffixList, empty
		if !bytes.Equal(sent, want) {
			t.Errorf("%s leaf: request\n got % x\nwant % x", tc.leaf.SignatureAlgorithm, sent, want)
		}
	}
	for _, sig := range []x509.SignatureAlgorithm{x509.SHA1WithRSA, x509.SHA512WithRSA} {
		_, err := startConfigRequest(leafSignedWith(t, sig))
		var r Reason
		if !errors.As(err, &r) || r.Rule != RuleStartConfigHash || r.Fix == "" {
			t.Errorf("%s leaf: %v, want a %s refusal with a fix", sig, err, RuleStartConfigHash)
		}
	}
}
