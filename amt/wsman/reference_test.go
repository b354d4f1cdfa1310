package wsman

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// refCase says how to decode one reference response and which key fields
// must come out non-zero.
type refCase struct {
	body  func() any        // new target; nil for an empty Body
	check func(v any) error // key fields
}

func nonEmpty(name, v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("%s is empty", name)
	}
	return nil
}

func enumerateCase() refCase {
	return refCase{
		body:  func() any { return &EnumerateResponse{} },
		check: func(v any) error { return nonEmpty("EnumerationContext", v.(*EnumerateResponse).EnumerationContext) },
	}
}

func pullCase[T any](key func(*T) string) refCase {
	return refCase{
		body: func() any { return &PullResponse[T]{} },
		check: func(v any) error {
			p := v.(*PullResponse[T])
			if len(p.Items.Items) == 0 {
				return errors.New("no items")
			}
			if !p.End() {
				return errors.New("EndOfSequence missing")
			}
			for i := range p.Items.Items {
				if err := nonEmpty("item key", key(&p.Items.Items[i])); err != nil {
					return fmt.Errorf("item %d: %w", i, err)
				}
			}
			return nil
		},
	}
}

func instanceCase[T any](key func(*T) string) refCase {
	return refCase{
		body:  func() any { return new(T) },
		check: func(v any) error { return nonEmpty("key", key(v.(*T))) },
	}
}

func returnCase(resource, method string) refCase {
	return refCase{
		body: func() any { return &ReturnOutput{} },
		check: func(v any) error {
			o := v.(*ReturnOutput)
			return o.check(resource, method)
		},
	}
}

func deleteCase() refCase { return refCase{} }

