package amtsim

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/amtrcs/amtrcs/amt/wsman"
)

// Settings a user changes behind the RCS's back: in the MEBx at the PC, or
// from another console over WS-MAN. ChangeSettings applies them to the
// firmware state, and the firmware then answers them to the same WS-MAN
// Get an RCS makes, so that a test (or a demo) can make a device drift
// from its profile.
const (
	SettingUserConsent = "user-consent"         // none, kvm, all (IPS_OptInService)
	SettingSOL         = "sol"                  // on, off (AMT_RedirectionService)
	SettingIDER        = "ider"                 // on, off (AMT_RedirectionService)
	SettingListener    = "redirection-listener" // on, off (AMT_RedirectionService.ListenerEnabled)
	SettingKVM         = "kvm"                  // on, off (CIM_KVMRedirectionSAP)
	SettingDHCP        = "dhcp"                 // on, off (AMT_EthernetPortSettings)
	SettingIPSync      = "ip-sync"              // on, off (AMT_EthernetPortSettings)
	SettingHostName    = "hostname"             // one DNS label (AMT_GeneralSettings)
	SettingDomainName  = "domain"               // a DNS name (AMT_GeneralSettings)
	SettingTLS         = "tls"                  // on, off: the network-side TLS listener (AMT_TLSSettingData)
	SettingTLSMutual   = "tls-mutual"           // on, off (AMT_TLSSettingData)
	// SettingTLSCert "other": another console gives the device a
	// certificate of its own (a new firmware key, self-signed for the AMT
	// FQDN) and points AMT_TLSCredentialContext at it.
	SettingTLSCert = "tls-cert"
)

// OutOfBandSettings lists the names ChangeSettings takes, in the order it
// applies them.
var OutOfBandSettings = []string{SettingUserConsent, SettingSOL, SettingIDER, SettingListener, SettingKVM,
	SettingDHCP, SettingIPSync, SettingHostName, SettingDomainName, SettingTLS, SettingTLSMutual, SettingTLSCert}

// ParseSettings reads "name=value,name=value" (the sim command's --drift).
func ParseSettings(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("setting %q: want name=value", kv)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}

// ChangeSettings changes firmware settings out of band, as a user in the
// MEBx or another console would. Unknown names and values are refused
// before anything changes.
func (d *Device) ChangeSettings(changes map[string]string) error {
	for k, v := range changes {
		if !slices.Contains(OutOfBandSettings, k) {
			return fmt.Errorf("amtsim: setting %q: want one of %s", k, strings.Join(OutOfBandSettings, ", "))
		}
		if err := checkSetting(k, v); err != nil {
			return fmt.Errorf("amtsim: setting %s=%q: %w", k, v, err)
		}
	}
	var newCert bool
	d.mu.Lock()
	for _, k := range OutOfBandSettings {
		v, ok := changes[k]
		if !ok {
			continue
		}
		on := v == "on"
		f := &d.st.Features
		switch k {
		case SettingUserConsent:
			f.OptInRequired = map[string]int{"none": wsman.OptInNone, "kvm": wsman.OptInKVM, "all": wsman.OptInAll}[v]
		case SettingSOL:
			f.RedirectionState = redirectionBit(f.RedirectionState, wsman.RedirectionSOL-wsman.RedirectionDisabled, on)
		case SettingIDER:
			f.RedirectionState = redirectionBit(f.RedirectionState, wsman.RedirectionIDER-wsman.RedirectionDisabled, on)
		case SettingListener:
			f.RedirListener = on
		case SettingKVM:
			f.KVMState = wsman.KVMDisabled
			if on {
				f.KVMState = wsman.KVMEnabled
			}
		case SettingDHCP:
			f.DHCPEnabled = on
		case SettingIPSync:
			f.IPSyncOff = !on
		case SettingHostName:
			d.st.HostName = v
		case SettingDomainName:
			d.st.DomainName = v
		case SettingTLS:
			d.st.TLSRemote.Enabled = on
		case SettingTLSMutual:
			d.st.TLSRemote.MutualAuthentication = on
		case SettingTLSCert:
			newCert = true
		}
		d.eventLocked("out-of-band", k+"="+v)
	}
	d.mu.Unlock()
	if newCert {
		return d.foreignTLSCert()
	}
	return nil
}

func checkSetting(k, v string) error {
	switch k {
	case SettingUserConsent:
		if v != "none" && v != "kvm" && v != "all" {
			return fmt.Errorf("want none, kvm or all")
		}
	case SettingHostName, SettingDomainName:
		if v == "" {
			return fmt.Errorf("want a name")
		}
	case SettingTLSCert:
		if v != "other" {
			return fmt.Errorf(`want "other"`)
		}
	default:
		if v != "on" && v != "off" {
			return fmt.Errorf("want on or off")
		}
	}
	return nil
}

// redirectionBit sets or clears one feature of an AMT_RedirectionService
// state (32768 + 1 for IDER + 2 for SOL); a state outside that range
// counts as all off.
func redirectionBit(state, bit int, on bool) int {
	v := state - wsman.RedirectionDisabled
	if v < 0 || v > 3 {
		v = 0
	}
	if on {
		v |= bit
	} else {
		v &^= bit
	}
	return wsman.RedirectionDisabled + v
}

// foreignTLSCert is SettingTLSCert: a new firmware key with a self-signed
// certificate for the AMT FQDN, made the TLS certificate.
func (d *Device) foreignTLSCert() error {
	key, err := pool.get()
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	fqdn := d.st.HostName
	if d.st.DomainName != "" {
		fqdn += "." + d.st.DomainName
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(d.st.NextHandle) + 1), Subject: pkix.Name{CommonName: fqdn, Organization: []string{"Another console"}},
		DNSNames: []string{fqdn}, NotBefore: d.fwNowLocked().AddDate(0, 0, -1), NotAfter: d.fwNowLocked().AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("amtsim: make the other console's certificate: %w", err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	kid := d.nextHandleLocked(keyElementName)
	d.st.Keys = append(d.st.Keys, &storedKey{InstanceID: kid, PKCS8: p8})
	cid := d.nextHandleLocked(certElementName)
	d.st.Certs = append(d.st.Certs, &storedCert{InstanceID: cid, DER: der, KeyID: kid})
	d.st.TLSCredential = cid
	d.eventLocked("out-of-band", "TLS certificate "+cid+" from another console")
	return nil
}

// CheckMEBxPassword says whether pw opens the MEBx.
func (d *Device) CheckMEBxPassword(pw string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.MEBxPassword == pw
}
