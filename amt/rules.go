package amt

import "fmt"

// RuleError is a refusal by a firmware rule. It carries the four things a
// user needs to act, so that callers can show it as one line or branch on
// Rule with errors.As.
type RuleError struct {
	Rule string // which firmware rule, for example "custom root hashes"
	Seen string // what was given
	Want string // what the rule allows
	Fix  string // what the user can do about it
}

func (e *RuleError) Error() string {
	return fmt.Sprintf("%s: %s; want %s; %s", e.Rule, e.Seen, e.Want, e.Fix)
}

// Names of the rules a RuleError can carry.
const (
	RuleHashAlgorithm  = "root hash algorithm"
	RuleHashSize       = "root hash size"
	RuleHashName       = "root hash name"
	RuleCustomHashes   = "custom root hashes"
	RuleHashEntries    = "root hash table size"
	RuleDuplicateHash  = "duplicate root hash"
	RuleSHA1Hash       = "SHA-1 root hash"
	RuleHashNotPresent = "root hash not in table"
	RuleAMTVersion     = "AMT version"
)