var referenceCases = map[string]refCase{
	"amt/authorization/enumerate.xml": enumerateCase(),
	"amt/authorization/enumerateuseraclentries.xml": {
		body: func() any { return &EnumerateUserAclEntriesOutput{} },
		check: func(v any) error {
			if o := v.(*EnumerateUserAclEntriesOutput); len(o.Handles) != 2 || o.TotalCount != 2 {
				return fmt.Errorf("handles %v, total %d", o.Handles, o.TotalCount)
			}
			return nil
		},
	},
	"amt/authorization/get.xml": instanceCase(func(s *AuthorizationService) string { return s.Name }),
	"amt/authorization/getaclenabledstate.xml": {
		body: func() any { return &GetAclEnabledStateOutput{} },
		check: func(v any) error {
			if !v.(*GetAclEnabledStateOutput).Enabled {
				return errors.New("Enabled false")
			}
			return nil
		},
	},
	"amt/authorization/getadminaclentry.xml": instanceCase(func(o *GetAdminAclEntryOutput) string { return o.Username }),
	"amt/authorization/getadminaclentrystatus.xml": instanceCase(func(o *GetAdminAclEntryStatusOutput) string {
		return o.XMLName.Local
	}),
	"amt/authorization/getadminnetaclentrystatus.xml": instanceCase(func(o *GetAdminNetAclEntryStatusOutput) string {
		return o.XMLName.Local
	}),
	"amt/authorization/getuseraclentryex.xml": instanceCase(func(o *GetUserAclEntryExOutput) string {
		if len(o.Realms) == 0 {
			return ""
		}
		return o.DigestUsername
	}),
	"amt/authorization/pull.xml":               pullCase(func(s *AuthorizationService) string { return s.Name }),
	"amt/authorization/removeuseraclentry.xml": returnCase(ResourceAuthorizationService, "RemoveUserAclEntry"),
	"amt/authorization/setaclenabledstate.xml": returnCase(ResourceAuthorizationService, "SetAclEnabledState"),
	"amt/authorization/setadminaclentryex.xml": returnCase(ResourceAuthorizationService, "SetAdminAclEntryEx"),
	"amt/ethernetport/enumerate.xml":           enumerateCase(),
	"amt/ethernetport/get.xml":                 instanceCase(func(s *EthernetPortSettings) string { return s.MACAddress }),
	"amt/ethernetport/pull.xml":                pullCase(func(s *EthernetPortSettings) string { return s.InstanceID }),
	"amt/ethernetport/put.xml":                 instanceCase(func(s *EthernetPortSettings) string { return s.IPAddress }),
	"amt/general/enumerate.xml":                enumerateCase(),
	"amt/general/get.xml":                      instanceCase(func(s *GeneralSettings) string { return s.DigestRealm + s.HostName }),
	"amt/general/pull.xml":                     pullCase(func(s *GeneralSettings) string { return s.DigestRealm }),
	"amt/publickey/certificate/delete.xml":     deleteCase(),
	"amt/publickey/certificate/enumerate.xml":  enumerateCase(),
	"amt/publickey/certificate/get.xml": instanceCase(func(s *PublicKeyCertificate) string {
		if _, err := s.DER(); err != nil {
			return ""
		}
		return s.InstanceID
	}),
	"amt/publickey/certificate/pull.xml": pullCase(func(s *PublicKeyCertificate) string { return s.X509Certificate }),
	"amt/publickey/certificate/put.xml":  instanceCase(func(s *PublicKeyCertificate) string { return s.Subject }),
	"amt/publickey/management/addcertificate.xml": instanceCase(func(o *CreatedCertificateOutput) string {
		return o.CreatedCertificate.InstanceID()
	}),
	"amt/publickey/management/addkey.xml": instanceCase(func(o *AddKeyOutput) string { return o.CreatedKey.InstanceID() }),
	"amt/publickey/management/addtrustedrootcertificate.xml": instanceCase(func(o *CreatedCertificateOutput) string {
		return o.CreatedCertificate.InstanceID()
	}),
	"amt/publickey/management/delete.xml":          deleteCase(),
	"amt/publickey/management/enumerate.xml":       enumerateCase(),
	"amt/publickey/management/generatekeypair.xml": instanceCase(func(o *GenerateKeyPairOutput) string { return o.KeyPair.InstanceID() }),
	"amt/publickey/management/generatepkcs10requestex.xml": instanceCase(func(o *GeneratePKCS10RequestExOutput) string {
		return o.SignedCertificateRequest
	}),
	"amt/publickey/management/get.xml":              instanceCase(func(s *PublicKeyManagementService) string { return s.Name }),
	"amt/publickey/management/pull.xml":             pullCase(func(s *PublicKeyManagementService) string { return s.Name }),
	"amt/publicprivate/delete.xml":                  deleteCase(),
	"amt/publicprivate/enumerate.xml":               enumerateCase(),
	"amt/publicprivate/get.xml":                     instanceCase(func(s *PublicPrivateKeyPair) string { return s.DERKey }),
	"amt/publicprivate/pull.xml":                    pullCase(func(s *PublicPrivateKeyPair) string { return s.DERKey }),
	"amt/redirectionservice/enumerate.xml":          enumerateCase(),
	"amt/redirectionservice/get.xml":                instanceCase(func(s *RedirectionService) string { return fmt.Sprint(s.EnabledState) }),
	"amt/redirectionservice/pull.xml":               pullCase(func(s *RedirectionService) string { return s.Name }),
	"amt/redirectionservice/put.xml":                instanceCase(func(s *RedirectionService) string { return s.Name }),
	"amt/redirectionservice/requeststatechange.xml": returnCase(ResourceRedirectionService, "RequestStateChange"),
	"amt/setupandconfiguration/commitchanges.xml":   returnCase(ResourceSetupAndConfigurationService, "CommitChanges"),
	"amt/setupandconfiguration/enumerate.xml":       enumerateCase(),
	"amt/setupandconfiguration/get.xml": instanceCase(func(s *SetupAndConfigurationService) string {
		if s.ProvisioningState != 2 || s.ProvisioningMode != 1 {
			return ""
		}
		return s.Name
	}),
	"amt/setupandconfiguration/getuuid-bad.xml": {
		body: func() any { return &GetUuidOutput{} },
		check: func(v any) error {
			o := v.(*GetUuidOutput)
			if _, err := o.Parse(); err == nil {
				return fmt.Errorf("Parse(%q) accepted a bad UUID", o.UUID)
			}
			return nonEmpty("UUID", o.UUID)
		},
	},
	"amt/setupandconfiguration/getuuid.xml": {
		body: func() any { return &GetUuidOutput{} },
		check: func(v any) error {
			u, err := v.(*GetUuidOutput).Parse()
			if err != nil {
				return err
			}
			// E67jVdK/u2EXoIiu3XA36g== is 13aee355 d2bf bb61 17a0 88aedd7037ea
			// with the first three fields little-endian.
			if got := u.String(); got != "55e3ae13-bfd2-61bb-17a0-88aedd7037ea" {
				return fmt.Errorf("UUID %s", got)
			}
			return nil
		},
	},
	"amt/setupandconfiguration/partialunprovision.xml": returnCase(ResourceSetupAndConfigurationService, "PartialUnprovision"),
	"amt/setupandconfiguration/pull.xml":               pullCase(func(s *SetupAndConfigurationService) string { return s.Name }),
	"amt/setupandconfiguration/setmebxpassword.xml":    returnCase(ResourceSetupAndConfigurationService, "SetMEBxPassword"),
	"amt/setupandconfiguration/unprovision.xml":        returnCase(ResourceSetupAndConfigurationService, "Unprovision"),
	"amt/timesynchronization/enumerate.xml":            enumerateCase(),
	"amt/timesynchronization/get.xml":                  instanceCase(func(s *TimeSynchronizationService) string { return s.Name }),
	"amt/timesynchronization/getlowaccuracytimesynch.xml": instanceCase(func(o *GetLowAccuracyTimeSynchOutput) string {
		if o.Ta0 != 1704586865 {
			return ""
		}
		return "ok"
	}),
	"amt/timesynchronization/pull.xml":                     pullCase(func(s *TimeSynchronizationService) string { return s.Name }),
	"amt/timesynchronization/sethighaccuracytimesynch.xml": returnCase(ResourceTimeSynchronizationService, "SetHighAccuracyTimeSynch"),
	"amt/tls/credentialcontext/create.xml": instanceCase(func(o *ResourceCreated) string {
		ss := o.ReferenceParameters.SelectorSet.Selectors
		if len(ss) != 2 || ss[0].EPR == nil {
			return ""
		}
		return ss[0].EPR.InstanceID()
	}),
	"amt/tls/credentialcontext/enumerate.xml": enumerateCase(),
	"amt/tls/credentialcontext/pull.xml": pullCase(func(s *TLSCredentialContext) string {
		v, _ := s.ElementProvidingContext.Selector("ElementName")
		return s.ElementInContext.InstanceID() + "|" + v
	}),
	"amt/tls/credentialcontext/put.xml":                instanceCase(func(s *TLSCredentialContext) string { return s.ElementInContext.InstanceID() }),
	"amt/tls/protocolendpointcollection/enumerate.xml": enumerateCase(),
	"amt/tls/protocolendpointcollection/get.xml": instanceCase(func(s *TLSProtocolEndpointCollection) string {
		return s.ElementName
	}),
	"amt/tls/protocolendpointcollection/pull.xml": pullCase(func(s *TLSProtocolEndpointCollection) string { return s.ElementName }),
	"amt/tls/settingdata/enumerate.xml":           enumerateCase(),
	"amt/tls/settingdata/get.xml":                 instanceCase(func(s *TLSSettingData) string { return s.InstanceID }),
	"amt/tls/settingdata/pull.xml":                pullCase(func(s *TLSSettingData) string { return s.InstanceID }),
	"amt/tls/settingdata/put.xml":                 instanceCase(func(s *TLSSettingData) string { return s.InstanceID }),
	"cim/kvm/enumerate.xml":                       enumerateCase(),
	"cim/kvm/get.xml":                             instanceCase(func(s *KVMRedirectionSAP) string { return fmt.Sprint(s.KVMProtocol) }),
	"cim/kvm/pull.xml":                            pullCase(func(s *KVMRedirectionSAP) string { return s.Name }),
	"cim/software/identity/enumerate.xml":         enumerateCase(),
	"cim/software/identity/get.xml":               instanceCase(func(s *SoftwareIdentity) string { return s.VersionString }),
	"cim/software/identity/pull.xml": {
		body: func() any { return &PullResponse[SoftwareIdentity]{} },
		check: func(v any) error {
			v2, err := FirmwareVersion(v.(*PullResponse[SoftwareIdentity]).Items.Items)
			if err != nil {
				return err
			}
			if v2.String() != "12.0.67" {
				return fmt.Errorf("version %s", v2)
			}
			return nil
		},
	},
	"ips/hostbasedsetup/addnextcertinchain.xml": returnCase(ResourceHostBasedSetupService, "AddNextCertInChain"),
	"ips/hostbasedsetup/adminsetup.xml":         returnCase(ResourceHostBasedSetupService, "AdminSetup"),
	"ips/hostbasedsetup/enumerate.xml":          enumerateCase(),
	"ips/hostbasedsetup/get.xml": instanceCase(func(s *HostBasedSetupService) string {
		n, err := s.Nonce()
		if err != nil || len(n) != 20 || len(s.AllowedControlModes) != 2 {
			return ""
		}
		return s.Name
	}),
	"ips/hostbasedsetup/pull.xml":                 pullCase(func(s *HostBasedSetupService) string { return s.ConfigurationNonce }),
	"ips/hostbasedsetup/setup.xml":                returnCase(ResourceHostBasedSetupService, "Setup"),
	"ips/hostbasedsetup/upgradeclienttoadmin.xml": returnCase(ResourceHostBasedSetupService, "UpgradeClientToAdmin"),
	"ips/optin/canceloptin.xml":                   returnCase(ResourceOptInService, "CancelOptIn"),
	"ips/optin/enumerate.xml":                     enumerateCase(),
	"ips/optin/get.xml":                           instanceCase(func(s *OptInService) string { return fmt.Sprint(s.OptInCodeTimeout) }),
	"ips/optin/pull.xml":                          pullCase(func(s *OptInService) string { return s.Name }),
	"ips/optin/sendoptincode.xml":                 returnCase(ResourceOptInService, "SendOptInCode"),
	"ips/optin/startoptin.xml":                    returnCase(ResourceOptInService, "StartOptIn"),
}

