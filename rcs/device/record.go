// Package device holds the record the server keeps of each device, the one
// record type of the store's devices bucket. The server (package rcs)
// writes it; the health report and other readers decode this type, never a
// struct of their own. It must never hold a secret.
package device

import "time"

// Record is what the RCS knows about a device, in the store's devices
// bucket under its UUID. It never holds a password: the engine's sealed secret
// AdminSecret names it.
type Record struct {
	ID                string    `json:"id"`
	Hostname          string    `json:"hostname,omitempty"`
	FQDN              string    `json:"fqdn,omitempty"`
	Version           string    `json:"version,omitempty"`
	SKU               string    `json:"sku,omitempty"`
	DNSSuffix         string    `json:"dns_suffix,omitempty"`
	ControlMode       string    `json:"control_mode,omitempty"`
	ProvisioningState string    `json:"provisioning_state,omitempty"`
	State             string    `json:"state"`
	Profile           string    `json:"profile,omitempty"`
	Path              string    `json:"path,omitempty"`
	CertID            string    `json:"cert_id,omitempty"`
	AdminSecret       string    `json:"admin_secret,omitempty"`
	LastJob           string    `json:"last_job,omitempty"`
	Error             string    `json:"error,omitempty"`
	Rule              string    `json:"rule,omitempty"`
	Fix               string    `json:"fix,omitempty"`
	Source            string    `json:"source,omitempty"` // "agent" or "hello"
	Agent             string    `json:"agent,omitempty"`
	Address           string    `json:"address,omitempty"`
	Connected         bool      `json:"connected"`
	FirstSeen         time.Time `json:"first_seen"`
	LastSeen          time.Time `json:"last_seen"`
	Updated           time.Time `json:"updated"`
	// Expires is set while the device is known only by its hellos: the
	// record goes then unless the device is activated, reported by an
	// agent or accepted by an admin.
	Expires time.Time `json:"expires,omitzero"`
}
