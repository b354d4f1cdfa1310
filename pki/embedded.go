package pki

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/smallstep/certificates/authority"
	"github.com/smallstep/certificates/authority/provisioner"
	"github.com/smallstep/certificates/db"
	"github.com/smallstep/nosql"
	"github.com/smallstep/nosql/database"
	"go.step.sm/crypto/x509util"
)

// The embedded CA's chain is RSA throughout: AMT firmware serves the chain
// it is given, and RSA is what every AMT generation and every console's TLS
// stack accepts. 3072 bits keeps the 20-year root within current guidance.
const (
	caKeyBits            = 3072
	rootValidity         = 20 * 365 * 24 * time.Hour
	intermediateValidity = 10 * 365 * 24 * time.Hour
)

// Layout of the CA material in ca.db, beside smallstep's own tables. The
// seal names bind each sealed key to its role, so a swapped blob fails to
// open.
var caBucket = []byte("amtrcs_ca")

const (
	keyRootCert  = "root.crt"
	keyInterCert = "intermediate.crt"
	keyRootKey   = "root.key.sealed"
	keyInterKey  = "intermediate.key.sealed"
	sealRootKey  = "pki/root-key"
	sealInterKey = "pki/intermediate-key"
)

type embedded struct {
	auth *authority.Authority
}

func (c *CA) openEmbedded(ctx context.Context, cfg Config, sealer Sealer) error {
	if sealer == nil {
		return fmt.Errorf("%w: the embedded CA needs the store to seal its keys, none given", ErrConfig)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("%w: create data directory %q: %v: give a writable --data-dir", ErrConfig, cfg.DataDir, unwrapPath(err))
	}
	var (
		adb    db.AuthDB
		path   string
		unlock = func() {}
		err    error
	)
	if cfg.Postgres != "" {
		adb, path, unlock, err = openPostgresDB(ctx, cfg.Postgres)
		if err != nil {
			return err
		}
	} else if adb, path, err = openBoltDB(cfg.DataDir); err != nil {
		return err
	}
	ndb, ok := adb.(nosql.DB)
	if !ok {
		unlock()
		adb.Shutdown()
		return fmt.Errorf("%w: CA database %q: driver gives no key-value access", ErrConfig, path)
	}
	root, inter, key, created, err := loadOrCreate(ndb, path, sealer, c.now())
	unlock()
	if err != nil {
		adb.Shutdown()
		return err
	}
	auth, err := authority.NewEmbedded(
		authority.WithDatabase(adb),
		authority.WithX509RootCerts(root),
		authority.WithX509Signer(inter, key),
		authority.WithQuietInit(),
	)
	if err != nil {
		adb.Shutdown()
		return fmt.Errorf("%w: start the embedded authority: %v", ErrConfig, err)
	}
	c.be = &embedded{auth: auth}
	c.root, c.intermediates, c.created = root, []*x509.Certificate{inter}, created
	if created {
		c.log.Info("pki: created the embedded CA; give consoles its root with `amtrcs pki bundle`",
			"root", root.Subject.CommonName, "sha256", Fingerprint(root), "db", path)
	}
	return nil
}

// openBoltDB opens the authority's bbolt file in dataDir.
func openBoltDB(dataDir string) (db.AuthDB, string, error) {
	path := filepath.Join(dataDir, DBFile)
	adb, err := db.New(&db.Config{Type: "bbolt", DataSource: path})
	if err != nil {
		if strings.Contains(err.Error(), "timeout") {
			return nil, path, fmt.Errorf("%w: CA database %q is locked by another process (amtrcs serve?): stop it, or run this command against the server's API", ErrConfig, path)
		}
		return nil, path, fmt.Errorf("%w: open CA database %q: %v: check the file, or restore it from a backup", ErrConfig, path, err)
	}
	return adb, path, nil
}

// loadOrCreate reads the CA material, or creates it in one transaction on
// first use. The bbolt file lock, or on PostgreSQL an advisory lock, keeps
// other servers out meanwhile, so that two starting at once do not each
// create a CA. The
// root key is sealed and kept for a future intermediate, never opened here.
func loadOrCreate(ndb nosql.DB, path string, sealer Sealer, now time.Time) (root, inter *x509.Certificate, key crypto.Signer, created bool, err error) {
	if err := ndb.CreateTable(caBucket); err != nil {
		return nil, nil, nil, false, fmt.Errorf("%w: CA database %q: %v", ErrConfig, path, err)
	}
	rootDER, err := ndb.Get(caBucket, []byte(keyRootCert))
	switch {
	case nosql.IsErrNotFound(err):
		return create(ndb, path, sealer, now)
	case err != nil:
		return nil, nil, nil, false, fmt.Errorf("%w: CA database %q: read root: %v", ErrConfig, path, err)
	}
	damaged := func(what string, err error) error {
		return fmt.Errorf("%w: CA database %q: %s: %v: restore %s from a backup", ErrConfig, path, what, err, path)
	}
	if root, err = x509.ParseCertificate(rootDER); err != nil {
		return nil, nil, nil, false, damaged("root certificate", err)
	}
	interDER, err := ndb.Get(caBucket, []byte(keyInterCert))
	if err != nil {
		return nil, nil, nil, false, damaged("intermediate certificate", err)
	}
	if inter, err = x509.ParseCertificate(interDER); err != nil {
		return nil, nil, nil, false, damaged("intermediate certificate", err)
	}
	if err := inter.CheckSignatureFrom(root); err != nil {
		return nil, nil, nil, false, damaged("intermediate not signed by the root", err)
	}
	if _, err := ndb.Get(caBucket, []byte(keyRootKey)); err != nil {
		return nil, nil, nil, false, damaged("sealed root key", err)
	}
	sealed, err := ndb.Get(caBucket, []byte(keyInterKey))
	if err != nil {
		return nil, nil, nil, false, damaged("sealed intermediate key", err)
	}
	der, err := sealer.Unseal(sealInterKey, sealed)
	if err != nil {
		return nil, nil, nil, false, fmt.Errorf("%w: CA database %q: the intermediate key does not open under the store's KEK (%v): use the KEK the CA was created with, or move %s aside to create a new CA (consoles must then be given the new root)", ErrConfig, path, err, path)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return nil, nil, nil, false, damaged("intermediate key", errors.New("not PKCS#8"))
	}
	signer, ok := k.(crypto.Signer)
	if !ok || !publicKeyEqual(signer.Public(), inter.PublicKey) {
		return nil, nil, nil, false, damaged("intermediate key", errors.New("does not match the intermediate certificate"))
	}
	return root, inter, signer, false, nil
}

