package wsman

// XML namespaces of the envelope and the WS-* specifications AMT implements.
const (
	NSSOAP        = "http://www.w3.org/2003/05/soap-envelope"
	NSAddressing  = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	NSWSMan       = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
	NSEnumeration = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
	NSTransfer    = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
	NSTrust       = "http://schemas.xmlsoap.org/ws/2005/02/trust"
	NSSecurity    = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	NSCIMBinding  = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd"
	NSXSI         = "http://www.w3.org/2001/XMLSchema-instance"

	// AnonymousAddress is the WS-Addressing "reply to the sender" address.
	AnonymousAddress = NSAddressing + "/role/anonymous"
)

// Resource URI prefixes of the three schemas.
const (
	AMTSchema = "http://intel.com/wbem/wscim/1/amt-schema/1/"
	IPSSchema = "http://intel.com/wbem/wscim/1/ips-schema/1/"
	CIMSchema = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
)

// Resource URIs of the classes amtrcs uses. Each is also the XML namespace
// of the class's instance and method elements.
const (
	ResourceGeneralSettings               = AMTSchema + "AMT_GeneralSettings"
	ResourceSetupAndConfigurationService  = AMTSchema + "AMT_SetupAndConfigurationService"
	ResourceAuthorizationService          = AMTSchema + "AMT_AuthorizationService"
	ResourceTimeSynchronizationService    = AMTSchema + "AMT_TimeSynchronizationService"
	ResourcePublicKeyManagementService    = AMTSchema + "AMT_PublicKeyManagementService"
	ResourcePublicKeyCertificate          = AMTSchema + "AMT_PublicKeyCertificate"
	ResourcePublicPrivateKeyPair          = AMTSchema + "AMT_PublicPrivateKeyPair"
	ResourceTLSCredentialContext          = AMTSchema + "AMT_TLSCredentialContext"
	ResourceTLSSettingData                = AMTSchema + "AMT_TLSSettingData"
	ResourceTLSProtocolEndpointCollection = AMTSchema + "AMT_TLSProtocolEndpointCollection"
	ResourceEthernetPortSettings          = AMTSchema + "AMT_EthernetPortSettings"
	ResourceRedirectionService            = AMTSchema + "AMT_RedirectionService"
	ResourceHostBasedSetupService         = IPSSchema + "IPS_HostBasedSetupService"
	ResourceOptInService                  = IPSSchema + "IPS_OptInService"
	ResourceKVMRedirectionSAP             = CIMSchema + "CIM_KVMRedirectionSAP"
	ResourceSoftwareIdentity              = CIMSchema + "CIM_SoftwareIdentity"
)

// Actions of WS-Transfer and WS-Enumeration. A method of a class is invoked
// with the action ResourceURI + "/" + method name (see MethodAction).
const (
	ActionGet       = NSTransfer + "/Get"
	ActionPut       = NSTransfer + "/Put"
	ActionCreate    = NSTransfer + "/Create"
	ActionDelete    = NSTransfer + "/Delete"
	ActionEnumerate = NSEnumeration + "/Enumerate"
	ActionPull      = NSEnumeration + "/Pull"
	ActionRelease   = NSEnumeration + "/Release"

	// ActionFault is the action of WS-Management faults; ActionAddressingFault
	// that of WS-Addressing faults (unknown destination or action).
	ActionFault           = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
	ActionAddressingFault = NSAddressing + "/fault"
)

// MethodAction is the action that invokes method on the class at resourceURI,
// for example MethodAction(ResourceHostBasedSetupService, "AdminSetup").
func MethodAction(resourceURI, method string) string { return resourceURI + "/" + method }

// ResponseAction is the action a response to action carries.
func ResponseAction(action string) string { return action + "Response" }
