package amtsim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/hostif"
	"github.com/amtrcs/amtrcs/amt/wsman"
)

// CustomHash is a custom root hash given to a device, as MEBx or a USB key
// would add it.
type CustomHash struct {
	Name      string            `json:"name"`
	Algorithm amt.HashAlgorithm `json:"algorithm"`
	Hash      []byte            `json:"hash"`
	// Inactive adds the hash deactivated, as MEBx can leave it.
	Inactive bool `json:"inactive,omitempty"`
}

// Config describes a new device. Zero fields take the defaults named.
type Config struct {
	UUID    amt.UUID    // zero: random
	Version amt.Version // required, for example 16.1.27
	// DHCPSuffix is DHCP option 15; MEBxSuffix the MEBx PKI DNS suffix.
	DHCPSuffix string
	MEBxSuffix string
	// SuffixPrecedence decides between them when both are set (default
	// PreferMEBx).
	SuffixPrecedence SuffixPrecedence
	OSHostname       string // the host's name as the OS knows it
	Realm            string // default "Digest:" + 32 hex digits
	CustomHashes     []CustomHash
	// Deactivate names default hashes (by uppercase hex) to deactivate.
	Deactivate   []string
	MEBxPassword string // default "admin", as shipped
	// FlashWriteLimit is how many persistent writes the device takes before
	// answering 6 / 38 (0: no limit).
	FlashWriteLimit int
	// FlashWrites is how many writes the device has already had (a used
	// part).
	FlashWrites int
	// ClockOffset and DriftPPM start the firmware clock off the host's.
	ClockOffset time.Duration
	DriftPPM    float64
	Clock       Clock         // default SystemClock
	Latency     time.Duration // per WS-MAN and per PTHI call
	// HostReplies is the shape of host-interface replies (default
	// RepliesExact): firmware versions differ in what they append.
	HostReplies HostReplies
	// LocalTLS says whether WS-MAN on the local ports needs TLS (default:
	// by version, enforced from AMT 19 on).
	LocalTLS LocalTLS
	// AMTDisabled starts the device with AMT's operational state off
	// (ME 16.1 and later), as some PCs ship; the host may turn it on.
	AMTDisabled bool
	// LMEKeepsSession plays firmware whose LME client keeps an APF session
	// across channel closes; by default the session ends with each channel,
	// as rpc-go reports of real firmware (lme.Firmware.KeepSession).
	LMEKeepsSession bool
	Rules           Rules
	Identity        *IdentityCA // default DefaultIdentityCA()
	Hello           HelloConfig
}

// Event is one entry of a device's event log. Details never hold secrets.
type Event struct {
	Time   time.Time `json:"time"` // firmware clock
	Kind   string    `json:"kind"`
	Detail string    `json:"detail"`
}

// maxEvents bounds the event log; the oldest entries are dropped.
const maxEvents = 64

// state is everything a device persists; the JSON form is the device's
// entry in a saved fleet.
type state struct {
	UUID             amt.UUID              `json:"uuid"`
	Version          amt.Version           `json:"version"`
	Realm            string                `json:"realm"`
	DHCPSuffix       string                `json:"dhcp_suffix,omitempty"`
	MEBxSuffix       string                `json:"mebx_suffix,omitempty"`
	SuffixPrecedence SuffixPrecedence      `json:"suffix_precedence"`
	OSHostname       string                `json:"os_hostname,omitempty"`
	HostName         string                `json:"host_name,omitempty"`
	DomainName       string                `json:"domain_name,omitempty"`
	Hashes           *amt.HashTable        `json:"hashes,omitempty"` // nil: the factory table
	Clock            fwClock               `json:"clock"`
	ProvState        amt.ProvisioningState `json:"provisioning_state"`
	Mode             amt.ControlMode       `json:"control_mode"`
	// The credentials below are the simulator's own test secrets.
	AdminUser       string        `json:"admin_user"`
	AdminHA1        string        `json:"admin_ha1,omitempty"`
	MEBxPassword    string        `json:"mebx_password"`
	MEBxPasswordSet bool          `json:"mebx_password_set,omitempty"` // by SetMEBxPassword
	LocalAccount    localAccount  `json:"local_account"`
	FlashWrites     int           `json:"flash_writes"`
	FlashWriteLimit int           `json:"flash_write_limit,omitempty"`
	Certs           []*storedCert `json:"certificates,omitempty"`
	Keys            []*storedKey  `json:"keys,omitempty"`
	// IdentityChain is the device's own part of its identity chain (the
	// CSME ROM certificate and the two CAs under it), made on first use.
	IdentityChain *deviceChainJSON `json:"identity_chain,omitempty"`
	NextHandle    int              `json:"next_handle,omitempty"`
	TLSCredential string           `json:"tls_credential,omitempty"` // certificate InstanceID
	TLSRemote     tlsSetting       `json:"tls_remote"`
	TLSLocal      tlsSetting       `json:"tls_local"`
	Features      features         `json:"features"`
	Hello         HelloConfig      `json:"hello"`
	Rules         Rules            `json:"rules"`
	LatencyNS     time.Duration    `json:"latency_ns,omitempty"`
	HostReplies   HostReplies      `json:"host_replies,omitempty"`
	LocalTLS      LocalTLS         `json:"local_tls,omitempty"`
	AMTDisabled   bool             `json:"amt_disabled,omitempty"`
	// CCMUncommitted: a CCM Setup that waits for CommitChanges
	// (ccmNeedsCommitLocked); a restart before it loses the setup.
	CCMUncommitted bool            `json:"ccm_uncommitted,omitempty"`
	Events         []Event         `json:"events,omitempty"`
	LastError      string          `json:"last_error,omitempty"`
	Setup          *setupPersisted `json:"setup,omitempty"`
}

