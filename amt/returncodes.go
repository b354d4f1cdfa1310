package amt

import "fmt"

// ReturnCode is the ReturnValue of an AMT, IPS or CIM method. The same number
// means different things in different classes (1 is "invalid parameter" for
// AddNextCertInChain and "internal error" for AdminSetup), so a code is named
// in the context of its method.
type ReturnCode uint32

// Return codes of IPS_HostBasedSetupService.AddNextCertInChain (reference §5).
const (
	CertChainSuccess       ReturnCode = 0
	CertChainInvalidParam  ReturnCode = 1
	CertChainInternalError ReturnCode = 2
	CertChainInvalidState  ReturnCode = 3
	CertChainVerifyFailed  ReturnCode = 4
	CertChainTooLong       ReturnCode = 5
)

// Return codes of IPS_HostBasedSetupService.AdminSetup, Setup and
// UpgradeClientToAdmin (reference §5).
const (
	SetupSuccess            ReturnCode = 0
	SetupInternalError      ReturnCode = 1
	SetupInvalidState       ReturnCode = 2
	SetupInvalidParam       ReturnCode = 3
	SetupAuthFailed         ReturnCode = 5
	SetupFlashWriteExceeded ReturnCode = 6
)

// Return codes of AMT_SetupAndConfigurationService and the other AMT_ classes
// (reference §8).
const (
	PTSuccess               ReturnCode = 0
	PTInternalError         ReturnCode = 1
	PTNotPermitted          ReturnCode = 16
	PTInvalidParameter      ReturnCode = 36
	PTFlashWriteLimitExceed ReturnCode = 38
	PTInvalidPassword       ReturnCode = 2054
	PTDataMissing           ReturnCode = 2057
	PTBlockingComponent     ReturnCode = 2076
)

var addNextCertNames = map[ReturnCode]string{
	CertChainSuccess:       "success",
	CertChainInvalidParam:  "invalid parameter",
	CertChainInternalError: "internal error",
	CertChainInvalidState:  "invalid state",
	CertChainVerifyFailed:  "certificate verify failed",
	CertChainTooLong:       "certificate chain too long",
}

var hostBasedSetupNames = map[ReturnCode]string{
	SetupSuccess:            "success",
	SetupInternalError:      "internal error",
	SetupInvalidState:       "invalid state",
	SetupInvalidParam:       "invalid parameter",
	SetupAuthFailed:         "authentication failed",
	SetupFlashWriteExceeded: "flash write limit exceeded",
}

var ptStatusNames = map[ReturnCode]string{
	PTSuccess:               "success",
	PTInternalError:         "internal error",
	PTNotPermitted:          "not permitted",
	PTInvalidParameter:      "invalid parameter",
	PTFlashWriteLimitExceed: "flash write limit exceeded",
	PTInvalidPassword:       "invalid password",
	PTDataMissing:           "data missing",
	PTBlockingComponent:     "blocking component",
}

// ReturnCodeName names code as the method of class defines it, for example
// ReturnCodeName("IPS_HostBasedSetupService", "AddNextCertInChain", 5) is
// "certificate chain too long". Unknown codes are named by number.
func ReturnCodeName(class, method string, code ReturnCode) string {
	table := ptStatusNames
	if class == "IPS_HostBasedSetupService" {
		table = hostBasedSetupNames
		if method == "AddNextCertInChain" {
			table = addNextCertNames
		}
	}
	if n, ok := table[code]; ok {
		return n
	}
	return fmt.Sprintf("unknown return code %d", uint32(code))
}

// HostStatus is the status word that starts every host-interface (PTHI)
// response (reference §8).
type HostStatus uint32

const (
	HostSuccess          HostStatus = 0
	HostInternalError    HostStatus = 1
	HostNotReady         HostStatus = 2
	HostInvalidAMTMode   HostStatus = 3
	HostInvalidMsgLength HostStatus = 4
)

func (s HostStatus) String() string {
	switch s {
	case HostSuccess:
		return "success"
	case HostInternalError:
		return "internal error"
	case HostNotReady:
		return "not ready"
	case HostInvalidAMTMode:
		return "invalid AMT mode"
	case HostInvalidMsgLength:
		return "invalid message length"
	}
	return fmt.Sprintf("unknown host status %d", uint32(s))
}
