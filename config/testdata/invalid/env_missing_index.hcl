server {
  api = "${env["NO_SUCH_HOST"]}:8443"
}