type localAccount struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

type tlsSetting struct {
	Enabled              bool     `json:"enabled"`
	AcceptNonSecure      bool     `json:"accept_non_secure"`
	MutualAuthentication bool     `json:"mutual_authentication,omitempty"`
	TrustedCN            []string `json:"trusted_cn,omitempty"`
}

type features struct {
	RedirectionState int    `json:"redirection_state"`
	RedirListener    bool   `json:"redirection_listener"`
	OptInRequired    int    `json:"opt_in_required"`
	KVMState         int    `json:"kvm_state"`
	DHCPEnabled      bool   `json:"dhcp_enabled"`
	IPAddress        string `json:"ip_address,omitempty"`
	// IPSyncOff: AMT does not take its address from the host OS (the
	// zero value is the shipped default, on).
	IPSyncOff bool `json:"ip_sync_off,omitempty"`
}

// setupPersisted marks a device in legacy network setup across a save.
type setupPersisted struct {
	Hello bool `json:"hello"`
}

// setupKind is how a device is being configured over its TLS port.
type setupKind uint8

const (
	setupNone  setupKind = iota
	setupTLS             // AMT 19 TLS-based setup after StartConfigurationHBased
	setupHello           // legacy network setup
)

// session is a setup in progress (not persisted, except that a device in
// legacy setup resumes it after a load).
type session struct {
	kind     setupKind
	leafAlg  amt.HashAlgorithm
	leafHash []byte
	suffixes []string
	cert     *tls.Certificate // the device's identity certificate
	aclSet   bool             // SetAdminAclEntryEx done in this setup
}

// Device is one virtual AMT device. Its methods are safe for concurrent use.
type Device struct {
	// Immutable after New.
	uuid     amt.UUID
	version  amt.Version
	profile  amt.Profile
	clock    Clock
	identity *IdentityCA
	lmeKeeps bool

	mu sync.Mutex
	st state
	// delayed counts calls that waited the whole latency (Status).
	delayed atomic.Int64

	// Volatile state, created lazily so that an idle device stays small.
	nonce       []byte // current ConfigurationNonce; nil once spent
	chain       []*x509.Certificate
	chainStatus amt.CertChainStatus
	setup       *session
	hello       *helloRun
	network     net.Listener // the firmware's network port 16993 (ListenNetwork)
	auth        *deviceAuth
	enums       *enumTable
	keyCache    map[string]*rsa.PrivateKey
	// localIdentity and selfSigned are what port 16993 presents on a
	// TLS-enforced device before a certificate is configured.
	localIdentity, selfSigned *tls.Certificate
	// idChain is st.IdentityChain parsed.
	idChain *deviceChain
}

// Errors of device construction.
var errNoVersion = errors.New("amtsim: device config has no AMT version; want for example 16.1.27")