const responsesDir = "testdata/responses"

func referenceFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(responsesDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".xml") {
			rel, _ := filepath.Rel(responsesDir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 80 {
		t.Fatalf("found %d reference responses, want the whole set (89)", len(files))
	}
	return files
}

// TestDecodeReferenceResponses decodes every reference response into its
// typed struct and checks its key fields; a file without a case fails, so a
// new reference file cannot go untested.
func TestDecodeReferenceResponses(t *testing.T) {
	t.Parallel()
	for _, name := range referenceFiles(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tc, ok := referenceCases[name]
			if !ok {
				t.Fatalf("no decode case for %s: add one to referenceCases", name)
			}
			data, err := os.ReadFile(filepath.Join(responsesDir, name))
			if err != nil {
				t.Fatal(err)
			}
			var target any
			if tc.body != nil {
				target = tc.body()
			}
			h, present, err := decodeEnvelope(bytes.NewReader(data), Limits{}, target)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if h.Action == "" || h.ResourceURI == "" || h.MessageID == "" {
				t.Errorf("header %+v: Action, ResourceURI and MessageID must be set", h)
			}
			if strings.ContainsAny(h.Action, " \n\t") {
				t.Errorf("Action %q not trimmed", h.Action)
			}
			if target == nil {
				if present {
					t.Errorf("Body has an element, want empty")
				}
				return
			}
			if !present {
				t.Fatalf("Body is empty")
			}
			if err := tc.check(target); err != nil {
				t.Errorf("check: %v", err)
			}
		})
	}
}

