server {
  api = "0.0.0.0:8443"
}
