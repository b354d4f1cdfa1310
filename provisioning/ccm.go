package provisioning

import (
	"context"

	"github.com/amtrcs/amtrcs/amt"
)

// ccmSteps activates client control mode with IPS_HostBasedSetupService
// .Setup: no certificate, the admin password as its digest A1.
func ccmSteps() []step {
	s := []step{
		sealPasswords(true, false),
		{name: "get-realm", do: stepLocalRealm},
		{name: "setup", do: func(ctx context.Context, r *run) error {
			c, err := r.localConn(ctx)
			if err != nil {
				return err
			}
			return c.Setup(ctx, amt.NetworkAdminPassword(r.realm, r.adminPW))
		}},
	}
	return append(s, configureSteps(amt.ControlCCM)...)
}
