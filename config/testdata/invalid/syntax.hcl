server {
  api = "127.0.0.1:8443"
