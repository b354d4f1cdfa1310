package config

import "github.com/hashicorp/hcl/v2"

// fileRaw is the file as gohcl decodes it. Optional values are pointers so
// that "absent" (keep the default) differs from a zero value, and every
// attribute that a check can refuse has its value range beside it. The
// blocks' own types live with the Config types they turn into.
type fileRaw struct {
	DataDir      *string   `hcl:"data_dir,optional"`
	DataDirRange hcl.Range `hcl:"data_dir,attr_value_range"`

	KEK         *kekRaw         `hcl:"kek,block"`
	Store       *storeRaw       `hcl:"store,block"`
	Server      *serverRaw      `hcl:"server,block"`
	API         *apiRaw         `hcl:"api,block"`
	CA          *caRaw          `hcl:"ca,block"`
	DNS         *dnsRaw         `hcl:"dns,block"`
	Domains     []domainRaw     `hcl:"domain,block"`
	Profiles    []profileRaw    `hcl:"profile,block"`
	Maintenance *maintenanceRaw `hcl:"maintenance,block"`
}