// New makes a device in pre-provisioning state.
func New(cfg Config) (*Device, error) {
	if cfg.Version == (amt.Version{}) {
		return nil, errNoVersion
	}
	p, err := amt.LookupProfile(cfg.Version)
	if err != nil {
		return nil, err
	}
	if err := checkAMTState(cfg, p); err != nil {
		return nil, err
	}
	prec := cfg.SuffixPrecedence
	if prec == "" {
		prec = PreferMEBx
	}
	if _, err := ParseSuffixPrecedence(string(prec)); err != nil {
		return nil, err
	}
	if cfg.UUID == (amt.UUID{}) {
		_, _ = rand.Read(cfg.UUID[:])
	}
	if cfg.Realm == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		cfg.Realm = "Digest:" + strings.ToUpper(hex.EncodeToString(b[:]))
	}
	if cfg.MEBxPassword == "" {
		cfg.MEBxPassword = "admin"
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock
	}
	if cfg.Hello.Interval < 0 || cfg.Latency < 0 || cfg.FlashWriteLimit < 0 || cfg.FlashWrites < 0 {
		return nil, fmt.Errorf("amtsim: negative hello interval, latency or flash write limit; want 0 or more")
	}
	d := &Device{uuid: cfg.UUID, version: cfg.Version, profile: p, clock: cfg.Clock, identity: cfg.Identity, lmeKeeps: cfg.LMEKeepsSession}
	host := cfg.Clock.Now()
	d.st = state{
		UUID: cfg.UUID, Version: cfg.Version, Realm: cfg.Realm,
		DHCPSuffix: cfg.DHCPSuffix, MEBxSuffix: cfg.MEBxSuffix, SuffixPrecedence: prec,
		OSHostname: cfg.OSHostname, HostName: cfg.OSHostname,
		Clock:        fwClock{Base: host.Add(cfg.ClockOffset), Ref: host, DriftPPM: cfg.DriftPPM},
		AdminUser:    amt.AdminUser,
		MEBxPassword: cfg.MEBxPassword,
		LocalAccount: newLocalAccount(),
		Features:     features{RedirectionState: wsman.RedirectionDisabled, OptInRequired: wsman.OptInAll, KVMState: wsman.KVMDisabled, DHCPEnabled: true},
		TLSLocal:     tlsSetting{AcceptNonSecure: true},
		TLSRemote:    tlsSetting{AcceptNonSecure: true},
		Hello:        cfg.Hello, Rules: cfg.Rules, LatencyNS: cfg.Latency, HostReplies: cfg.HostReplies,
		LocalTLS: cfg.LocalTLS, AMTDisabled: cfg.AMTDisabled,
		FlashWriteLimit: cfg.FlashWriteLimit, FlashWrites: cfg.FlashWrites,
	}
	if cfg.DHCPSuffix != "" {
		d.st.DomainName = cfg.DHCPSuffix
	}
	if len(cfg.CustomHashes) > 0 || len(cfg.Deactivate) > 0 {
		t := cloneTable(sharedDefaults(cfg.Version))
		for _, h := range cfg.CustomHashes {
			if err := t.AddCustom(h.Name, h.Algorithm, h.Hash); err != nil {
				return nil, fmt.Errorf("amtsim: custom hash %q: %w", h.Name, err)
			}
			if h.Inactive {
				_ = t.SetActive(h.Algorithm, h.Hash, false)
			}
		}
		for _, hx := range cfg.Deactivate {
			raw, err := hex.DecodeString(strings.ReplaceAll(hx, ":", ""))
			if err != nil {
				return nil, fmt.Errorf("amtsim: hash to deactivate %q: want hex", hx)
			}
			alg, err := amt.HashAlgorithmBySize(len(raw))
			if err != nil {
				return nil, fmt.Errorf("amtsim: hash to deactivate %q: %w", hx, err)
			}
			if err := t.SetActive(alg, raw, false); err != nil {
				return nil, fmt.Errorf("amtsim: deactivate: %w", err)
			}
		}
		d.st.Hashes = t
	}
	return d, nil
}

func newLocalAccount() localAccount {
	var b [12]byte
	_, _ = rand.Read(b[:])
	// The firmware's local system account has a fixed-looking name and a
	// random password; the name is the one AMT uses.
	return localAccount{User: "$$OsAdmin", Password: hex.EncodeToString(b[:])}
}

var (
	defaultsMu sync.Mutex
	defaults   = map[amt.Version]*amt.HashTable{}
)

