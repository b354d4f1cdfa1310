ca {
  amt_tls_validity = "365d"
  agent_validity   = "0"
}

dns {
  timeout = "two seconds"
}

maintenance {
  clock_sync             = "-1h"
  tls_renew_before       = "0"
  provisioning_cert_warn = ["1440h", "60 days"]
}
