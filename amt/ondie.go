package amt

import (
	"crypto/x509"
	_ "embed"
	"sync"
)

// IntelOnDieRootSHA256 is the SHA-256 of Intel's On-Die CA root
// certificate, the root that AMT 19+ firmware's device-identity chains end
// in (reference §13).
const IntelOnDieRootSHA256 = "BEB40BB7507B33967226AA80E084749FBB6593893C642E818D682E9A8D07FC24"

// Real firmware sends its TLS chain without this root (the leaf and its
// intermediates only), so an RCS must hold it: Intel's public root
// certificate, DER, as Intel publishes it.
//
//go:embed intel_ondie_root.cer
var intelOnDieRootDER []byte

var intelOnDieRoot = sync.OnceValues(func() (*x509.Certificate, error) { return x509.ParseCertificate(intelOnDieRootDER) })

// IntelOnDieRoot returns Intel's On-Die CA root certificate. The file is
// pinned by IntelOnDieRootSHA256 in the tests; a parse error would be a
// broken build, not a runtime condition.
func IntelOnDieRoot() *x509.Certificate {
	c, err := intelOnDieRoot()
	if err != nil {
		panic("amt: embedded Intel On-Die root: " + err.Error())
	}
	return c
}

// Device-identity chain facts, as hardware-proven readers check them.
const (
	// A device-identity leaf is named one of these (newer firmware
	// "iAMT CSME IDevID RCFG", older "AMT RCFG").
	DeviceLeafCN       = "AMT RCFG"
	DeviceLeafCNIDevID = "iAMT CSME IDevID RCFG"
	// DeviceChainROMIndex is the position, leaf 0, of the CSME ROM
	// certificate in the chain firmware sends (4 or 6 certificates).
	DeviceChainROMIndex = 3
)

// DeviceChainLengths are the lengths of the chains firmware sends, root
// not included.
var DeviceChainLengths = []int{4, 6}

// DeviceROMIssuerOUPrefixes are the prefixes one of the ROM certificate's
// issuer OUs starts with.
var DeviceROMIssuerOUPrefixes = []string{"ODCA 2 CSME P", "On Die CSME P", "ODCA 2 CSME", "On Die CSME"}

// DeviceROMCNMarks are the strings the ROM certificate's CN contains one of.
var DeviceROMCNMarks = []string{"ROM CA", "ROM DE"}