// sharedDefaults is the factory table of v, shared read-only by every device
// that has not changed its table: 10,000 devices hold one copy.
func sharedDefaults(v amt.Version) *amt.HashTable {
	defaultsMu.Lock()
	defer defaultsMu.Unlock()
	t, ok := defaults[v]
	if !ok {
		dt := amt.DefaultHashTable(v)
		t = &dt
		defaults[v] = t
	}
	return t
}

// cloneTable copies a table so a device can change its own: the entries
// are copied, the hash bytes (never changed in place) are shared.
func cloneTable(t *amt.HashTable) *amt.HashTable {
	c := &amt.HashTable{Version: t.Version, Entries: append([]amt.RootHash(nil), t.Entries...)}
	return c
}

// ID is the device's UUID (UUID itself is the host-interface call).
func (d *Device) ID() amt.UUID { return d.uuid }

// Version is the firmware version.
func (d *Device) Version() amt.Version { return d.version }

// Realm is the digest realm.
func (d *Device) Realm() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.Realm
}

// IdentityCA is the root the device's TLS setup certificate chains to.
func (d *Device) IdentityCA() (*IdentityCA, error) {
	if d.identity != nil {
		return d.identity, nil
	}
	return DefaultIdentityCA()
}

// hashesLocked is the device's root-hash table (read-only).
func (d *Device) hashesLocked() *amt.HashTable {
	if d.st.Hashes != nil {
		return d.st.Hashes
	}
	return sharedDefaults(d.version)
}

// HashTable returns a copy of the device's root-hash table.
func (d *Device) HashTable() amt.HashTable {
	d.mu.Lock()
	defer d.mu.Unlock()
	return *cloneTable(d.hashesLocked())
}

// AddCustomHash adds a custom root hash as MEBx would (at most 3).
func (d *Device) AddCustomHash(h CustomHash) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := cloneTable(d.hashesLocked())
	if err := t.AddCustom(h.Name, h.Algorithm, h.Hash); err != nil {
		return err
	}
	if h.Inactive {
		_ = t.SetActive(h.Algorithm, h.Hash, false)
	}
	d.st.Hashes = t
	d.eventLocked("hash", fmt.Sprintf("custom root hash %q (%s %s) added, active %t", h.Name, h.Algorithm, amt.FormatHash(h.Hash), !h.Inactive))
	return nil
}

// SetHashActive activates or deactivates an entry, as MEBx does.
func (d *Device) SetHashActive(alg amt.HashAlgorithm, hash []byte, active bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := cloneTable(d.hashesLocked())
	if err := t.SetActive(alg, hash, active); err != nil {
		return err
	}
	d.st.Hashes = t
	d.eventLocked("hash", fmt.Sprintf("root hash %s %s active %t", alg, amt.FormatHash(hash), active))
	return nil
}

// SetSuffixes sets DHCP option 15, the MEBx PKI DNS suffix and which one
// wins when both are set.
func (d *Device) SetSuffixes(dhcp, mebx string, prec SuffixPrecedence) error {
	if _, err := ParseSuffixPrecedence(string(prec)); err != nil {
		return err
	}
	if prec == "" {
		prec = PreferMEBx
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.st.DHCPSuffix, d.st.MEBxSuffix, d.st.SuffixPrecedence = dhcp, mebx, prec
	return nil
}

// DNSSuffix is the suffix the device applies the suffix rule to.
func (d *Device) DNSSuffix() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.suffixLocked()
}

func (d *Device) suffixLocked() string {
	first, second := d.st.MEBxSuffix, d.st.DHCPSuffix
	if d.st.SuffixPrecedence == PreferDHCP {
		first, second = second, first
	}
	if first != "" {
		return first
	}
	return second
}

// FirmwareTime is the firmware clock.
func (d *Device) FirmwareTime() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fwNowLocked()
}

func (d *Device) fwNowLocked() time.Time { return d.st.Clock.now(d.clock.Now()) }

// SetFirmwareTime sets the firmware clock, as MEBx or a BIOS would; drift
// continues from there.
func (d *Device) SetFirmwareTime(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.st.Clock.set(t, d.clock.Now())
}

// SetOSHostname renames the host as its operating system knows it (the
// PC was renamed): AMT_GeneralSettings reports the new HostOSFQDN while
// AMT keeps its own HostName until an RCS writes it.
func (d *Device) SetOSHostname(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.st.OSHostname = name
}

