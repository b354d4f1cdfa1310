ca {
  mode = "internal"
}

profile "office" {
  mode           = "acmx"
  admin_password = "generated"
  mebx_password  = "none"
  user_consent   = "kvm-only"
  tls {
    mode = "client"
  }
}