// TestResponseRoundTrip re-encodes every decoded reference response with
// WriteResponse and requires the same element paths, namespaces included, in
// the same order: this is the shape the simulator answers with.
func TestResponseRoundTrip(t *testing.T) {
	t.Parallel()
	for _, name := range referenceFiles(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tc := referenceCases[name]
			data, err := os.ReadFile(filepath.Join(responsesDir, name))
			if err != nil {
				t.Fatal(err)
			}
			var target any
			if tc.body != nil {
				target = tc.body()
			}
			h, err := DecodeEnvelope(bytes.NewReader(data), Limits{}, target)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := WriteResponse(&out, ResponseHeader{Action: h.Action, RelatesTo: h.RelatesTo, MessageID: h.MessageID, ResourceURI: h.ResourceURI}, target); err != nil {
				t.Fatal(err)
			}
			// The two GetUuid files carry a request's header, and their UUID
			// element is unqualified under a default namespace; compare their
			// Body by local names only.
			localOnly := strings.Contains(name, "getuuid")
			want, err := ElementPaths(bytes.NewReader(data), localOnly)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ElementPaths(bytes.NewReader(out.Bytes()), localOnly)
			if err != nil {
				t.Fatalf("our encoding does not parse: %v\n%s", err, out.Bytes())
			}
			if localOnly {
				want, got = SubPaths(want, "/Envelope/Body"), SubPaths(got, "/Envelope/Body")
			}
			if !slices.Equal(got, want) {
				t.Errorf("element paths differ\n got: %s\nwant: %s\nours: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "), out.Bytes())
			}
		})
	}
}