// SetDrift sets how fast the firmware clock drifts, in parts per million
// (positive runs fast).
func (d *Device) SetDrift(ppm float64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	host := d.clock.Now()
	d.st.Clock.set(d.st.Clock.now(host), host)
	d.st.Clock.DriftPPM = ppm
}

// SetLatency sets the delay added to every WS-MAN and PTHI call.
func (d *Device) SetLatency(l time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.st.LatencyNS = l
}

// wait sleeps the firmware latency on a timer (not a busy loop), or until
// ctx ends.
func (d *Device) wait(ctx context.Context) error {
	d.mu.Lock()
	l := d.st.LatencyNS
	d.mu.Unlock()
	if l <= 0 {
		return nil
	}
	t := time.NewTimer(l)
	defer t.Stop()
	select {
	case <-t.C:
		d.delayed.Add(1)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *Device) eventLocked(kind, detail string) {
	if len(d.st.Events) >= maxEvents {
		copy(d.st.Events, d.st.Events[1:])
		d.st.Events = d.st.Events[:maxEvents-1]
	}
	d.st.Events = append(d.st.Events, Event{Time: d.fwNowLocked(), Kind: kind, Detail: detail})
}

// refuseLocked records a refusal: the event log and the last error say the
// rule, the value seen, the value wanted and the fix.
func (d *Device) refuseLocked(call string, re *amt.RuleError) {
	msg := call + ": " + re.Error()
	d.st.LastError = msg
	d.eventLocked("refused", msg)
}

// Events returns a copy of the event log, oldest first.
func (d *Device) Events() []Event {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Event(nil), d.st.Events...)
}

// LastError is the last refusal, "" if none.
func (d *Device) LastError() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.LastError
}

// flashWriteLocked counts one persistent write; it reports false, and
// records the refusal, when the limit is reached.
func (d *Device) flashWriteLocked(call string) bool {
	if d.st.FlashWriteLimit > 0 && d.st.FlashWrites >= d.st.FlashWriteLimit {
		d.refuseLocked(call, refusal(RuleFlashWrites, fmt.Sprintf("%d writes already", d.st.FlashWrites), fmt.Sprintf("at most %d", d.st.FlashWriteLimit), "stop repeating configuration calls; the real part wears out, the simulator needs a new device or a higher --flash-write-limit"))
		return false
	}
	d.st.FlashWrites++
	return true
}

// Status is a device's summary for the status endpoint and reports.
type Status struct {
	UUID              amt.UUID              `json:"uuid"`
	Version           string                `json:"version"`
	ProvisioningState amt.ProvisioningState `json:"provisioning_state"`
	State             string                `json:"state"`
	ControlMode       amt.ControlMode       `json:"control_mode"`
	Mode              string                `json:"mode"`
	DNSSuffix         string                `json:"dns_suffix,omitempty"`
	Setup             string                `json:"setup,omitempty"`
	HelloAddress      string                `json:"hello_address,omitempty"`
	FlashWrites       int                   `json:"flash_writes"`
	LastError         string                `json:"last_error,omitempty"`
	// DelayedCalls counts the calls that waited the whole latency: how a
	// benchmark proves the latency was applied without reading a clock.
	DelayedCalls int64 `json:"delayed_calls,omitempty"`
}

// Status reports the device's state.
func (d *Device) Status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := Status{
		UUID: d.uuid, Version: d.version.String(),
		ProvisioningState: d.st.ProvState, State: d.st.ProvState.String(),
		ControlMode: d.st.Mode, Mode: d.st.Mode.String(),
		DNSSuffix: d.suffixLocked(), FlashWrites: d.st.FlashWrites, LastError: d.st.LastError,
		DelayedCalls: d.delayed.Load(),
	}
	if d.setup != nil {
		s.Setup = map[setupKind]string{setupTLS: "tls", setupHello: "hello"}[d.setup.kind]
	}
	if d.st.Hello.Source != "" {
		s.HelloAddress = d.st.Hello.Source
	}
	return s
}

// State reports the provisioning state and control mode without the
// host-interface latency.
func (d *Device) State() (amt.ProvisioningState, amt.ControlMode) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.ProvState, d.st.Mode
}

var _ hostif.Firmware = (*Device)(nil)
