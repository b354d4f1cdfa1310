package provisioning

import (
	"context"

	"github.com/amtrcs/amtrcs/amt"
)

// ccmSteps activates client control mode with IPS_HostBasedSetupService
// .Setup: no certificate, the admin password as its digest A1; then
// CommitChanges where firmware needs it (stepCommitCCM).
func ccmSteps() []step {
	s := []step{
		sealPasswords(true, false),
		{name: "enable-amt", do: stepEnableAMT},
		{name: "get-realm", do: stepLocalRealm},
		{name: "setup", do: func(ctx context.Context, r *run) error {
			c, err := r.localConn(ctx)
			if err != nil {
				return err
			}
			return c.Setup(ctx, amt.NetworkAdminPassword(r.realm, r.adminPW))
		}},
		{name: "commit", post: true, do: stepCommitCCM},
	}
	return append(s, configureSteps(amt.ControlCCM)...)
}
