kek {
  kms = "pkcs11:module-path=/usr/lib/softhsm/libsofthsm2.so;token=amtrcs?pin-source=/etc/amtrcs/pin"
}

server {
  api                 = "[::1]:9443"
  tls_cert            = "/etc/amtrcs/server.crt"
  tls_key             = "/etc/amtrcs/server.key"
  agent_gateway       = ":8444"
  hello               = ":9971"
  advertise_addresses = ["RCS.corp.example.com.", "10.0.0.5", "fd00::5"]

  audit_max_age            = "0"
  audit_max_records        = 5000
  hello_pending_expiry     = "2h"
  hello_pending_per_source = 2
}

ca {
  mode             = "external"
  url              = "https://ca.corp.example.com:9000"
  provisioner      = "amt"
  jwk_password_env = "CA_PASSWORD"
  root_fingerprint = "2C:F2:4D:BA:5F:B0:A3:0E:26:E8:3B:2A:C5:B9:E2:9E:1B:16:1E:5C:1F:A7:42:5E:73:04:33:62:93:8B:98:24"
  amt_tls_validity = "4380h"
}

dns {
  resolvers = ["10.0.0.53", "[fd00::53]:5353"]
  timeout   = "500ms"
}

domain "lab" {
  suffixes = ["lab.example.net"]
  profile  = "kiosk"
}

profile "kiosk" {
  mode                = "ccm"
  admin_password      = "static"
  admin_password_file = "/etc/amtrcs/kiosk-admin"
  redirection {
    kvm  = false
    ider = true
  }
  network {
    dhcp = false
  }
  sync_hostname = false
  tls {
    enabled = false
  }
}

# Redefining the built-in profile replaces it.
profile "default" {
  admin_password_length = 32
  user_consent          = "none"
}

maintenance {
  clock_sync             = "0"
  network_sync           = "12h"
  tls_renew_before       = "1080h"
  password_rotation      = "0s"
  provisioning_cert_warn = ["168h", "2160h", "720h", "168h"]
}