func create(ndb nosql.DB, path string, sealer Sealer, now time.Time) (*x509.Certificate, *x509.Certificate, crypto.Signer, bool, error) {
	fail := func(what string, err error) (*x509.Certificate, *x509.Certificate, crypto.Signer, bool, error) {
		return nil, nil, nil, false, fmt.Errorf("%w: create the embedded CA in %q: %s: %v", ErrConfig, path, what, err)
	}
	id := make([]byte, 4)
	if _, err := rand.Read(id); err != nil {
		return fail("random name", err)
	}
	// A short random tag tells installations apart in a console's trust list.
	tag := hex.EncodeToString(id)
	nb := now.Add(-Backdate).Truncate(time.Second)

	rootKey, err := rsa.GenerateKey(rand.Reader, caKeyBits)
	if err != nil {
		return fail("root key", err)
	}
	root, err := caCert(x509util.DefaultRootTemplate, "amtrcs Root CA "+tag, nb, nb.Add(rootValidity), rootKey, nil, rootKey)
	if err != nil {
		return fail("root certificate", err)
	}
	interKey, err := rsa.GenerateKey(rand.Reader, caKeyBits)
	if err != nil {
		return fail("intermediate key", err)
	}
	inter, err := caCert(x509util.DefaultIntermediateTemplate, "amtrcs Intermediate CA "+tag, nb, nb.Add(intermediateValidity), interKey, root, rootKey)
	if err != nil {
		return fail("intermediate certificate", err)
	}

	tx := new(database.Tx)
	for _, kv := range []struct {
		key, seal string
		k         crypto.Signer
	}{{keyRootKey, sealRootKey, rootKey}, {keyInterKey, sealInterKey, interKey}} {
		der, err := x509.MarshalPKCS8PrivateKey(kv.k)
		if err != nil {
			return fail("encode key", err)
		}
		sealed, err := sealer.Seal(kv.seal, der)
		clear(der)
		if err != nil {
			return fail("seal key", err)
		}
		tx.Set(caBucket, []byte(kv.key), sealed)
	}
	tx.Set(caBucket, []byte(keyRootCert), root.Raw)
	tx.Set(caBucket, []byte(keyInterCert), inter.Raw)
	if err := ndb.Update(tx); err != nil {
		return fail("write", err)
	}
	return root, inter, interKey, true, nil
}

// caCert makes a CA certificate from an x509util template. parent nil means
// self-signed.
func caCert(tmpl, cn string, nb, na time.Time, key *rsa.PrivateKey, parent *x509.Certificate, signer crypto.Signer) (*x509.Certificate, error) {
	csr, err := x509util.CreateCertificateRequest(cn, nil, key)
	if err != nil {
		return nil, err
	}
	crt, err := x509util.NewCertificate(csr, x509util.WithTemplate(tmpl, x509util.CreateTemplateData(cn, nil)))
	if err != nil {
		return nil, err
	}
	t := crt.GetCertificate()
	t.NotBefore, t.NotAfter = nb, na
	if parent == nil {
		parent = t
	}
	return x509util.CreateCertificate(t, parent, key.Public(), signer)
}

// sign goes through smallstep's authority so that its policy engine and its
// record of issued certificates apply. The modifier sets every field of the
// template: the authority otherwise copies the CSR, and without NotBefore
// and NotAfter it would issue a certificate that is born expired.
func (e *embedded) sign(ctx context.Context, csr *x509.CertificateRequest, p profile, nb, na time.Time) ([]*x509.Certificate, error) {
	mod := provisioner.CertificateModifierFunc(func(crt *x509.Certificate, _ provisioner.SignOptions) error {
		crt.Subject = pkix.Name{CommonName: p.cn}
		crt.DNSNames, crt.IPAddresses, crt.URIs, crt.EmailAddresses = p.dns, p.ips, p.uris, nil
		crt.ExtraExtensions = nil
		crt.KeyUsage = x509.KeyUsageDigitalSignature
		if _, ok := csr.PublicKey.(*rsa.PublicKey); ok {
			crt.KeyUsage |= x509.KeyUsageKeyEncipherment
		}
		crt.ExtKeyUsage, crt.UnknownExtKeyUsage = []x509.ExtKeyUsage{p.eku}, nil
		crt.BasicConstraintsValid, crt.IsCA = true, false
		crt.NotBefore, crt.NotAfter = nb, na
		return nil
	})
	chain, err := e.auth.SignWithContext(ctx, csr, provisioner.SignOptions{}, mod)
	if err != nil {
		return nil, fmt.Errorf("embedded CA: sign %s certificate for %s: %w", p.kind, p.cn, err)
	}
	return chain, nil
}

func (e *embedded) close() error { return e.auth.Shutdown() }

func publicKeyEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
