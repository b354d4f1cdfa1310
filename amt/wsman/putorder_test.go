package wsman

import (
	"bytes"
	"encoding/xml"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// credentialContextBody is the element tree of an AMT_TLSCredentialContext
// Create or Put body: two endpoint references, certificate then endpoints.
var credentialContextBody = []string{
	"ElementInContext", "ElementInContext/a:Address", "ElementInContext/a:ReferenceParameters",
	"ElementInContext/a:ReferenceParameters/w:ResourceURI", "ElementInContext/a:ReferenceParameters/w:SelectorSet",
	"ElementInContext/a:ReferenceParameters/w:SelectorSet/w:Selector",
	"ElementProvidingContext", "ElementProvidingContext/a:Address", "ElementProvidingContext/a:ReferenceParameters",
	"ElementProvidingContext/a:ReferenceParameters/w:ResourceURI", "ElementProvidingContext/a:ReferenceParameters/w:SelectorSet",
	"ElementProvidingContext/a:ReferenceParameters/w:SelectorSet/w:Selector",
}

// putBodies are the element trees of the Put and Create bodies amtrcs
// sends, in the order the Device Management Toolkit sends them to hardware
// (the class's schema order; the firmware answers alphabetically). Paths
// are below the class element; unprefixed names are in the class's
// namespace, a: is WS-Addressing, w: WS-Management. Elements the toolkit
// leaves out but amtrcs sends back as read (read-only ones) stand where the
// toolkit's response type has them.
var putBodies = map[string]struct {
	class    string // resource URI, the namespace of the class element
	elements []string
}{
	"tlssettingdata_put": {ResourceTLSSettingData, []string{
		"ElementName", "InstanceID", "MutualAuthentication", "Enabled", "AcceptNonSecureConnections",
	}},
	"general_put": {ResourceGeneralSettings, []string{
		"ElementName", "InstanceID", "NetworkInterfaceEnabled", "DigestRealm", "IdleWakeTimeout", "HostName", "DomainName",
		"PingResponseEnabled", "WsmanOnlyMode", "PreferredAddressFamily", "DHCPv6ConfigurationTimeout", "DDNSUpdateEnabled",
		"DDNSUpdateByDHCPServerEnabled", "SharedFQDN", "HostOSFQDN", "DDNSTTL", "AMTNetworkEnabled", "RmcpPingResponseEnabled",
		"DDNSPeriodicUpdateInterval", "PresenceNotificationInterval", "PrivacyLevel", "PowerSource", "ThunderboltDockEnabled",
		"DHCPSyncRequiresHostname",
	}},
	"ethernetport_put": {ResourceEthernetPortSettings, []string{
		"ElementName", "InstanceID", "SharedMAC", "MACAddress", "LinkIsUp", "LinkPolicy", "LinkPolicy", "SharedStaticIp",
		"SharedDynamicIP", "IpSyncEnabled", "DHCPEnabled", "SubnetMask", "DefaultGateway", "PrimaryDNS", "SecondaryDNS",
		"PhysicalConnectionType",
	}},
	"redirection_put": {ResourceRedirectionService, []string{
		"CreationClassName", "ElementName", "EnabledState", "ListenerEnabled", "Name", "SystemCreationClassName", "SystemName",
	}},
	"optin_put": {ResourceOptInService, []string{
		"CanModifyOptInPolicy", "CreationClassName", "ElementName", "Name", "OptInCodeTimeout", "OptInDisplayTimeout",
		"OptInRequired", "OptInState", "SystemName", "SystemCreationClassName",
	}},
	"tlscredentialcontext_create": {ResourceTLSCredentialContext, credentialContextBody},
	"tlscredentialcontext_put":    {ResourceTLSCredentialContext, credentialContextBody},
}

// TestPutBodyOrder pins the names, namespaces and order of the elements of
// every Put and Create body as it goes on the wire, independently of the
// golden files (which -update rewrites).
func TestPutBodyOrder(t *testing.T) {
	t.Parallel()
	cases := requestCases(t)
	for name, want := range putBodies {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tc, ok := cases[name]
			if !ok {
				t.Fatalf("no request case %s", name)
			}
			requests := record(t, tc)
			paths, err := ElementPaths(bytes.NewReader(requests[len(requests)-1]), false)
			if err != nil {
				t.Fatal(err)
			}
			local := want.class[strings.LastIndex(want.class, "/")+1:]
			classPath := "/{" + NSSOAP + "}Envelope/{" + NSSOAP + "}Body/{" + want.class + "}" + local
			got := SubPaths(paths, classPath)
			var wantPaths []string
			for _, e := range want.elements {
				var p string
				for seg := range strings.SplitSeq(e, "/") {
					ns := want.class
					if prefix, name, ok := strings.Cut(seg, ":"); ok {
						ns, seg = map[string]string{"a": NSAddressing, "w": NSWSMan}[prefix], name
					}
					p += "/{" + ns + "}" + seg
				}
				wantPaths = append(wantPaths, p)
			}
			if !slices.Equal(got, wantPaths) {
				t.Errorf("body of %s\n got: %s\nwant: %s", local, strings.Join(got, "\n      "), strings.Join(wantPaths, "\n      "))
			}
		})
	}
}

// TestPutBodyFields checks each Put order against the type the firmware
// answers with: every element listed once (an element left out would be
// dropped from every Put without a word), and the ordered body carries
// every value: decoded back, it equals the instance it was made from.
func TestPutBodyFields(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		answer any
		order  []string
	}{
		"TLSSettingData":       {&TLSSettingData{}, tlsSettingDataPutOrder},
		"GeneralSettings":      {&GeneralSettings{}, generalSettingsPutOrder},
		"EthernetPortSettings": {&EthernetPortSettings{}, ethernetPortSettingsPutOrder},
		"OptInService":         {&OptInService{}, optInServicePutOrder},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			answer := reflect.ValueOf(tc.answer).Elem()
			for i := range answer.NumField() {
				fill(answer.Field(i))
			}
			want := map[string]bool{}
			for i := range answer.NumField() {
				if f := answer.Type().Field(i); f.Name != "XMLName" {
					tag, _, _ := strings.Cut(f.Tag.Get("xml"), ",")
					want[tag] = true
				}
			}
			seen := map[string]bool{}
			for _, n := range tc.order {
				if !want[n] || seen[n] {
					t.Errorf("order lists %q, which %s has not or lists twice", n, answer.Type())
				}
				seen[n] = true
			}
			if len(seen) != len(want) {
				t.Errorf("order lists %d of the %d elements of %s", len(seen), len(want), answer.Type())
			}
			b, err := xml.Marshal(inOrder(tc.answer, tc.order))
			if err != nil {
				t.Fatal(err)
			}
			back := reflect.New(answer.Type())
			if err := xml.Unmarshal(b, back.Interface()); err != nil {
				t.Fatal(err)
			}
			back.Elem().FieldByName("XMLName").Set(answer.FieldByName("XMLName"))
			if !reflect.DeepEqual(back.Elem().Interface(), answer.Interface()) {
				t.Errorf("ordered body decodes to\n%+v\nwant\n%+v", back.Elem().Interface(), answer.Interface())
			}
		})
	}
}

// fill gives v a value other than its zero value.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int:
		v.SetInt(7)
	case reflect.String:
		v.SetString("x")
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0))
	}
}
