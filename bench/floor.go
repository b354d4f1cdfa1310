package bench

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Floor is what RSA-2048 PKCS#1 v1.5 SHA-256 costs on this machine, measured
// in the same run as the activations.
type Floor struct {
	// SignsPerCore and VerifiesPerCore are operations per second on one
	// goroutine; Signs and Verifies on Cores goroutines at once, which is
	// what the floor uses (it counts every core, and what other processes
	// on the machine take from them).
	SignsPerCore    float64 `json:"signs_per_second_per_core"`
	VerifiesPerCore float64 `json:"verifies_per_second_per_core"`
	Signs           float64 `json:"signs_per_second"`
	Verifies        float64 `json:"verifies_per_second"`
	Cores           int     `json:"cores"`
	// SignCPUMS and VerifyCPUMS are the process CPU milliseconds of one
	// operation, from getrusage across the one-goroutine runs: unlike the
	// rates, they do not count the time other processes on a loaded
	// machine take from the core (0 without getrusage).
	SignCPUMS   float64 `json:"sign_cpu_ms"`
	VerifyCPUMS float64 `json:"verify_cpu_ms"`
}

// MeasureFloor times signatures and verifications, each for d on one
// goroutine and then for d on every core.
func MeasureFloor(d time.Duration) (Floor, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Floor{}, fmt.Errorf("floor: generate RSA key: %w", err)
	}
	digest := sha256.Sum256([]byte("ConfigurationNonce||McNonce"))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		return Floor{}, err
	}
	sign := func() error { _, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:]); return err }
	verify := func() error { return rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, digest[:], sig) }
	f := Floor{Cores: runtime.GOMAXPROCS(0)}
	for _, m := range []struct {
		op       func() error
		n        int
		out, cpu *float64
	}{
		{sign, 1, &f.SignsPerCore, &f.SignCPUMS}, {verify, 1, &f.VerifiesPerCore, &f.VerifyCPUMS},
		{sign, f.Cores, &f.Signs, nil}, {verify, f.Cores, &f.Verifies, nil},
	} {
		cpu0 := processCPU()
		r, ops, err := rate(m.op, m.n, d)
		if err != nil {
			return Floor{}, err
		}
		*m.out = r
		if m.cpu != nil && ops > 0 {
			*m.cpu = ms(processCPU()-cpu0) / float64(ops)
		}
	}
	return f, nil
}

// rate runs op on n goroutines for d and returns operations per second
// and how many ran.
func rate(op func() error, n int, d time.Duration) (float64, int64, error) {
	var count atomic.Int64
	var first atomic.Value
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if err := op(); err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
				count.Add(1)
			}
		})
	}
	wg.Wait()
	if err, ok := first.Load().(error); ok {
		return 0, 0, err
	}
	return float64(count.Load()) / time.Since(start).Seconds(), count.Load(), nil
}

// Ops counts the RSA operations of one activation on each side.
type Ops struct {
	ServerSigns    float64 `json:"server_signs"`
	ServerVerifies float64 `json:"server_verifies"`
	SimSigns       float64 `json:"sim_signs"`
	SimVerifies    float64 `json:"sim_verifies"`
	// Handshakes is the mutual-TLS handshakes per activation, measured by
	// counting the connections the engine opened to port 16993.
	Handshakes float64 `json:"tls_handshakes"`
	// Counted lists where each operation comes from.
	Counted []string `json:"counted"`
}

// Total is every signature and every verification.
func (o Ops) Total() (signs, verifies float64) {
	return o.ServerSigns + o.SimSigns, o.ServerVerifies + o.SimVerifies
}

// Per mutual-TLS handshake to port 16993 (TLS 1.2 ECDHE-RSA, the
// simulator's default): the device signs its key exchange and the RCS its
// CertificateVerify; the RCS verifies the device's signature and its
// certificate under the device-identity root (the root is trusted, not
// verified); the device verifies the CertificateVerify and, by the chain
// rules of AddNextCertInChain, leaf by intermediate, intermediate by root
// and the root's self-signature.
const (
	hsServerSigns, hsServerVerifies = 1, 2
	hsSimSigns, hsSimVerifies       = 1, 4
)

// OpsFor is the operation count of one activation on path with the given
// number of TLS handshakes per activation (measured by the run).
func OpsFor(path Path, handshakes float64) Ops {
	o := Ops{Handshakes: handshakes}
	switch path {
	case PathACM:
		o.ServerSigns, o.SimVerifies = 1, 4
		o.Counted = []string{
			"server: 1 signature (AdminSetup over ConfigurationNonce||McNonce)",
			"sim: 3 verifications (AddNextCertInChain: leaf by intermediate, intermediate by root, root self-signed)",
			"sim: 1 verification (AdminSetup signature)",
		}
	case PathACMTLS, PathLegacy:
		// Legacy setup's connections are all mutual. TLS-based setup has
		// two mutual ones (the setup session before and after the admin
		// ACL); its others are one-way, to the local TLS port that AMT 19
		// enforces (the preflight's clock read with the identity chain,
		// the configuration after the commit with the self-signed
		// certificate): the device signs its key exchange, the RCS
		// verifies it.
		mutual := handshakes
		if path == PathACMTLS {
			mutual = min(handshakes, 2)
		}
		oneWay := handshakes - mutual
		o.ServerSigns = hsServerSigns * mutual
		o.ServerVerifies = hsServerVerifies*mutual + oneWay
		o.SimSigns = hsSimSigns*(mutual+oneWay) + 1
		o.SimVerifies = hsSimVerifies * mutual
		start := "StartConfigurationHBased"
		if path == PathLegacy {
			start = "the start of legacy setup"
		}
		o.Counted = []string{
			fmt.Sprintf("per mutual handshake (%.2f per activation), server: 1 signature (client CertificateVerify), 2 verifications (device key exchange, device certificate)", mutual),
			"per mutual handshake, sim: 1 signature (server key exchange), 4 verifications (CertificateVerify; chain: leaf, intermediate, root self-signed)",
			fmt.Sprintf("per one-way handshake (%.2f per activation, the local TLS port): sim 1 signature, server 1 verification (key exchange)", oneWay),
			"sim: 1 signature per activation (the device identity certificate the simulator issues at " + start + "; real firmware has one already)",
		}
	case PathCCM:
		o.Counted = []string{"none: CCM (Setup over port 16992) uses no signature and no TLS"}
	}
	return o
}

// Allows is the activations per second the RSA operations alone allow on
// every core: the inverse of their time per activation. It is 0 for a path
// without RSA operations (no floor).
func (f Floor) Allows(o Ops) float64 {
	s, v := o.Total()
	if s+v == 0 || f.Signs <= 0 || f.Verifies <= 0 {
		return 0
	}
	return 1 / (s/f.Signs + v/f.Verifies)
}

// ServerCPUPerActivation is the CPU milliseconds of the server's own RSA
// operations in one activation, at the CPU cost per operation measured
// (0 without it).
func (f Floor) ServerCPUPerActivation(o Ops) float64 {
	return o.ServerSigns*f.SignCPUMS + o.ServerVerifies*f.VerifyCPUMS
}

// CPUPerActivation is the CPU time, on one core, of the RSA operations of
// one activation.
func (f Floor) CPUPerActivation(o Ops) time.Duration {
	s, v := o.Total()
	if f.SignsPerCore <= 0 || f.VerifiesPerCore <= 0 {
		return 0
	}
	return time.Duration((s/f.SignsPerCore + v/f.VerifiesPerCore) * float64(time.Second))
}
