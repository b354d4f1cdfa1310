ca {
  mode             = "external"
  url              = "http://ca.example.com:9000"
  root_fingerprint = "abcd"
  provisioner      = ""
  jwk_password_env = "CA_PASSWORD"
}
