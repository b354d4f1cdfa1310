server {
  tls_cert = "/etc/amtrcs/server.crt"
}
