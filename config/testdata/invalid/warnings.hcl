# Only warnings: the file loads, and the checks still speak.
server {
  hello = "0.0.0.0:9972"
}

ca {
  url = "https://ca.example.com"
}

profile "lab" {
  mode          = "ccm"
  mebx_password = "random"
}

maintenance {
  tls_renew_before = "168h"
}
